using CommandLine;
using Humpback.Inference;
using Humpback.Inference.Profiling;
using Humpback.IO;

namespace Humpback.Cli.Verbs;

/// <summary>`humpback profile &lt;mode&gt;`: one verb, one entry per benchmark in <see cref="Modes"/> (add a mode there).</summary>
[Verb("profile", HelpText = "Throughput benchmarks against the machine's own limits. Modes: train (a training step by phase and op), kernels (every kernel at model shapes), score, generate (batched LLamaSharp inference vs a naive and a hand-tuned loop), compare a.json b.json.")]
public sealed partial class ProfileVerb : ICommand
{
    private static readonly Dictionary<string, Func<ProfileVerb, CancellationToken, Task<int>>> Modes = new(StringComparer.OrdinalIgnoreCase)
    {
        ["score"] = (v, ct) => v.RunInferenceAsync(InferenceProfile.Score, ct),
        ["generate"] = (v, ct) => v.RunInferenceAsync(InferenceProfile.Generate, ct),
        ["train"] = (v, _) => Task.FromResult(v.RunTrain()),
        ["kernels"] = (v, _) => Task.FromResult(v.RunKernels()),
        ["compare"] = (v, _) => Task.FromResult(TrainProfileReport.Compare(v.Files.ToList(), Console.Out)),
    };

    [Value(0, MetaName = "mode", Required = true, HelpText = "What to measure: train | kernels | score | generate | compare.")]
    public string Mode { get; set; } = "";

    [Option("json", HelpText = "Also write the results as JSON to this file.")]
    public string? Json { get; set; }

    [Option("threads", HelpText = "ggml threads (default: 1 on ≤ 2 cores, else all cores).")]
    public int? Threads { get; set; }

    [Option("model", HelpText = "score/generate: GGUF to measure (default: a cached random ~27M-parameter Q8_0 Llama).")]
    public string? Model { get; set; }

    [Option("parallel", Separator = ',', HelpText = "score/generate: parallel-sequence counts to measure (default 1,32,64).")]
    public IEnumerable<int>? Parallel { get; set; }

    [Option("rows", Default = 64, HelpText = "score/generate: rows per measurement.")]
    public int Rows { get; set; }

    [Option("naive-rows", Default = 16, HelpText = "score/generate: rows for the (slow) naive loop.")]
    public int NaiveRows { get; set; }

    [Option("batch-size", Default = 512, HelpText = "score/generate: tokens per llama_decode.")]
    public int BatchSize { get; set; }

    [Option("ctx", Default = 1024, HelpText = "score/generate: tokens per sequence.")]
    public int Ctx { get; set; }

    [Option("max-new-tokens", Default = 64, HelpText = "generate: tokens generated per row.")]
    public int MaxNewTokens { get; set; }

    [Option("chat-format", Default = ChatFormat.Llama3, HelpText = "score/generate: prompt format (llama3, plain, none).")]
    public ChatFormat ChatFormat { get; set; }

    [Option("llama-backend", HelpText = "score/generate: cpu, cuda or a path to libllama.so (default $HUMPBACK_LLAMA_LIB, else cpu).")]
    public string? LlamaBackend { get; set; }

    [Option("gpu-layers", Default = 0, HelpText = "score/generate: layers offloaded to the GPU (-1: all).")]
    public int GpuLayers { get; set; }

    [Option("random-f32", HelpText = "score/generate: short for --random-type f32.")]
    public bool RandomF32 { get; set; }

    [Option("random-type", HelpText = "score/generate: without --model, the random model's GGUF type: q8_0 (default), f32, f16, q4_0.")]
    public string? RandomType { get; set; }

    [Option("random-shape", HelpText = "score/generate: without --model, the random model's shape as letter+number pairs: d dim, l layers, h heads, k KV heads, f feed-forward, v vocab (default d512-l8-h8-k4-f1536-v4096; e.g. d192-l4-f512-v1536 is the mini run's size).")]
    public string? RandomShape { get; set; }

    [Option("flash-attention", HelpText = "score/generate: llama.cpp's flash attention in every loop measured (off by default, as in generate and curate).")]
    public bool FlashAttention { get; set; }

    [Option("no-cross-check", HelpText = "train/score/generate: skip the second measurement of the same work through the code the CLI runs (`train`'s Trainer, the curate / generate job) that checks the two agree within 10%.")]
    public bool NoCrossCheck { get; set; }

    [Option("kv-unified", HelpText = "score/generate: true = one unified KV cache, false = per-sequence streams (default: the engine's choice per workload).")]
    public bool? KvUnified { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken)
    {
        if (!Modes.TryGetValue(Mode, out var run))
            throw new UsageException($"unknown profile mode '{Mode}'; modes: {string.Join(", ", Modes.Keys)}");
        return run(this, cancellationToken);
    }

    private async Task<int> RunInferenceAsync(Func<ProfileOptions, IProgress<Pipeline.ProgressInfo>?, ProfileReport> profile, CancellationToken ct)
    {
        ProfileOptions options;
        try
        {
            int[] parallel = Parallel?.Any() == true ? Parallel.ToArray() : ProfileOptions.DefaultParallel;
            foreach (int p in parallel)
                if (p is < 1 or > EngineOptions.MaxSequences) throw new ArgumentException($"--parallel values must be in 1..{EngineOptions.MaxSequences}, got {p}");
            if (RandomType != null && !InferenceProfile.RandomTypes.ContainsKey(RandomType))
                throw new ArgumentException($"--random-type must be one of {string.Join(", ", InferenceProfile.RandomTypes.Keys)} (got '{RandomType}')");
            if (Rows < 1 || NaiveRows < 1 || BatchSize < 1 || MaxNewTokens < 1) throw new ArgumentException("--rows, --naive-rows, --batch-size and --max-new-tokens must be ≥ 1");
            options = new ProfileOptions
            {
                ModelPath = Model,
                Parallel = parallel,
                Rows = Rows,
                NaiveRows = NaiveRows,
                BatchSize = BatchSize,
                SequenceContext = Ctx,
                Threads = Threads ?? EngineOptions.DefaultThreads,
                MaxNewTokens = MaxNewTokens,
                ChatFormat = ChatFormat,
                Backend = LlamaBackend is string b ? Inference.LlamaBackend.Parse(b) : null,
                GpuLayers = GpuLayers,
                KvUnified = KvUnified,
                FlashAttention = FlashAttention,
                CrossCheck = !NoCrossCheck,
                RandomType = RandomF32 ? "f32" : RandomType ?? "q8_0",
                RandomShape = RandomShape is string shape ? InferenceProfile.DefaultRandomModel.WithShape(shape) : InferenceProfile.DefaultRandomModel,
            };
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message, e);
        }
        var progress = new ConsoleProgress();
        ProfileReport report = await Task.Run(() => profile(options, progress), ct);
        Console.WriteLine(report.ToTable());
        if (Json != null)
        {
            AtomicFile.WriteAllText(Json, report.ToJson());
            Console.WriteLine($"json: {Path.GetFullPath(Json)}");
        }
        return CliHost.ExitOk;
    }
}
