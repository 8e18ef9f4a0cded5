using Humpback.Inference;
using Xunit;

namespace Humpback.Tests.Inference;

public sealed class LoraTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("humpback-lora-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static double[][] Scores(LlamaModel m)
    {
        var renderer = new PromptRenderer(m, PromptTemplates.Curation(logits: true), ChatFormat.Llama3);
        var rows = BatchEngineTests.Pairs.Take(4).Select((p, i) => new EngineRequest { Key = i, Tokens = renderer.RowTokens(BatchEngineTests.Values(p)) }).ToArray();
        var results = new double[rows.Length][];
        using var engine = new BatchEngine(m, new EngineOptions { ParallelSequences = 4, BatchSize = 256, SequenceContext = 1024, Threads = 1 });
        engine.Score(renderer.PrefixTokens, rows, BatchEngineTests.Digits(m), r => results[r.Key] = r.Probabilities!);
        return results;
    }

    [Fact]
    public void ALoraAdapterIsAppliedOnTopOfTheModel()
    {
        string zero = Path.Combine(_dir, "zero.gguf"), random = Path.Combine(_dir, "random.gguf");
        Humpback.Inference.Profiling.RandomLlamaGguf.WriteLora(zero, TinyGguf.Spec, bStd: 0f);
        Humpback.Inference.Profiling.RandomLlamaGguf.WriteLora(random, TinyGguf.Spec, bStd: 0.5f);
        double[][] base_ = Scores(TinyGguf.Model);
        double[][] withZero, withRandom;
        using (var m = LlamaModel.Load(TinyGguf.Path, new ModelLoadOptions(LoraPath: zero))) withZero = Scores(m);
        using (var m = LlamaModel.Load(TinyGguf.Path, new ModelLoadOptions(LoraPath: random, LoraScale: 1f))) withRandom = Scores(m);

        // Relative change of the digit probabilities (each near 1/vocab in a random model).
        double Diff(double[][] a, double[][] b) => a.Zip(b, (x, y) => x.Zip(y, (u, v) => Math.Abs(u - v) / u).Max()).Max();
        Assert.True(Diff(base_, withZero) < 1e-4, $"a zero-B adapter changed scores by {Diff(base_, withZero):P4}");
        Assert.True(Diff(base_, withRandom) > 0.05, $"a random adapter changed scores by only {Diff(base_, withRandom):P4}");

        var bad = Assert.Throws<InvalidDataException>(() => LlamaModel.Load(TinyGguf.Path, new ModelLoadOptions(LoraPath: TinyGguf.Path)));
        Assert.Contains("LoRA", bad.Message, StringComparison.Ordinal);
    }
}
