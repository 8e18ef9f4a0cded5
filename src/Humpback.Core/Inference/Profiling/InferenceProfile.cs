using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Humpback.Pipeline;
using LLama;
using LLama.Native;

namespace Humpback.Inference.Profiling;

/// <summary>Settings of `humpback profile score|generate`.</summary>
public sealed record ProfileOptions
{
    /// <summary>GGUF to measure; null: a random Llama of about 27M parameters (dim 512, 8 layers, vocab 4096), Q8_0,
    /// built once and cached in <see cref="CacheDirectory"/>.</summary>
    public string? ModelPath { get; init; }
    /// <summary>Default sweep: chosen so each profile finishes within 2 minutes on 2 CPU cores.</summary>
    public static readonly int[] DefaultParallel = [1, 32, 64];
    public IReadOnlyList<int> Parallel { get; init; } = DefaultParallel;
    /// <summary>Rows per measurement (the naive loop uses fewer when it would take long: its rate does not depend on it).</summary>
    public int Rows { get; init; } = 64;
    public int NaiveRows { get; init; } = 16;
    public int BatchSize { get; init; } = 512;
    public int SequenceContext { get; init; } = 1024;
    public int Threads { get; init; } = EngineOptions.DefaultThreads;
    public int MaxNewTokens { get; init; } = 64;
    public ChatFormat ChatFormat { get; init; } = ChatFormat.Llama3;
    public string CacheDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "humpback-profile");
    public LlamaBackend? Backend { get; init; }
    public int GpuLayers { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>GGUF type of the random model: q8_0 (default), f32 (4× the bytes per weight: one-token decoding is then
    /// memory-bound, as it is for a 3B model, instead of fitting in the CPU's caches), f16 or q4_0.</summary>
    public string RandomType { get; init; } = "q8_0";
    /// <summary>Shape of the random model when <see cref="ModelPath"/> is null.</summary>
    public RandomLlamaSpec RandomShape { get; init; } = InferenceProfile.DefaultRandomModel;
    /// <summary>KV layout for the engine and the hand-tuned loop (null: the engine's choice per workload).</summary>
    public bool? KvUnified { get; init; }
    /// <summary>Flash attention in every loop measured (off by default, as in the engine).</summary>
    public bool FlashAttention { get; init; }
    /// <summary>Also run the same rows through the job the CLI runs (`curate` / `generate`: Parquet in and out,
    /// tokenizing thread, part files, statistics) at the engine's best P, and compare with the engine's figure.</summary>
    public bool CrossCheck { get; init; } = true;
}

/// <summary>Measurements of one profile run, with the figures the targets are stated in.</summary>
public sealed class ProfileReport
{
    public string Mode { get; init; } = "";
    public string Model { get; init; } = "";
    public string Machine { get; init; } = "";
    public string Date { get; init; } = "";
    public int Threads { get; init; }
    public int BatchSize { get; init; }
    public int PrefixTokens { get; init; }
    public double MeanRowTokens { get; init; }
    public List<Measurement> Measurements { get; } = [];
    public SortedDictionary<string, double> Summary { get; } = new(StringComparer.Ordinal);

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(new
    {
        mode = Mode, model = Model, machine = Machine, date = Date, threads = Threads, batch_size = BatchSize,
        prefix_tokens = PrefixTokens, mean_row_tokens = MeanRowTokens,
        measurements = Measurements.Select(m => new
        {
            method = m.Method, parallel = m.Parallel, rows = m.Rows, seconds = m.Seconds, tokens_decoded = m.TokensDecoded,
            generated_tokens = m.GeneratedTokens, rows_per_second = m.RowsPerSecond, tokens_per_second = m.TokensPerSecond,
            generated_tokens_per_second = m.GeneratedTokensPerSecond,
        }),
        summary = Summary,
    }, Json);

    public string ToTable()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"profile {Mode}: {Model}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"{Machine}; {Threads} ggml thread(s), batch {BatchSize}; shared prefix {PrefixTokens} tokens, rows {MeanRowTokens:0} tokens on average");
        bool gen = Mode == "generate";
        sb.AppendLine(gen
            ? "method        P   rows       s    rows/s     tok/s   gen tok/s"
            : "method        P   rows       s    rows/s     tok/s");
        foreach (Measurement m in Measurements)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{m.Method,-11} {m.Parallel,3} {m.Rows,6} {m.Seconds,7:0.00} {m.RowsPerSecond,9:0.00} {m.TokensPerSecond,9:0}");
            if (gen) sb.Append(CultureInfo.InvariantCulture, $" {m.GeneratedTokensPerSecond,11:0}");
            sb.AppendLine();
        }
        foreach (var (k, v) in Summary) sb.AppendLine(CultureInfo.InvariantCulture, $"{k}: {v:0.###}");
        return sb.ToString().TrimEnd();
    }
}

