using Humpback.Engine;
using Humpback.Engine.Profiling;
using Xunit;

namespace Humpback.Tests.Engine;

public class KernelProfilerTests
{
    [Fact]
    public void EveryKernelAndItsBf16VariantIsTimedAgainstItsOwnCeiling()
    {
        using var dev = Device.Create(threads: 1);
        var f32 = new MachineCeilings(100, 10, 64, "cpu");
        var bf16 = new MachineCeilings(50, 10, 64, "cpu") { GemmType = "bf16" };
        IReadOnlyList<KernelTiming> rows = KernelProfiler.Run(dev, f32, n: 64, c: 32, h: 4, kvh: 2, d: 8, f: 48, v: 97, b: 4, rank: 4,
            secondsPerKernel: 0.001, bf16Ceilings: bf16);
        Assert.Equal(19, rows.Count(r => !r.Op.EndsWith("[bf16]", StringComparison.Ordinal)));
        var half = rows.Where(r => r.Op.EndsWith("[bf16]", StringComparison.Ordinal)).ToList();
        Assert.Equal(7, half.Count);
        Assert.All(half, r => Assert.Same(bf16, r.Ceilings));
        Assert.Contains(half, r => r.Op == "attention bwd [bf16]");
        Assert.All(rows, r => Assert.True(r.Seconds > 0 && double.IsFinite(r.ShareOfRoofline), $"{r.Op}: {r.Seconds} s"));
        // Without bf16 ceilings only the fp32 kernels run.
        Assert.DoesNotContain(KernelProfiler.Run(dev, f32, n: 64, c: 32, h: 4, kvh: 2, d: 8, f: 48, v: 97, b: 4, rank: 4, secondsPerKernel: 0.001),
            r => r.Op.EndsWith("[bf16]", StringComparison.Ordinal));
    }
}
