using Humpback.Engine;
using Humpback.Formats;
using Humpback.Model;
using Xunit;
using Xunit.Abstractions;

namespace Humpback.Tests.Formats;

/// <summary>Our training engine's forward (libhumpback kernels driven by <see cref="LlamaModel"/>) against llama.cpp
/// (LLamaSharp) on the same exported f32 GGUF, and against the plain-C# reference.</summary>
[Collection("llama.cpp")]
public class EngineParityTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EngineLogitsMatchLlamaCppOnTheExportedGguf(bool tied)
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        LlamaConfig c = TestData.TinyConfig(tok, tied);
        var w = TestData.RandomWeights(c, 21);
        int[] prompt = TestData.Prompt(tok);
        using var dir = new TempDir();
        GgufExport.WriteModel(dir["m.gguf"], c, w, tok, GgufExportType.F32);
        float[][] llama = LlamaSharpRunner.Logits(dir["m.gguf"], prompt);

        using var dev = Device.Create();
        using var model = new LlamaModel(dev, c, TrainMode.Full, 1, prompt.Length);
        model.LoadWeights(w);
        var batch = TrainingBatch.FromSequences([prompt], prompt.Length);
        float[] flat = model.ForwardLogits(batch);
        float[][] ours = Enumerable.Range(0, prompt.Length).Select(t => flat.AsSpan(t * c.VocabSize, c.VocabSize).ToArray()).ToArray();

        double[][] llamaD = llama.Select(r => r.Select(x => (double)x).ToArray()).ToArray();
        double err = LlamaCppParityTests.RelError(ours, llamaD);
        double errRef = LlamaCppParityTests.RelError(ours, ReferenceLlama.Forward(c, w, prompt));
        output.WriteLine($"tied={tied}: engine vs llama.cpp {err:E2}, engine vs reference {errRef:E2}");
        Assert.True(err <= 1e-4, $"engine vs llama.cpp relative logit error {err:E2} > 1e-4");
        Assert.True(errRef <= 1e-4, $"engine vs reference relative logit error {errRef:E2} > 1e-4");
    }
}
