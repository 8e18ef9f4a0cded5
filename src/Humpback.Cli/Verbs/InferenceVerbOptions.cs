using CommandLine;
using Humpback.Inference;

namespace Humpback.Cli.Verbs;

/// <summary>Options shared by `generate` and `curate`: the model and one input file, then the engine options.</summary>
public abstract class InferenceVerbOptions : EngineVerbOptions
{
    [Option("model", Required = true, HelpText = "GGUF model file.")]
    public string Model { get; set; } = "";

    [Option("input", Required = true, HelpText = "Input Parquet file.")]
    public string Input { get; set; } = "";

    [Option("id-column", HelpText = "Row id column (string or integer). Default: 'id' if present, else the row index.")]
    public string? IdColumn { get; set; }

    [Option("keep", Separator = ',', HelpText = "Input columns copied to the output, comma-separated (default: the columns the prompt reads).")]
    public IEnumerable<string>? Keep { get; set; }

    /// <summary>Applies the shared options to a job's options (bad values become usage errors).</summary>
    protected T Apply<T>(T o) where T : TableJobOptions => ApplyEngine(o) with
    {
        IdColumn = IdColumn ?? "id",
        IdColumnRequired = IdColumn != null,
        KeepColumns = Keep?.Any() == true ? Keep.ToArray() : null,
    };
}

/// <summary>Options shared by every inference verb (generate, curate, judge): output, LoRA, engine, shards, resume.</summary>
public abstract class EngineVerbOptions
{
    [Option("lora", HelpText = "LoRA adapter GGUF applied on top of the model.")]
    public string? Lora { get; set; }

    [Option("lora-scale", Default = 1f, HelpText = "LoRA adapter scale.")]
    public float LoraScale { get; set; }

    [Option("out", Required = true, HelpText = "Output Parquet file (work in progress: <out>.parts/, resumed by re-running the same command).")]
    public string Out { get; set; } = "";

    [Option("chat-format", Default = ChatFormat.Llama3, HelpText = "Prompt format: llama3 (chat special tokens), plain (### Instruction / ### Response), none.")]
    public ChatFormat ChatFormat { get; set; }

    [Option("system", HelpText = "System message replacing the template's.")]
    public string? System { get; set; }

    [Option("parallel", Default = 16, HelpText = "Sequences decoded together (1..256).")]
    public int Parallel { get; set; }

    [Option("batch-size", Default = 512, HelpText = "Most tokens per llama_decode call (prompts are chunked to fit).")]
    public int BatchSize { get; set; }

    [Option("ctx", Default = 2048, HelpText = "Tokens per sequence: prompt + generation. Longer prompts become error rows.")]
    public int Ctx { get; set; }

    [Option("kv-cells", HelpText = "Cells of a unified KV cache (implies --kv-unified; default parallel × ctx). Smaller saves memory; a full cache shrinks batches or re-queues rows.")]
    public int? KvCells { get; set; }

    [Option("kv-unified", HelpText = "One unified KV cell pool (prefix stored once; attention spans all rows in flight) instead of a stream per sequence.")]
    public bool KvUnified { get; set; }

    [Option("kv-f16", HelpText = "Cache keys/values in f16 (half the memory; results then depend slightly on batching).")]
    public bool KvF16 { get; set; }

    [Option("threads", HelpText = "ggml threads (default: 1 on ≤ 2 cores, else all cores).")]
    public int? Threads { get; set; }

    [Option("llama-backend", HelpText = "llama.cpp native library: cpu (default), cuda (needs the LLamaSharp.Backend.Cuda12 package) or a path to a libllama.so built from ggml commit 815a2a591. Default: $HUMPBACK_LLAMA_LIB, else cpu.")]
    public string? LlamaBackend { get; set; }

    [Option("gpu-layers", HelpText = "Layers offloaded to the GPU (default: all with a cuda or custom backend, 0 on cpu).")]
    public int? GpuLayers { get; set; }

    [Option("shard", Default = "0/1", HelpText = "Process only slice i of N (i/N); merge the N outputs with `humpback merge`.")]
    public string Shard { get; set; } = "0/1";

    [Option("shard-by", HelpText = "Split rows by 'index' (row index mod N) or 'id' (hash of the id). Default: index; judge: id (both orders of a question in one shard).")]
    public string? ShardBy { get; set; }

    /// <summary>The --shard-by rule when none is given.</summary>
    protected virtual string DefaultShardBy => "index";

    [Option("part-rows", Default = 2048, HelpText = "Input rows per part file (the unit of resume).")]
    public int PartRows { get; set; }

    [Option("overwrite", HelpText = "Start again, discarding an existing output or unfinished parts.")]
    public bool Overwrite { get; set; }

    [Option("keep-parts", HelpText = "Keep <out>.parts/ after the final file is written.")]
    public bool KeepParts { get; set; }

    /// <summary>Applies the engine options to a job's options (bad values become usage errors).</summary>
    protected T ApplyEngine<T>(T o) where T : InferenceJobOptions
    {
        try
        {
            LlamaBackend? backend = LlamaBackend is string b ? Inference.LlamaBackend.Parse(b) : null;
            bool gpu = (backend ?? LlamaRuntime.Selected ?? Inference.LlamaBackend.FromEnvironment()).Kind != LlamaBackendKind.Cpu;
            string shardBy = ShardBy ?? DefaultShardBy;
            ShardBy by = shardBy.ToLowerInvariant() switch
            {
                "index" => Inference.ShardBy.RowIndex,
                "id" => Inference.ShardBy.IdHash,
                _ => throw new ArgumentException($"--shard-by must be index or id, got '{shardBy}'"),
            };
            var engine = new EngineOptions
            {
                ParallelSequences = Parallel,
                BatchSize = BatchSize,
                SequenceContext = Ctx,
                KvCells = KvCells,
                KvUnified = KvUnified || KvCells != null ? true : null,
                KvF32 = !KvF16,
                Threads = Threads ?? EngineOptions.DefaultThreads,
            };
            engine.Validate();
            return o with
            {
                LoraPath = Lora,
                LoraScale = LoraScale,
                Backend = backend,
                GpuLayers = GpuLayers ?? (gpu ? -1 : 0),
                ChatFormat = ChatFormat,
                System = System,
                Engine = engine,
                Shard = Inference.ShardSpec.Parse(Shard, by),
                PartRows = PartRows,
                Overwrite = Overwrite,
                KeepParts = KeepParts,
            };
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message, e);
        }
    }

    protected static async Task<int> RunJobAsync(Func<IProgress<Pipeline.ProgressInfo>, Task<JobStatistics>> run)
    {
        JobStatistics stats = await run(new ConsoleProgress());
        Console.WriteLine(stats.ToText());
        Console.WriteLine($"statistics: {InferenceJobPaths.StatsPath(stats.Output)}");
        return CliHost.ExitOk;
    }
}
