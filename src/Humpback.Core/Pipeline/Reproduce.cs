using System.Text.Json.Nodes;
using Humpback.Data;
using Humpback.Data.World;
using Humpback.Formats;
using Humpback.Inference;
using Humpback.Model;
using Humpback.Prompts;
using Humpback.Training;

using InferenceChat = Humpback.Inference.ChatFormat;
using PromptFormat = Humpback.Prompts.ChatFormat;

namespace Humpback.Pipeline;

/// <summary>A stage given as a function (most stages are a call into one layer of the library).</summary>
public sealed class Stage(string name, object config, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs,
    Func<RunFolder, bool, CancellationToken, Dictionary<string, JsonNode?>> run) : IStage
{
    public string Name { get; } = name;
    public object Config { get; } = config;
    public IReadOnlyList<string> Inputs { get; } = inputs;
    public IReadOnlyList<string> Outputs { get; } = outputs;
    public Dictionary<string, JsonNode?> Run(RunFolder folder, bool resume, CancellationToken ct) => run(folder, resume, ct);
}

/// <summary>
/// The whole self-alignment loop as resumable stages in a run folder:
/// (world → tokenizer → base) → seed → backward set → train Myx → augment → train M0 → curate → select → train M1
/// (→ M1-uncurated ablation) (→ curate with M1 → train M2) → eval and report.
/// </summary>
public sealed class Reproduce
{
    private readonly ReproduceConfig _c;
    private readonly IProgress<ProgressInfo>? _progress;
    private readonly TextWriter _log;

    public Reproduce(ReproduceConfig config, IProgress<ProgressInfo>? progress = null, TextWriter? log = null)
    {
        config.Validate();
        _c = config;
        _progress = progress;
        _log = log ?? TextWriter.Null;
    }

    // Run-folder layout (every arrow of the method is one of these files).
    public const string WorldDir = "world";
    public const string TokenizerDir = "tokenizer";
    public const string BaseInitDir = "models/base-init";
    public const string BaseDir = "models/base";
    public const string SeedPairs = "data/seed.parquet";
    public const string BackwardSet = "data/backward-train.parquet";
    public const string SeedSet = "data/m0-train.parquet";
    public const string Candidates = "data/candidates.parquet";
    public const string Augmented = "data/augmented.parquet";
    public const string Scored = "data/scored.parquet";
    public const string M1Set = "data/m1-train.parquet";
    public const string M1uSet = "data/m1-uncurated-train.parquet";
    public const string ScoredByM1 = "data/scored-m1.parquet";
    public const string M2Set = "data/m2-train.parquet";

    public static string ModelDir(string name) => $"models/{name}";
    public static string Gguf(string name) => $"models/{name}.gguf";

    private string BasePath => _c.UsesWorld ? BaseDir : _c.BaseModel!;
    private WorldFiles World(RunFolder run) => new(run.PathOf(WorldDir));
    private ChatFormatKind Format => PromptFormat.Parse(_c.ChatFormat);