/// <summary>Throughput of the engine against a naive one-row-at-a-time loop and a hand-tuned batched loop
/// (<see cref="Baselines"/>) across parallel-sequence counts, on synthetic rows in the shape of the real workloads:
/// score = the curation prompt with an instruction and an answer (logits mode); generate = the backward prompt with a
/// short text, a fixed number of new tokens.</summary>
public static class InferenceProfile
{
    public static readonly RandomLlamaSpec DefaultRandomModel = new(
        Dim: 512, Layers: 8, Heads: 8, KvHeads: 4, FeedForward: 1536, ContextLength: 4096, VocabSize: 4096,
        MergeCorpus: SyntheticText.Corpus, Seed: 1, WeightStd: 0.05f, EmbeddingStd: 1f);

    public static ProfileReport Score(ProfileOptions o, IProgress<ProgressInfo>? progress = null)
    {
        using LlamaModel m = Load(o, out string description);
        var renderer = new PromptRenderer(m, PromptTemplates.Curation(logits: true), o.ChatFormat);
        int[] digits = Enumerable.Range(1, 5).Select(d => m.SingleToken(d.ToString(CultureInfo.InvariantCulture), false)
            ?? throw new InvalidDataException($"{m.Path}: digit {d} is not one token")).ToArray();
        var rng = new Random(o.Seed);
        var texts = Enumerable.Range(0, o.Rows).Select(_ => new Dictionary<string, string>
        {
            ["instruction"] = SyntheticText.Sentence(rng, 8, 16) + "?",
            ["output"] = SyntheticText.Paragraph(rng, 60, 100),
        }).ToList();
        int[][] rows = texts.Select(renderer.RowTokens).ToArray();
        int[] prefix = renderer.PrefixTokens;
        var report = NewReport("score", o, description, prefix.Length, rows.Average(r => r.Length));
        var scratch = new float[m.VocabSize];
        EngineOptions Engine(int p) => EngineFor(o, p);

        // Warm-up (first-touch of weights and buffers), not measured.
        using (var warm = new BatchEngine(m, Engine(1))) warm.Score(prefix, Requests(rows.Take(2)), digits, _ => { });

        int steps = 1 + 2 * o.Parallel.Count + (o.CrossCheck ? 1 : 0), step = 0;
        void Report(string what) => progress?.Report(new ProgressInfo("profile score", ++step, steps, "runs", new Dictionary<string, string> { ["done"] = what }));
        int[][] naiveRows = rows.Take(Math.Min(o.NaiveRows, rows.Length)).ToArray();
        Measurement naive = Baselines.NaiveScore(m, Engine(1), prefix, naiveRows, digits, scratch);
        report.Measurements.Add(naive);
        Report("naive");
        foreach (int p in o.Parallel)
        {
            report.Measurements.Add(Baselines.HandTunedScore(m, Engine(p), p, prefix, rows, digits, scratch));
            Report($"hand-tuned P={p}");
            using var engine = new BatchEngine(m, Engine(p));
            EngineRunStats s = engine.Score(prefix, Requests(rows), digits, _ => { });
            report.Measurements.Add(new Measurement("engine", p, rows.Length, s.Elapsed.TotalSeconds, s.TokensDecoded, 0));
            Report($"engine P={p}");
        }

        // Ideal prefix-sharing gain: tokens the naive loop decodes per row over tokens the shared run decodes per row.
        double naiveTokensPerRow = prefix.Length + rows.Average(r => r.Length);
        double sharedTokensPerRow = (prefix.Length + rows.Sum(r => (double)r.Length)) / rows.Length;
        double ideal = naiveTokensPerRow / sharedTokensPerRow;
        Measurement best = report.Measurements.Where(x => x.Method == "engine").MaxBy(x => x.RowsPerSecond)!;
        double speedup = best.RowsPerSecond / naive.RowsPerSecond;
        report.Summary["ideal_prefix_gain"] = ideal;
        report.Summary["engine_best_speedup_over_naive"] = speedup;
        report.Summary["engine_best_parallel"] = best.Parallel;
        report.Summary["fraction_of_ideal_gain (target >= 0.85)"] = speedup / ideal;
        if (o.CrossCheck)
        {
            Measurement job = ThroughTheJob(o, m, "curate", texts, best.Parallel, Engine(best.Parallel), (input, output, engine) =>
                CurateJob.RunAsync(new CurateJobOptions
                {
                    ModelPath = m.Path, InputPath = input, OutputPath = output, Engine = engine, ChatFormat = o.ChatFormat,
                    Backend = o.Backend, GpuLayers = o.GpuLayers, Overwrite = true,
                }), out double wall);
            report.Measurements.Add(job);
            report.Summary["curate_job_wall_s (model load and output included)"] = wall;
            Report($"curate job P={best.Parallel}");
            report.Summary[$"curate_job_over_engine_P{best.Parallel:D2} (same rows two ways, target 0.9-1.1)"] = job.RowsPerSecond / best.RowsPerSecond;
        }
        foreach (int p in o.Parallel)
        {
            double hand = report.Measurements.First(x => x.Method == "hand-tuned" && x.Parallel == p).RowsPerSecond;
            double eng = report.Measurements.First(x => x.Method == "engine" && x.Parallel == p).RowsPerSecond;
            report.Summary[$"engine_over_hand_tuned_P{p:D2} (target >= 0.9)"] = eng / hand;
        }
        return report;
    }

