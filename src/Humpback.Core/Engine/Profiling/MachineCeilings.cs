using System.Diagnostics;
using Humpback.Native;

namespace Humpback.Engine.Profiling;

/// <summary>The machine's own limits, measured through the same kernels the model uses: GEMM FLOP/s (hb_matmul at
/// a large square size, or hb_matmul_bf16 for bf16 mixed precision) and memory bandwidth (hb_axpy over buffers far
/// larger than the caches).</summary>
public sealed record MachineCeilings(double GemmGflops, double BandwidthGBs, int GemmSize, string Device)
{
    /// <summary>Operand type of the measured GEMM: "fp32" (SGEMM) or "bf16".</summary>
    public string GemmType { get; init; } = "fp32";

    public static MachineCeilings Measure(Device device, int gemmSize = 2048, long streamFloats = 32L << 20, double seconds = 1.5,
        DType gemmType = DType.F32)
    {
        var k = new Kernels(device);
        long n = gemmSize;
        using var arena = new DeviceArena(device, "ceilings");
        int a = arena.Reserve("a", n * n, gemmType), b = arena.Reserve("b", n * n, gemmType), c = arena.Reserve("c", n * n);
        int x = arena.Reserve("x", streamFloats), y = arena.Reserve("y", streamFloats);
        arena.Allocate();
        var rng = new Random(1);
        var host = new float[n * n];
        for (int i = 0; i < host.Length; i++) host[i] = (float)rng.NextDouble() - 0.5f;
        device.Upload(arena[a], host);
        device.Upload(arena[b], host);

        double gemm = Best(device, seconds / 2, () => k.Matmul(arena[c], arena[a], arena[b], n, n, n, false, false)) is var t1
            ? 2.0 * n * n * n / t1 / 1e9 : 0;
        // axpy: y += a·x reads x and y and writes y: 12 bytes per element.
        double bw = Best(device, seconds / 2, () => k.Axpy(arena[y], arena[x], 1e-3f, streamFloats)) is var t2
            ? 12.0 * streamFloats / t2 / 1e9 : 0;
        return new MachineCeilings(gemm, bw, gemmSize, device.Kind == HbBackendKind.Cpu ? "cpu" : "cuda") { GemmType = gemmType.Name() };
    }

    /// <summary>Best (shortest) time of repeated runs within a time budget, after one warm-up run.</summary>
    internal static double Best(Device device, double budgetSeconds, Action run)
    {
        run();
        device.Synchronize();
        double best = double.MaxValue;
        var total = Stopwatch.StartNew();
        int reps = 0;
        while (reps < 3 || (total.Elapsed.TotalSeconds < budgetSeconds && reps < 50))
        {
            long t = Stopwatch.GetTimestamp();
            run();
            device.Synchronize();
            best = Math.Min(best, Stopwatch.GetElapsedTime(t).TotalSeconds);
            reps++;
        }
        return best;
    }
}