    /// <summary>The stages in order; each one's inputs are earlier stages' outputs or external files.</summary>
    public IReadOnlyList<IStage> Plan(RunFolder run)
    {
        var s = new List<IStage>();
        if (_c.UsesWorld)
        {
            s.Add(new Stage("world", new { seed = _c.WorldSeed, size = _c.WorldSize, version = WorldGenerator.Version }, [], [WorldDir], (r, _, _) =>
            {
                WorldGenerator.Generate(r.PathOf(WorldDir), _c.WorldSeed!.Value, _c.WorldSize == "smoke" ? WorldSize.Smoke : WorldSize.Mini);
                return [];
            }));
            s.Add(new Stage("tokenizer", new { vocab = _c.TokenizerVocab }, [$"{WorldDir}/pretrain.txt"], [TokenizerDir], (r, _, _) =>
            {
                HumpbackTokenizer tok = BpeTrainer.TrainFromFiles([World(r).Pretrain], new BpeTrainerOptions { VocabSize = _c.TokenizerVocab });
                IO.AtomicFile.WriteDirectory(r.PathOf(TokenizerDir), tok.WriteFiles);
                return new() { ["vocab_size"] = tok.VocabSize };
            }));
            s.Add(new Stage("base-init", _c.BaseShape!, [TokenizerDir], [BaseInitDir], (r, _, _) =>
            {
                HumpbackTokenizer tok = HumpbackTokenizer.Load(r.PathOf(TokenizerDir));
                ModelShape m = _c.BaseShape!;
                var config = new LlamaConfig
                {
                    VocabSize = tok.VocabSize, HiddenSize = m.HiddenSize, IntermediateSize = m.IntermediateSize, NumLayers = m.Layers,
                    NumHeads = m.Heads, NumKvHeads = m.KvHeads, MaxPositionEmbeddings = m.MaxPosition, RopeTheta = m.RopeTheta,
                    TieWordEmbeddings = true, BosTokenId = tok.BosId, EosTokenId = tok.EosId,
                    ExtraEosTokenIds = tok.EotTokenId >= 0 ? [tok.EotTokenId] : [],
                };
                HfFolder.Save(r.PathOf(BaseInitDir), config, LlamaInit.Random(config, 1), tok);
                return new() { ["parameters"] = config.ParameterCount };
            }));
            s.Add(TrainStage("pretrain", _c.Pretrain!, BaseInitDir, $"{WorldDir}/pretrain.txt", BaseDir, Objective.Lm));
        }

        string[] oasst = _c.UsesWorld ? [$"{WorldDir}/oasst1/oasst1-train.parquet"] : [.. _c.Oasst];
        string[] c4 = _c.UsesWorld ? [$"{WorldDir}/c4/c4-train.00000-of-00001.json.gz"] : [.. _c.C4];

        s.Add(new Stage("seed", new { count = _c.SeedCount, seed = _c.SeedSeed }, oasst, [SeedPairs], (r, _, ct) =>
        {
            DataStats st = OasstSeed.RunAsync(oasst.Select(r.PathOf).ToList(), r.PathOf(SeedPairs),
                new OasstSeedOptions { Count = _c.SeedCount, Seed = _c.SeedSeed }, _progress, ct).GetAwaiter().GetResult();
            return Metrics(st);
        }));
        s.Add(new Stage("backward-set", new { template = HumpbackPrompts.BackwardInstruction }, [SeedPairs], [BackwardSet], (r, _, ct) =>
        {
            // Myx learns output → instruction with exactly the prompt self-augmentation will give it.
            var rows = PairsFile.ReadAllAsync(r.PathOf(SeedPairs), ct).GetAwaiter().GetResult()
                .Select(p => new Data.TrainingExample(p.Id, "", HumpbackPrompts.BackwardPrompt(p.Output), p.Instruction, "backward")).ToList();
            TrainingSetFile.WriteAsync(r.PathOf(BackwardSet), rows, ct).GetAwaiter().GetResult();
            return new() { ["pairs"] = rows.Count };
        }));
        s.Add(new Stage("seed-set", new { system = HumpbackPrompts.SeedSystem }, [SeedPairs], [SeedSet], (r, _, ct) =>
        {
            var rows = PairsFile.ReadAllAsync(r.PathOf(SeedPairs), ct).GetAwaiter().GetResult()
                .Select(p => new Data.TrainingExample(p.Id, HumpbackTags.Seed, p.Instruction, p.Output, HumpbackTags.SeedSource)).ToList();
            TrainingSetFile.WriteAsync(r.PathOf(SeedSet), rows, ct).GetAwaiter().GetResult();
            return new() { ["pairs"] = rows.Count };
        }));
        s.Add(new Stage("segment", _c.Segment, c4, [Candidates], (r, _, ct) =>
        {
            var o = new SegmentOptions
            {
                MinChars = _c.Segment.MinChars, MaxChars = _c.Segment.MaxChars, QualityFilters = _c.Segment.QualityFilters,
                NearDedup = _c.Segment.NearDedup, MaxSegments = _c.Segment.MaxSegments,
            };
            return Metrics(SegmentPipeline.RunAsync(c4.Select(r.PathOf).ToList(), r.PathOf(Candidates), o, _progress, ct).GetAwaiter().GetResult());
        }));

        s.Add(TrainStage("train-myx", _c.Myx, BasePath, BackwardSet, ModelDir("myx"), Objective.Sft));
        s.Add(ExportStage("myx"));
        s.Add(new Stage("augment", _c.Augment, [Gguf("myx"), Candidates], [Augmented], (r, resume, ct) => AugmentStage.Run(r, _c, resume, _progress, ct)));

        s.Add(TrainStage("train-m0", _c.M0, BasePath, SeedSet, ModelDir("m0"), Objective.Sft));
        s.Add(ExportStage("m0"));
        s.Add(CurateStage("curate", "m0", Augmented, Scored));
        s.Add(SelectStage("select", Scored, M1Set, curated: true));
        s.Add(TrainStage("train-m1", _c.M1, BasePath, M1Set, ModelDir("m1"), Objective.Sft));
        s.Add(ExportStage("m1"));
        if (_c.Ablations)
        {
            s.Add(SelectStage("select-uncurated", Scored, M1uSet, curated: false, sizeLike: M1Set));
            s.Add(TrainStage("train-m1-uncurated", _c.M1, BasePath, M1uSet, ModelDir("m1-uncurated"), Objective.Sft));
            s.Add(ExportStage("m1-uncurated"));
        }
        if (_c.M2)
        {
            s.Add(CurateStage("curate-m1", "m1", Augmented, ScoredByM1));
            s.Add(SelectStage("select-m2", ScoredByM1, M2Set, curated: true));
            s.Add(TrainStage("train-m2", _c.M1, BasePath, M2Set, ModelDir("m2"), Objective.Sft));
            s.Add(ExportStage("m2"));
        }
        CheckJudgeExists(run, s);
        s.AddRange(Evaluation.Stages(_c, _c.Models(), _progress, _log));
        return s;
    }