    public static ProfileReport Generate(ProfileOptions o, IProgress<ProgressInfo>? progress = null)
    {
        using LlamaModel m = Load(o, out string description);
        var renderer = new PromptRenderer(m, new PromptTemplate("backward", PromptTemplates.BackwardUser), o.ChatFormat);
        var rng = new Random(o.Seed);
        var texts = Enumerable.Range(0, o.Rows).Select(_ => new Dictionary<string, string>
        {
            // Short texts: the point is decoding many sequences at once, so generation should dominate the prompt.
            ["output"] = SyntheticText.Paragraph(rng, 5, 15),
        }).ToList();
        int[][] rows = texts.Select(renderer.RowTokens).ToArray();
        int[] prefix = renderer.PrefixTokens;
        var report = NewReport("generate", o, description, prefix.Length, rows.Average(r => r.Length));
        var gen = new GenerationSettings(Temperature: 1f, TopP: 0.9f, TopK: 0, MaxNewTokens: o.MaxNewTokens, Seed: (ulong)o.Seed);
        EngineOptions Engine(int p) => EngineFor(o, p);
        IEnumerable<EngineRequest> Requests(IEnumerable<int[]> rs) => rs.Select((t, i) => new EngineRequest { Key = i, Tokens = t, RngKey = (ulong)i });

        using (var warm = new BatchEngine(m, Engine(1))) warm.Generate(prefix, Requests(rows.Take(1)), gen with { MaxNewTokens = 4 }, _ => { });

        int steps = 1 + 2 * o.Parallel.Count + (o.CrossCheck ? 1 : 0), step = 0;
        void Report(string what) => progress?.Report(new ProgressInfo("profile generate", ++step, steps, "runs", new Dictionary<string, string> { ["done"] = what }));
        Measurement naive = Baselines.NaiveGenerate(m, Engine(1), prefix, rows.Take(Math.Min(o.NaiveRows, rows.Length)).ToArray(), gen);
        report.Measurements.Add(naive);
        Report("naive");
        foreach (int p in o.Parallel)
        {
            // At least two full waves of rows per measurement, so continuous batching has rows to refill with.
            int[][] set = rows.Length >= 2 * p ? rows : Enumerable.Range(0, 2 * p).Select(i => rows[i % rows.Length]).ToArray();
            report.Measurements.Add(Baselines.HandTunedGenerate(m, Engine(p), p, prefix, set, gen));
            Report($"hand-tuned P={p}");
            using var engine = new BatchEngine(m, Engine(p));
            EngineRunStats s = engine.Generate(prefix, Requests(set), gen, _ => { });
            report.Measurements.Add(new Measurement("engine", p, set.Length, s.Elapsed.TotalSeconds, s.TokensDecoded, s.GeneratedTokens));
            Report($"engine P={p}");
        }
        foreach (Measurement e in report.Measurements.Where(x => x.Method == "engine"))
            report.Summary[$"engine_P{e.Parallel:D2}_generated_tokens_per_s_over_naive"] = e.GeneratedTokensPerSecond / naive.GeneratedTokensPerSecond;
        foreach (int p in o.Parallel)
        {
            double hand = report.Measurements.First(x => x.Method == "hand-tuned" && x.Parallel == p).GeneratedTokensPerSecond;
            double eng = report.Measurements.First(x => x.Method == "engine" && x.Parallel == p).GeneratedTokensPerSecond;
            report.Summary[$"engine_over_hand_tuned_P{p:D2}"] = eng / hand;
        }
        if (o.CrossCheck)
        {
            Measurement best = report.Measurements.Where(x => x.Method == "engine").MaxBy(x => x.GeneratedTokensPerSecond)!;
            var set = Enumerable.Range(0, best.Rows).Select(i => texts[i % texts.Count]).ToList();
            Measurement job = ThroughTheJob(o, m, "generate", set, best.Parallel, Engine(best.Parallel), (input, output, engine) =>
                GenerateJob.RunAsync(new GenerateJobOptions
                {
                    ModelPath = m.Path, InputPath = input, OutputPath = output, Engine = engine, ChatFormat = o.ChatFormat,
                    Backend = o.Backend, GpuLayers = o.GpuLayers, Overwrite = true, Template = "backward", Generation = gen,
                }), out double wall);
            report.Measurements.Add(job);
            report.Summary["generate_job_wall_s (model load and output included)"] = wall;
            Report($"generate job P={best.Parallel}");
            report.Summary[$"generate_job_over_engine_P{best.Parallel:D2} (same rows two ways, target 0.9-1.1)"] = job.GeneratedTokensPerSecond / best.GeneratedTokensPerSecond;
        }
        return report;
    }

