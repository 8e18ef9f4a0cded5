using System.Text.Json;
using Humpback.Data.World;
using Humpback.Formats;
using Humpback.Model;
using Humpback.Pipeline;
using Humpback.Tests.Formats;
using Xunit;
using Xunit.Abstractions;

namespace Humpback.Tests.Pipeline;

/// <summary>The real-data path of `reproduce` (no built-in world: an HF base folder, oasst1 Parquet, C4 json.gz, a
/// held-out file, a judge GGUF) — the `nothumpback-m1` preset as a user edits it — run end to end on tiny files in
/// the real layouts, so the path a GPU run takes is not first exercised on a GPU.</summary>
[Collection("llama.cpp")]
public class RealDataRunTests(ITestOutputHelper output)
{
    [Fact]
    public void TheNotHumpbackPresetRunsOnTinyRealFormatFiles()
    {
        using var dir = new TempDir();
        // Real-layout inputs: the smoke world's oasst1 Parquet, C4 json.gz and eval questions, and a random base
        // model with its own tokenizer saved as an HF folder (what `humpback init-model` writes).
        WorldFiles world = WorldGenerator.Generate(dir["inputs"], seed: 5, WorldSize.Smoke);
        HumpbackTokenizer tok = BpeTrainer.TrainFromFiles([world.Pretrain], new BpeTrainerOptions { VocabSize = 1024 });
        var config = new LlamaConfig
        {
            VocabSize = tok.VocabSize, HiddenSize = 64, IntermediateSize = 128, NumLayers = 2, NumHeads = 4, NumKvHeads = 2,
            MaxPositionEmbeddings = 1024, RopeTheta = 10000f, TieWordEmbeddings = true, BosTokenId = tok.BosId, EosTokenId = tok.EosId,
            ExtraEosTokenIds = tok.EotTokenId >= 0 ? [tok.EotTokenId] : [],
        };
        HfFolder.Save(dir["base"], config, LlamaInit.Random(config, 1), tok);

        ReproduceConfig preset = ReproduceConfig.NotHumpbackM1;
        TrainStageConfig Short(TrainStageConfig t) => t with { Epochs = 1, BatchSize = 8, GradAccum = 1, MaxSeqLen = 768, Lr = 1e-3f };
        ReproduceConfig c = preset with
        {
            BaseModel = dir["base"], Oasst = [world.Oasst], C4 = [world.C4], HeldOut = world.Eval,
            // The smoke world's web texts are short: keep them (the real preset's 600-character floor would drop them all).
            Segment = preset.Segment with { MinChars = 20, QualityFilters = false, NearDedup = false },
            Myx = Short(preset.Myx), M0 = Short(preset.M0), M1 = Short(preset.M1),
            Augment = preset.Augment with { MaxNewTokens = 12, ContextPerSequence = 512 },
            Curate = preset.Curate with { ContextPerSequence = 1024 },
            EvalMaxNewTokens = 8, Device = "cpu", Threads = 1,
            Judge = preset.Judge with { Model = Reproduce.Gguf("m0"), ContextPerSequence = 1024 },
        };
        // The edited preset round-trips through the config file a user would edit.
        string configPath = dir["config.json"];
        File.WriteAllText(configPath, c.ToJson());
        c = ReproduceConfig.Load(configPath);

        var log = new StringWriter();
        RunFolder run = new Reproduce(c, log: log).Run(dir["run"]);
        output.WriteLine(log.ToString());

        Assert.All(run.Manifest.Stages.Values, s => Assert.Equal("done", s.Status));
        // The preset trains in bf16 mixed precision (the GPU run's setting): the CPU backend runs that path here.
        Assert.Contains("full fine-tuning, bf16", log.ToString());
        Assert.DoesNotContain("world", run.Manifest.Stages.Keys);
        foreach (string stage in new[] { "seed", "segment", "train-myx", "augment", "train-m0", "curate", "select", "train-m1",
                                         "eval-answers-m0", "eval-answers-m1", "eval-perplexity-m1", "eval-judge-m1-vs-m0", "report" })
            Assert.Contains(stage, run.Manifest.Stages.Keys);
        Assert.DoesNotContain("train-m1-uncurated", run.Manifest.Stages.Keys); // the preset has no ablations
        Assert.True(new FileInfo(run.PathOf(Reproduce.Gguf("m1"))).Length > 0);

        using var report = JsonDocument.Parse(File.ReadAllText(run.PathOf(Evaluation.ReportJson)));
        JsonElement root = report.RootElement;
        Assert.Equal(0, root.GetProperty("accuracy").GetArrayLength()); // no checkers outside the world
        Assert.True(root.GetProperty("perplexity").TryGetProperty("m1", out JsonElement ppl) && ppl.GetDouble() > 1);
        JsonElement pair = Assert.Single(root.GetProperty("judge").GetProperty("pairs").EnumerateArray());
        Assert.True(pair.GetProperty("judged").GetInt64() > 0);
        Assert.True(root.GetProperty("score_histogram").EnumerateArray().Sum(x => x.GetInt32()) > 0, "curation scored the candidates");
        string md = File.ReadAllText(run.PathOf(Evaluation.ReportFile));
        Assert.Contains("## Pairwise judge", md, StringComparison.Ordinal);
        Assert.Contains("## Perplexity on held-out gold answers", md, StringComparison.Ordinal);
    }
}