    /// <summary>The judge must exist before the run starts — or be written by one of its stages (a mini run may judge
    /// with its own models/m0.gguf) — rather than fail at the end, after hours of training.</summary>
    private void CheckJudgeExists(RunFolder run, IEnumerable<IStage> earlier)
    {
        if (_c.Judge.Model is not string judge) return;
        string path = Path.GetFullPath(run.PathOf(judge));
        if (File.Exists(path) || earlier.Any(st => st.Outputs.Any(o => Path.GetFullPath(run.PathOf(o)) == path))) return;
        throw new FileNotFoundException($"judge.model {judge}: {path} not found (nor written by a stage of this run)", path);
    }

    /// <summary>Runs every stage (skipping finished ones); returns the run folder.</summary>
    public RunFolder Run(string runDir, CancellationToken ct = default)
    {
        var run = new RunFolder(runDir, _c.Preset);
        IO.AtomicFile.WriteAllText(Path.Combine(run.Dir, "config.json"), _c.ToJson());
        foreach (IStage stage in Plan(run))
        {
            ct.ThrowIfCancellationRequested();
            run.RunStage(stage, _log, ct);
        }
        return run;
    }

    /// <summary>Re-runs only the evaluation stages and the report of an existing run folder (its earlier stages must
    /// be finished). Used by `humpback eval`.</summary>
    public RunFolder Evaluate(string runDir, CancellationToken ct = default)
    {
        var run = new RunFolder(runDir, _c.Preset);
        foreach (IStage stage in Plan(run).Where(s => s.Name.StartsWith("eval", StringComparison.Ordinal) || s.Name == "report"))
        {
            ct.ThrowIfCancellationRequested();
            run.RunStage(stage, _log, ct);
        }
        return run;
    }

    private static Dictionary<string, JsonNode?> Metrics(DataStats st) =>
        st.Counters.ToDictionary(kv => kv.Key, kv => (JsonNode?)JsonValue.Create(kv.Value));

    private IStage TrainStage(string name, TrainStageConfig t, string baseDir, string data, string outDir, Objective objective) =>
        new Stage(name, new { train = t, objective = objective.ToString(), format = _c.ChatFormat, device = _c.Device }, [baseDir, data], [outDir], (r, resume, ct) =>
        {
            var o = new TrainOptions
            {
                BaseDir = r.PathOf(baseDir), DataPath = r.PathOf(data), OutDir = r.PathOf(outDir),
                Mode = t.Mode == "lora" ? TrainMode.Lora : TrainMode.Full, Objective = objective, Format = Format,
                Lora = new LoraSettings(t.LoraRank, t.LoraAlpha, LoraSettings.ParseTargets(t.LoraTargets)),
                Lr = t.Lr, FinalLr = t.FinalLr, Schedule = Enum.Parse<ScheduleKind>(t.Schedule, ignoreCase: true), WarmupSteps = t.WarmupSteps,
                WeightDecay = t.WeightDecay, BatchSize = t.BatchSize, GradAccum = t.GradAccum, MaxSeqLen = t.MaxSeqLen,
                Overlong = Enum.Parse<OverlongPolicy>(t.Overlong, ignoreCase: true), Epochs = t.Epochs, Steps = t.Steps, Seed = t.Seed,
                CheckpointEvery = t.CheckpointEvery == 0 ? 25 : t.CheckpointEvery, Resume = resume, Device = _c.Device, Threads = _c.Threads,
                Precision = Engine.DTypeExtensions.Parse(t.Precision, $"{name}.precision"), Recompute = t.Recompute,
            };
            // A LoRA stage leaves an adapter; later stages read a merged full model, so merge it into the folder.
            TrainResult res = new Trainer(HfModelStore.Instance, _progress, _log).Run(o, ct);
            if (o.Mode == TrainMode.Lora) MergeAdapterInPlace(r.PathOf(baseDir), r.PathOf(outDir));
            return new()
            {
                ["steps"] = res.Steps, ["final_loss"] = res.FinalLoss, ["seconds"] = res.Seconds, ["tokens"] = res.Tokens,
                ["tokens_per_s"] = res.Tokens / Math.Max(res.Seconds, 1e-9), ["examples_truncated"] = res.Stats.Truncated, ["examples_skipped"] = res.Stats.Skipped,
            };
        });

