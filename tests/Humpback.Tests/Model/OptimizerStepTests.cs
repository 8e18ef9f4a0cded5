using System.Runtime.InteropServices;
using Humpback.Engine;
using Humpback.Model;
using Humpback.Native;
using Xunit;

namespace Humpback.Tests.Model;

/// <summary><see cref="LlamaModel.OptimizerStep"/> runs the multi-tensor ops (hb_sum_squares_multi,
/// hb_adamw_update_multi); its result must be the per-tensor path's (hb_sum_squares and hb_adamw_update on every
/// trainable tensor) bit for bit: same norm, parameters and moments.</summary>
public class OptimizerStepTests
{
    private static void AssertBitEqual(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        int[] e = MemoryMarshal.Cast<float, int>(expected).ToArray(), a = MemoryMarshal.Cast<float, int>(actual).ToArray();
        int first = Enumerable.Range(0, e.Length).FirstOrDefault(i => e[i] != a[i], -1);
        Assert.True(first < 0, first < 0 ? "" : $"{what}[{first}]: per-tensor {expected[first]:R}, fused {actual[first]:R}");
    }

    [Theory]
    [InlineData(TrainMode.Full, 0.5f, 0.1f)] // the norm is clipped, matrices decay
    [InlineData(TrainMode.Full, 0f, 0f)]     // no clipping, no decay
    [InlineData(TrainMode.Lora, 1f, 0.05f)]
    public void FusedStepEqualsPerTensorKernelCalls(TrainMode mode, float maxNorm, float weightDecay)
    {
        using var dev = Device.Create();
        var cfg = LlamaModelTests.Tiny;
        using var m = new LlamaModel(dev, cfg, mode, 2, 7, mode == TrainMode.Lora ? new LoraSettings(4, 8f, ["q", "v", "down"]) : null);
        m.LoadWeights(LlamaInit.Random(cfg, 3, 0.3f));
        if (mode == TrainMode.Lora) m.InitLora(5);
        var state = m.TrainableState().ToList();
        Assert.NotEmpty(state);

        // Per trainable: copies of param, grad, m, v that the per-tensor kernels update; plus sumsq and clip.
        using var copies = new DeviceArena(dev, "per-tensor reference");
        var idx = state.Select(t => (P: copies.Reserve(t.Name + ".p", t.Param.Count), G: copies.Reserve(t.Name + ".g", t.Grad.Count),
            M: copies.Reserve(t.Name + ".m", t.M.Count), V: copies.Reserve(t.Name + ".v", t.V.Count))).ToList();
        int sumsq = copies.Reserve("sumsq", 1), clip = copies.Reserve("clip", 1);
        copies.Allocate();
        var k = new Kernels(dev);
        const float lr = 1e-2f;

        for (int step = 1; step <= 3; step++)
        {
            TrainingBatch batch = LlamaModelTests.PackedBatch(cfg.VocabSize, 20 + step);
            m.ZeroGradients();
            m.ForwardBackward(batch, 1f / batch.CountTargets());
            for (int i = 0; i < state.Count; i++)
            {
                dev.Copy(copies[idx[i].P], state[i].Param);
                dev.Copy(copies[idx[i].G], state[i].Grad);
                dev.Copy(copies[idx[i].M], state[i].M);
                dev.Copy(copies[idx[i].V], state[i].V);
            }

            float norm = m.OptimizerStep(lr, weightDecay, maxNorm);

            dev.Zero(copies[sumsq]);
            for (int i = 0; i < state.Count; i++) k.SumSquares(copies[sumsq], copies[idx[i].G], state[i].Grad.Count);
            k.ClipScale(copies[clip], copies[sumsq], maxNorm);
            for (int i = 0; i < state.Count; i++)
            {
                var c = new HbAdamWConfig { Lr = lr, Beta1 = 0.9f, Beta2 = 0.999f, Eps = 1e-8f, WeightDecay = state[i].Decay ? weightDecay : 0f, Step = step };
                k.AdamW(copies[idx[i].P], copies[idx[i].G], copies[idx[i].M], copies[idx[i].V], copies[clip], state[i].Param.Count, c);
            }

            float refNorm = MathF.Sqrt(dev.Download(copies[sumsq])[0]);
            Assert.Equal(BitConverter.SingleToInt32Bits(refNorm), BitConverter.SingleToInt32Bits(norm));
            for (int i = 0; i < state.Count; i++)
            {
                string at = $"step {step} {state[i].Name}";
                AssertBitEqual(dev.Download(copies[idx[i].P]), dev.Download(state[i].Param), at + " param");
                AssertBitEqual(dev.Download(copies[idx[i].M]), dev.Download(state[i].M), at + " m");
                AssertBitEqual(dev.Download(copies[idx[i].V]), dev.Download(state[i].V), at + " v");
            }
            if (maxNorm > 0f) Assert.True(norm > maxNorm, $"step {step}: norm {norm} should be clipped at {maxNorm}");
        }
        Assert.Equal(3, m.Step);
    }
}