    /// <summary>The same rows measured a second way: written to Parquet and run through the job the CLI runs (reading
    /// and tokenizing thread, channel, part files), taking the throughput the job itself reports ("this run: … rows/s"
    /// of `humpback curate` / `generate`). Model load and the final Parquet write are fixed costs outside that figure,
    /// which over a benchmark this short would otherwise weigh ~10%; the wall clock goes in <paramref name="wallSeconds"/>.</summary>
    private static Measurement ThroughTheJob(ProfileOptions o, LlamaModel m, string kind, IReadOnlyList<Dictionary<string, string>> texts, int parallel,
        EngineOptions engine, Func<string, string, EngineOptions, Task<JobStatistics>> run, out double wallSeconds)
    {
        string dir = Directory.CreateTempSubdirectory($"humpback-profile-{kind}-").FullName;
        try
        {
            string[] names = [.. texts[0].Keys];
            var columns = new List<OutputColumn> { new("id", OutputColumnKind.String) };
            columns.AddRange(names.Select(n => new OutputColumn(n, OutputColumnKind.String)));
            var table = texts.Select((t, i) => new object?[] { $"row-{i}" }.Concat(names.Select(n => (object?)t[n])).ToArray()).ToList();
            string input = Path.Combine(dir, "input.parquet");
            ParquetTable.WriteFileAsync(input, columns, [table]).GetAwaiter().GetResult();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            JobStatistics stats = run(input, Path.Combine(dir, "output.parquet"), engine).GetAwaiter().GetResult();
            wallSeconds = clock.Elapsed.TotalSeconds;
            RunThroughput t = stats.ThisRun ?? throw new InvalidOperationException($"the {kind} job reported no throughput");
            return new Measurement($"{kind} job", parallel, (int)t.Rows, t.Seconds, t.TokensDecoded, t.GeneratedTokens);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } // a temp folder left behind is harmless
        }
    }

    /// <summary>The engine settings every loop of a profile shares, at <paramref name="parallel"/> sequences.</summary>
    private static EngineOptions EngineFor(ProfileOptions o, int parallel) => new()
    {
        ParallelSequences = parallel, BatchSize = o.BatchSize, SequenceContext = o.SequenceContext, Threads = o.Threads,
        KvUnified = o.KvUnified, FlashAttention = o.FlashAttention,
    };

    private static IEnumerable<EngineRequest> Requests(IEnumerable<int[]> rows) =>
        rows.Select((t, i) => new EngineRequest { Key = i, Tokens = t });

    private static ProfileReport NewReport(string mode, ProfileOptions o, string model, int prefix, double meanRow) => new()
    {
        Mode = mode,
        Model = model,
        Machine = Machine(),
        Date = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        Threads = o.Threads,
        BatchSize = o.BatchSize,
        PrefixTokens = prefix,
        MeanRowTokens = meanRow,
    };

    private static LlamaModel Load(ProfileOptions o, out string description)
    {
        string path = o.ModelPath ?? RandomModel(o.CacheDirectory, o.Backend, o.RandomType, o.RandomShape);
        LlamaModel m = LlamaModel.Load(path, new ModelLoadOptions(GpuLayers: o.GpuLayers, Backend: o.Backend));
        description = (o.ModelPath == null ? $"random Llama {o.RandomShape.ShapeName} {o.RandomType} — " : "") + m.Describe();
        return m;
    }

    /// <summary>GGUF types the random profile model can be written in (f32 as written, the others quantized by llama.cpp).</summary>
    public static readonly IReadOnlyDictionary<string, LLamaFtype> RandomTypes = new Dictionary<string, LLamaFtype>(StringComparer.OrdinalIgnoreCase)
    {
        ["f32"] = LLamaFtype.ALL_F32, ["f16"] = LLamaFtype.MOSTLY_F16, ["q8_0"] = LLamaFtype.MOSTLY_Q8_0, ["q4_0"] = LLamaFtype.MOSTLY_Q4_0,
    };

    /// <summary>The profile's random model: written in f32, quantized to <paramref name="type"/> (default Q8_0) unless
    /// that is f32, and cached by shape and type.</summary>
    public static string RandomModel(string cacheDirectory, LlamaBackend? backend = null, string type = "q8_0", RandomLlamaSpec? shape = null)
    {
        RandomLlamaSpec spec = shape ?? DefaultRandomModel;
        if (!RandomTypes.TryGetValue(type, out LLamaFtype ftype))
            throw new ArgumentException($"random model type '{type}' is not one of {string.Join(", ", RandomTypes.Keys)}");
        type = type.ToLowerInvariant();
        Directory.CreateDirectory(cacheDirectory);
        string path = Path.Combine(cacheDirectory, $"random-{spec.ShapeName}-s{spec.Seed}-{type}.gguf");
        if (File.Exists(path)) return path;
        string f32Path = Path.Combine(cacheDirectory, $"random-{spec.ShapeName}-s{spec.Seed}-f32.gguf");
        if (!File.Exists(f32Path))
        {
            string tmpF32 = f32Path + $".tmp-{Environment.ProcessId}";
            RandomLlamaGguf.Write(tmpF32, spec);
            File.Move(tmpF32, f32Path, overwrite: true);
        }
        if (ftype == LLamaFtype.ALL_F32) return f32Path;
        LlamaRuntime.Configure(backend);
        NativeApi.llama_empty_call(); // the quantizer needs the native library resolved first
        string tmp = path + $".tmp-{Environment.ProcessId}";
        if (!LLamaQuantizer.Quantize(f32Path, tmp, ftype, Math.Max(1, Environment.ProcessorCount / 2), true, true))
            throw new InvalidOperationException($"quantizing {f32Path} to {type} failed");
        File.Move(tmp, path, overwrite: true);
        return path;
    }

    private static string Machine()
    {
        string cpu = "cpu unknown";
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException) { }
        string load = "";
        try
        {
            if (File.Exists("/proc/loadavg")) load = $", load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at start";
        }
        catch (IOException) { }
        return $"{cpu}, {Environment.ProcessorCount} logical cores{load}, {RuntimeInformation.OSDescription}";
    }
}