    /// <summary>Folds a PEFT adapter into the base weights and writes the merged HF files next to the adapter.</summary>
    private static void MergeAdapterInPlace(string baseDir, string adapterDir)
    {
        HfCheckpoint ck = HfFolder.Load(baseDir);
        LoraAdapter adapter = PeftFolder.Load(adapterDir, ck.Config);
        string tmp = adapterDir + ".merged-tmp";
        HfFolder.Save(tmp, ck.Config, adapter.MergeInto(ck.Tensors), ck.Tokenizer);
        foreach (string f in Directory.GetFiles(tmp)) File.Move(f, Path.Combine(adapterDir, Path.GetFileName(f)), overwrite: true);
        Directory.Delete(tmp, true);
    }

    private IStage ExportStage(string model) =>
        new Stage($"export-{model}", new { type = _c.ExportType }, [ModelDir(model)], [Gguf(model)], (r, _, _) =>
        {
            string summary = GgufExport.Export(new GgufExportRequest
            {
                ModelDir = r.PathOf(ModelDir(model)), OutPath = r.PathOf(Gguf(model)), Type = Enum.Parse<GgufExportType>(_c.ExportType, ignoreCase: true),
            });
            return new() { ["bytes"] = new FileInfo(r.PathOf(Gguf(model))).Length, ["summary"] = summary };
        });

    private IStage CurateStage(string name, string model, string input, string output) =>
        new Stage(name, _c.Curate, [Gguf(model), input], [output], (r, resume, ct) =>
        {
            var o = new CurateJobOptions
            {
                ModelPath = r.PathOf(Gguf(model)), InputPath = r.PathOf(input), OutputPath = r.PathOf(output),
                Mode = _c.Curate.Mode == "generate" ? CurateMode.Generate : CurateMode.Logits,
                IdColumn = "id", KeepColumns = ["instruction", "output"],
                System = HumpbackPrompts.SeedSystem, ChatFormat = InferenceChatFormat,
                Engine = new EngineOptions { ParallelSequences = _c.Curate.Parallel, SequenceContext = _c.Curate.ContextPerSequence },
                Overwrite = !resume,
            };
            JobStatistics st = CurateJob.RunAsync(o, _progress, ct).GetAwaiter().GetResult();
            return JobMetrics(st);
        });

    private InferenceChat InferenceChatFormat => Format == ChatFormatKind.Llama3 ? InferenceChat.Llama3 : InferenceChat.Plain;

    internal static Dictionary<string, JsonNode?> JobMetrics(JobStatistics st) =>
        JsonNode.Parse(st.ToJson())?.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value?.DeepClone()) ?? [];

    private IStage SelectStage(string name, string scored, string output, bool curated, string? sizeLike = null) =>
        new Stage(name, new { select = _c.Select, curated }, sizeLike == null ? [scored, SeedPairs] : [scored, SeedPairs, sizeLike], [output], (r, _, ct) =>
        {
            var opts = new SelectOptions
            {
                MinScore = _c.Select.MinScore, Field = _c.Select.Field == "argmax" ? ScoreField.Argmax : ScoreField.Expected,
                Cap = _c.Select.Cap, Seed = _c.Select.Seed,
            };
            if (!curated)
            {
                // The ablation: as many augmented pairs as the curated set has, drawn at random without looking at scores.
                int curatedAugmented = TrainingSetFile.ReadAllAsync(r.PathOf(sizeLike!), ct).GetAwaiter().GetResult()
                    .Count(x => x.Source == HumpbackTags.AugmentedSource);
                int seedRows = PairsFile.ReadAllAsync(r.PathOf(SeedPairs), ct).GetAwaiter().GetResult().Count;
                opts = opts with { MinScore = double.NegativeInfinity, Order = SelectOrder.Random, Cap = seedRows + curatedAugmented };
            }
            return Metrics(Selector.RunAsync(r.PathOf(scored), r.PathOf(SeedPairs), r.PathOf(output), opts, _progress, ct).GetAwaiter().GetResult());
        });
}
