using Humpback.Engine;
using Humpback.Formats;
using Humpback.Native;
using Humpback.Model;
using Xunit;
using Xunit.Abstractions;

namespace Humpback.Tests.Model;

/// <summary>bf16 mixed precision: the same graph as fp32 with bf16 frozen weights and saved activations. bf16 keeps
/// 8 bits of mantissa, so it is checked against the fp32 model (the specification) with bf16-sized tolerances,
/// and for what it exists for: less memory, and training that still learns.</summary>
public class LlamaModelBf16Tests(ITestOutputHelper output)
{
    private static readonly string[] AllTargets = ["q", "k", "v", "o", "gate", "up", "down"];

    private static LlamaModel Create(Device dev, TrainMode mode, DType precision, int batch = 2, int seq = 7) =>
        new(dev, LlamaModelTests.Tiny, mode, batch, seq, mode == TrainMode.Lora ? new LoraSettings(4, 8f, AllTargets) : null, precision: precision);

    private static void Prepare(LlamaModel m)
    {
        m.LoadWeights(LlamaInit.Random(m.Config, 3, 0.3f));
        if (m.Mode != TrainMode.Lora) return;
        m.InitLora(5);
        foreach (string name in m.TrainableNames.Where(n => n.Contains("lora_B", StringComparison.Ordinal)))
        {
            var rng = new Random(name.Length);
            for (int i = 0; i < 6; i++) m.SetParameter(name, rng.Next(4), (float)(rng.NextDouble() - 0.5));
        }
    }

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return na == 0 && nb == 0 ? 1 : dot / Math.Sqrt(na * nb);
    }

    private static double Norm(float[] a) => Math.Sqrt(a.Sum(x => (double)x * x));

    [Theory]
    [InlineData(TrainMode.Full)]
    [InlineData(TrainMode.Lora)]
    public void LossesAndGradientsTrackTheFp32Model(TrainMode mode)
    {
        using var dev = Device.Create();
        using var f32 = Create(dev, mode, DType.F32);
        using var b16 = Create(dev, mode, DType.Bf16);
        Prepare(f32);
        Prepare(b16);
        TrainingBatch batch = LlamaModelTests.PackedBatch(f32.Config.VocabSize, 11);
        float scale = 1f / batch.CountTargets();
        f32.ZeroGradients();
        b16.ZeroGradients();
        var (l32, n32) = f32.ForwardBackward(batch, scale);
        var (l16, n16) = b16.ForwardBackward(batch, scale);
        Assert.Equal(n32, n16);
        output.WriteLine($"{mode}: loss fp32 {l32 / n32:F6}, bf16 {l16 / n16:F6}");
        Assert.True(Math.Abs(l16 - l32) <= 1e-2 * Math.Abs(l32), $"loss sum bf16 {l16} vs fp32 {l32}");
        Assert.NotEqual(l32, l16); // bf16 really ran: rounding moves the loss a little

        float[] rows32 = f32.ForwardLosses(batch), rows16 = b16.ForwardLosses(batch);
        for (int i = 0; i < rows32.Length; i++)
            Assert.True(Math.Abs(rows16[i] - rows32[i]) <= 0.03 + 0.01 * rows32[i], $"row {i}: bf16 loss {rows16[i]} vs fp32 {rows32[i]}");

        double worst = 1;
        foreach (string name in f32.TrainableNames)
        {
            float[] g32 = f32.GetGradient(name), g16 = b16.GetGradient(name);
            if (Norm(g32) < 1e-6) continue;
            double cos = Cosine(g32, g16), ratio = Norm(g16) / Norm(g32);
            worst = Math.Min(worst, cos);
            Assert.True(cos > 0.99 && Math.Abs(ratio - 1) < 0.05, $"{mode} {name}: cosine {cos:F5}, norm ratio {ratio:F4}");
        }
        output.WriteLine($"{mode}: worst gradient cosine {worst:F5}");
    }

    [Fact]
    public void LoraStoresTheFrozenBaseInBf16()
    {
        using var dev = Device.Create();
        using var f32 = Create(dev, TrainMode.Lora, DType.F32);
        using var b16 = Create(dev, TrainMode.Lora, DType.Bf16);
        long matrixElements = LlamaTensorNames.Expected(f32.Config).Where(t => t.Shape.Length == 2).Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));
        // Half of every matrix (2 of its 4 bytes per element) plus bf16 saved activations, minus the fp32 q/k/v scratch.
        long saved = f32.DeviceBytes - b16.DeviceBytes;
        output.WriteLine($"fp32 {f32.DeviceBytes} B, bf16 {b16.DeviceBytes} B, matrices {matrixElements} elements");
        Assert.True(saved >= 2 * matrixElements, $"bf16 saves {saved} bytes, expected at least {2 * matrixElements}");
        // The frozen base comes back as the bf16 rounding of what was loaded.
        var w = LlamaInit.Random(f32.Config, 3, 0.3f);
        b16.LoadWeights(w);
        string q = LlamaTensorNames.Layer(0, "self_attn.q_proj.weight");
        float[] back = b16.ExportWeights()[q].Data;
        for (int i = 0; i < back.Length; i++)
            Assert.Equal(FloatCodec.FromBFloat16(FloatCodec.ToBFloat16(w[q].Data[i])), back[i]);
    }

    [Fact]
    public void FullFineTuningKeepsFp32MastersAndRefreshesTheBf16Copies()
    {
        using var dev = Device.Create();
        using var m = Create(dev, TrainMode.Full, DType.Bf16, 4, 24);
        m.LoadWeights(LlamaInit.Random(m.Config, 1));
        int[] pattern = [3, 7, 1, 9, 4, 4, 12, 5];
        var seqs = Enumerable.Range(0, 4).Select(r => Enumerable.Range(r, 25).Select(i => pattern[i % pattern.Length]).ToArray()).ToList();
        TrainingBatch batch = TrainingBatch.FromSequences(seqs, 24);
        float scale = 1f / batch.CountTargets();
        double first = 0, last = 0;
        for (int step = 0; step < 60; step++)
        {
            m.ZeroGradients();
            var (sum, n) = m.ForwardBackward(batch, scale);
            if (step == 0) first = sum / n;
            last = sum / n;
            m.OptimizerStep(3e-3f, 0f);
        }
        output.WriteLine($"bf16 full: loss {first:F4} -> {last:F4}");
        Assert.True(last < 0.25 * first, $"bf16 training did not learn the repeating text: {first:F4} -> {last:F4}");
        // The losses the step reports are those of the refreshed bf16 copies: the forward agrees with them.
        double forward = m.ForwardLosses(batch).Sum() * scale;
        Assert.True(forward < last, $"forward loss {forward} after the last step is not below the step's loss {last}");
        // Masters are fp32: updates smaller than a bf16 ulp survive, so some weights are not bf16 values.
        float[] q = m.ExportWeights()[LlamaTensorNames.Layer(0, "self_attn.q_proj.weight")].Data;
        Assert.Contains(q, x => FloatCodec.FromBFloat16(FloatCodec.ToBFloat16(x)) != x);
    }

    [Fact]
    public void KernelsRefuseMixedTypesWhereNoVariantExists()
    {
        using var dev = Device.Create();
        var k = new Kernels(dev);
        using var buf = NativeBuffer.Allocate(dev.Context, 4096);
        var f = new DeviceSpan(buf.Pointer, 64);
        var h = new DeviceSpan(buf.Pointer + 2048, 64, DType.Bf16);
        var e = Assert.Throws<ArgumentException>(() => k.AttentionForward(f, f, h, f, h, DeviceSpan.Null, 1, 4, 1, 1, 16, 0.25f));
        Assert.Contains("attention_forward: k is fp32 but q is bf16", e.Message);
        e = Assert.Throws<ArgumentException>(() => k.Matmul(h, f, f, 4, 4, 4, false, false));
        Assert.Contains("matmul: output must be fp32", e.Message);
        e = Assert.Throws<ArgumentException>(() => k.RopeForward(h, f, f, 4, 1, 16));
        Assert.Contains("rope_forward: x must be fp32 (got bf16)", e.Message);
        e = Assert.Throws<ArgumentException>(() => k.SwiGluBackward(f, f, h, f, f, 16));
        Assert.Contains("swi_glu_backward: dout must be fp32", e.Message);
        Assert.Throws<ArgumentException>(() => DTypeExtensions.Parse("fp8", "--precision"));
    }
}