/// <summary>Deterministic English-like text for benchmarks (no data sets are needed to measure throughput).</summary>
public static class SyntheticText
{
    private static readonly string[] Words = string.Join(' ',
        PromptTemplates.CurationPrompt, PromptTemplates.BackwardHeader,
        "the a of to and in is it that for on with as was by this be are from at or an have not but they which one you were all",
        "we her she there can their has more if will about up out into them so would what some when time two people years",
        "water history music city river garden recipe engine market science school energy computer museum winter doctor",
        "explain describe write list compare summarize translate calculate recommend design improve install choose")
        .Split([' ', '\n', '.', ',', ':', '"', '(', ')'], StringSplitOptions.RemoveEmptyEntries)
        .Where(w => w.All(char.IsLetter)).Select(w => w.ToLowerInvariant()).Distinct().ToArray();

    /// <summary>Text the random model's BPE merges are learned from.</summary>
    public static string Corpus
    {
        get
        {
            var rng = new Random(12345);
            var sb = new StringBuilder(PromptTemplates.CurationPrompt).Append('\n').Append(PromptTemplates.BackwardHeader).Append('\n');
            for (int i = 0; i < 200; i++) sb.Append(Paragraph(rng, 40, 80)).Append('\n');
            return sb.ToString();
        }
    }

    public static string Sentence(Random rng, int min, int max)
    {
        int n = rng.Next(min, max + 1);
        var words = Enumerable.Range(0, n).Select(_ => Words[rng.Next(Words.Length)]).ToArray();
        words[0] = char.ToUpperInvariant(words[0][0]) + words[0][1..];
        return string.Join(' ', words);
    }

    public static string Paragraph(Random rng, int minWords, int maxWords)
    {
        int target = rng.Next(minWords, maxWords + 1);
        var sb = new StringBuilder();
        int words = 0;
        while (words < target)
        {
            int n = Math.Min(target - words, rng.Next(6, 16));
            sb.Append(Sentence(rng, n, n)).Append(rng.Next(8) == 0 ? ", " : ". ");
            words += n;
        }
        return sb.ToString().TrimEnd();
    }
}
