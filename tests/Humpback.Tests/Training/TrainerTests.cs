using System.Text.Json;
using Humpback.Formats;
using Humpback.Model;
using Humpback.Prompts;
using Humpback.Tests.Formats;
using Humpback.Training;
using Xunit;
using Xunit.Abstractions;

namespace Humpback.Tests.Training;

/// <summary>End-to-end training through the Trainer on a tiny model written in the HF layout.</summary>
public class TrainerTests(ITestOutputHelper output)
{
    private static readonly string[] Animals = ["cat", "dog", "owl", "fox", "bee", "elk", "ant", "yak"];
    private static readonly string[] Sounds = ["meows", "barks", "hoots", "yips", "buzzes", "bugles", "marches", "grunts"];

    /// <summary>An SFT set the tiny model can learn: "What does the X say?" → "The X sounds."</summary>
    private static void WriteSft(string path, int n, int seed)
    {
        var r = new Random(seed);
        File.WriteAllLines(path, Enumerable.Range(0, n).Select(i =>
        {
            int k = r.Next(Animals.Length);
            return JsonSerializer.Serialize(new { id = $"ex{i}", instruction = $"What does the {Animals[k]} say?", output = $"The {Animals[k]} {Sounds[k]}." });
        }));
    }

    /// <summary>A tiny base model with a tokenizer trained on the task's words, in the HF layout.</summary>
    private static string WriteBase(string dir)
    {
        string corpus = string.Join(" ", Enumerable.Range(0, 400).Select(i => $"What does the {Animals[i % 8]} say? The {Animals[i % 8]} {Sounds[i % 8]}. ### Instruction: ### Response:"));
        HumpbackTokenizer tok = BpeTrainer.Train([corpus], new BpeTrainerOptions { VocabSize = 320 });
        var c = new LlamaConfig
        {
            VocabSize = tok.VocabSize, HiddenSize = 48, IntermediateSize = 96, NumLayers = 2, NumHeads = 4, NumKvHeads = 2,
            MaxPositionEmbeddings = 256, RopeTheta = 10000f, TieWordEmbeddings = true, BosTokenId = tok.BosId, EosTokenId = tok.EosId,
        };
        string path = Path.Combine(dir, "base");
        HfFolder.Save(path, c, LlamaInit.Random(c, 5, 0.1f), tok);
        return path;
    }

    private static TrainOptions Options(string baseDir, string data, string outDir, TrainMode mode) => new()
    {
        BaseDir = baseDir, DataPath = data, OutDir = outDir, Mode = mode, Format = ChatFormatKind.Plain,
        Lora = new LoraSettings(8, 16f, ["q", "k", "v", "o", "gate", "up", "down"]),
        Lr = mode == TrainMode.Full ? 3e-3f : 1e-2f, WeightDecay = 0f, BatchSize = 8, MaxSeqLen = 64, Steps = 30,
        CheckpointEvery = 10, Seed = 3,
    };

    private static double HeldOutNll(string model, string? adapter, string data)
    {
        var (_, mean) = PerplexityEvaluator.Run(HfModelStore.Instance, new PerplexityOptions
        {
            ModelDir = model, AdapterDir = adapter, DataPath = data, Format = ChatFormatKind.Plain, MaxSeqLen = 64,
        });
        return mean;
    }

    [Theory]
    [InlineData(TrainMode.Full)]
    [InlineData(TrainMode.Lora)]
    public void FineTuningLowersHeldOutPerplexity(TrainMode mode)
    {
        using var dir = new TempDir();
        string baseDir = WriteBase(dir.Path);
        WriteSft(dir["train.jsonl"], 120, 1);
        WriteSft(dir["heldout.jsonl"], 24, 2);
        double before = HeldOutNll(baseDir, null, dir["heldout.jsonl"]);
        new Trainer(HfModelStore.Instance).Run(Options(baseDir, dir["train.jsonl"], dir["out"], mode));
        double after = mode == TrainMode.Full
            ? HeldOutNll(dir["out"], null, dir["heldout.jsonl"])
            : HeldOutNll(baseDir, dir["out"], dir["heldout.jsonl"]);
        output.WriteLine($"{mode}: held-out NLL {before:F3} -> {after:F3}");
        Assert.True(after < before * 0.5, $"{mode}: held-out NLL {before:F3} -> {after:F3}");
        Assert.Equal(30, File.ReadAllLines(dir["out/metrics.jsonl"]).Length);
        Assert.True(File.Exists(dir[mode == TrainMode.Full ? "out/model.safetensors" : "out/adapter_model.safetensors"]));
    }

