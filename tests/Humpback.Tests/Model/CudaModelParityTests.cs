using Humpback.Engine;
using Humpback.Model;
using Humpback.Native;
using Xunit;
using Xunit.Abstractions;

namespace Humpback.Tests.Model;

/// <summary>The whole model on the CUDA backend against the CPU backend (the specification): the same C# graph, one
/// device switch. Losses and the gradient of every trainable tensor of a tiny Llama, in fp32 and in bf16 mixed
/// precision, then the same after an optimizer step. Skips without a CUDA device; scripts/gpu-check.sh runs it.</summary>
public class CudaModelParityTests(ITestOutputHelper output)
{
    private static readonly string[] AllTargets = ["q", "k", "v", "o", "gate", "up", "down"];

    [SkippableTheory]
    [InlineData(TrainMode.Full, DType.F32)]
    [InlineData(TrainMode.Lora, DType.F32)]
    [InlineData(TrainMode.Full, DType.Bf16)]
    [InlineData(TrainMode.Lora, DType.Bf16)]
    public void TinyLlamaOnCudaMatchesTheCpu(TrainMode mode, DType precision)
    {
        Skip.If(HumpbackLibrary.GetCudaDevices().Count == 0, "no CUDA device (a CUDA build of libhumpback and a GPU are needed)");
        // Head dim 64 (a compiled attention specialisation), GQA 2, tied embeddings, packed rows.
        LlamaConfig cfg = LlamaModelTests.Tiny with { HiddenSize = 128, NumHeads = 2, NumKvHeads = 1, IntermediateSize = 192, VocabSize = 301 };
        var weights = LlamaInit.Random(cfg, 3, 0.3f);
        LoraSettings? lora = mode == TrainMode.Lora ? new LoraSettings(4, 8f, AllTargets) : null;
        using Device cpu = Device.Create(), gpu = Device.Create(HbBackendKind.Cuda);
        using var a = new LlamaModel(cpu, cfg, mode, 2, 7, lora, precision: precision);
        using var b = new LlamaModel(gpu, cfg, mode, 2, 7, lora, precision: precision);
        foreach (LlamaModel m in new[] { a, b })
        {
            m.LoadWeights(weights);
            if (mode != TrainMode.Lora) continue;
            m.InitLora(5);
            foreach (string name in m.TrainableNames.Where(n => n.Contains("lora_B", StringComparison.Ordinal)))
            {
                var rng = new Random(name.Length);
                for (int i = 0; i < 6; i++) m.SetParameter(name, rng.Next(4), (float)(rng.NextDouble() - 0.5));
            }
        }
        TrainingBatch batch = LlamaModelTests.PackedBatch(cfg.VocabSize, 11);
        float scale = 1f / batch.CountTargets();
        // bf16: fp32 sums in another order can move a rounding by one bf16 ulp, and at head dim 64 the GPU runs the
        // tensor-core attention, whose products take bf16 P and dS (the CPU specification keeps them fp32).
        double lossTol = precision == DType.Bf16 ? 1e-2 : 1e-4, cosTol = precision == DType.Bf16 ? 0.995 : 0.99999;

        for (int step = 0; step < 2; step++)
        {
            a.ZeroGradients();
            b.ZeroGradients();
            var (la, na) = a.ForwardBackward(batch, scale);
            var (lb, nb) = b.ForwardBackward(batch, scale);
            Assert.Equal(na, nb);
            output.WriteLine($"{mode} {precision.Name()} step {step}: loss cpu {la / na:F6}, cuda {lb / nb:F6}");
            Assert.True(Math.Abs(la - lb) <= lossTol * Math.Abs(la), $"step {step}: loss sum cpu {la} vs cuda {lb}");
            foreach (string name in a.TrainableNames)
            {
                float[] ga = a.GetGradient(name), gb = b.GetGradient(name);
                double dot = 0, n1 = 0, n2 = 0;
                for (int i = 0; i < ga.Length; i++)
                {
                    dot += (double)ga[i] * gb[i];
                    n1 += (double)ga[i] * ga[i];
                    n2 += (double)gb[i] * gb[i];
                }
                if (n1 < 1e-20 && n2 < 1e-20) continue;
                double cos = dot / Math.Sqrt(n1 * n2), ratio = Math.Sqrt(n2 / n1);
                Assert.True(cos >= cosTol && Math.Abs(ratio - 1) <= 10 * lossTol, $"step {step} {name}: cosine {cos:F6}, norm ratio cuda/cpu {ratio:F6}");
            }
            float na2 = a.OptimizerStep(1e-3f, 0.1f), nb2 = b.OptimizerStep(1e-3f, 0.1f);
            Assert.True(Math.Abs(na2 - nb2) <= 10 * lossTol * na2, $"step {step}: gradient norm cpu {na2} vs cuda {nb2}");
        }
    }
}