    [Theory]
    [InlineData(TrainMode.Full)]
    [InlineData(TrainMode.Lora)]
    public void KillAndResumeGivesTheSameLosses(TrainMode mode)
    {
        using var dir = new TempDir();
        string baseDir = WriteBase(dir.Path);
        WriteSft(dir["train.jsonl"], 80, 1);
        new Trainer(HfModelStore.Instance).Run(Options(baseDir, dir["train.jsonl"], dir["straight"], mode));

        var killed = new Trainer(HfModelStore.Instance) { AfterStep = s => { if (s == 17) throw new OperationCanceledException("killed"); } };
        Assert.Throws<OperationCanceledException>(() => killed.Run(Options(baseDir, dir["train.jsonl"], dir["resumed"], mode)));
        new Trainer(HfModelStore.Instance).Run(Options(baseDir, dir["train.jsonl"], dir["resumed"], mode) with { Resume = true });

        static double[] Losses(string f) => File.ReadAllLines(f).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("loss").GetDouble()).ToArray();
        double[] a = Losses(dir["straight/metrics.jsonl"]), b = Losses(dir["resumed/metrics.jsonl"]);
        Assert.Equal(30, b.Length);
        Assert.Equal(a, b);
    }

    [Fact]
    public void DivergenceStopsWithTheStepAndKeepsTheLastCheckpoint()
    {
        using var dir = new TempDir();
        string baseDir = WriteBase(dir.Path);
        WriteSft(dir["train.jsonl"], 80, 1);
        var o = Options(baseDir, dir["train.jsonl"], dir["out"], TrainMode.Full) with { Lr = 1e6f, MaxGradNorm = 0f, CheckpointEvery = 1 };
        var e = Assert.Throws<TrainingDivergedException>(() => new Trainer(HfModelStore.Instance).Run(o));
        Assert.Matches(@"at step \d+", e.Message);
        Assert.NotEmpty(Directory.GetDirectories(dir["out/checkpoints"], "step-*"));
    }

    [Fact]
    public void EmptyDataFileIsAClearError()
    {
        using var dir = new TempDir();
        string baseDir = WriteBase(dir.Path);
        File.WriteAllText(dir["empty.jsonl"], "");
        var e = Assert.Throws<InvalidDataException>(() => new Trainer(HfModelStore.Instance).Run(Options(baseDir, dir["empty.jsonl"], dir["out"], TrainMode.Full)));
        Assert.Contains("empty", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "llama.cpp")]
    public void TrainedModelExportsToGgufAndLlamaCppGeneratesTheAnswer()
    {
        using var dir = new TempDir();
        string baseDir = WriteBase(dir.Path);
        WriteSft(dir["train.jsonl"], 160, 1);
        new Trainer(HfModelStore.Instance).Run(Options(baseDir, dir["train.jsonl"], dir["out"], TrainMode.Full) with { Steps = 60 });
        HfCheckpoint ck = HfFolder.Load(dir["out"]);
        GgufExport.WriteModel(dir["m.gguf"], ck.Config, ck.Tensors, ck.Tokenizer!, GgufExportType.F32);
        HumpbackTokenizer tok = ck.Tokenizer!;
        int[] prompt = tok.Encode(ChatFormat.Prompt(ChatFormatKind.Plain, null, "What does the owl say?"), addBos: true, parseSpecial: true);
        // Greedy decoding with llama.cpp, one token at a time.
        var ids = new List<int>(prompt);
        for (int step = 0; step < 24; step++)
        {
            float[][] logits = LlamaSharpRunner.Logits(dir["m.gguf"], [.. ids]);
            float[] last = logits[^1];
            int next = Array.IndexOf(last, last.Max());
            if (next == tok.EosId) break;
            ids.Add(next);
        }
        string answer = tok.Decode(ids.Skip(prompt.Length));
        output.WriteLine($"llama.cpp answered: '{answer}'");
        Assert.Contains("hoots", answer, StringComparison.Ordinal);
    }
}
