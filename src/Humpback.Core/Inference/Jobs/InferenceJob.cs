using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Humpback.IO;
using Humpback.Pipeline;
using Parquet;

namespace Humpback.Inference;

/// <summary>`humpback generate`: templates each input row, samples a continuation, writes one output row per input row
/// (columns: row_index, id, kept input columns, prompt_tokens, generated_tokens, finish_reason, generation, error).</summary>
public static class GenerateJob
{
    public static Task<JobStatistics> RunAsync(GenerateJobOptions options, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default) =>
        InferenceJob.RunAsync(options, options.Input, new GenerateKind(options), progress, ct);
}

/// <summary>`humpback curate`: rates each (instruction, output) row with the paper's prompt. Logits mode columns:
/// p1..p5 (renormalised over the digits), p_digits_mass, score_argmax, score_expected; generate mode: generation and
/// score (null when unparseable). Both: row_index, id, kept input columns, prompt_tokens, error.</summary>
public static class CurateJob
{
    public static Task<JobStatistics> RunAsync(CurateJobOptions options, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default) =>
        InferenceJob.RunAsync(options, options.Input, options.Mode == CurateMode.Logits ? new CurateLogitsKind(options) : new CurateGenerateKind(options), progress, ct);
}

public static class InferenceJobPaths
{
    /// <summary>"x.parquet" → "x.stats.json": where a job or merge saves its statistics.</summary>
    public static string StatsPath(string output) =>
        (output.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase) ? output[..^".parquet".Length] : output) + ".stats.json";

    /// <summary>Where an unfinished run keeps its parts and manifest.</summary>
    public static string PartsPath(string output) => Path.GetFullPath(output) + ".parts";

    /// <summary>"x.parquet" → "x.summary.json": the judge's verdict totals.</summary>
    public static string SummaryPath(string output) =>
        (output.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase) ? output[..^".parquet".Length] : output) + ".summary.json";
}

/// <summary>The machinery shared by the jobs. Input is streamed by row groups; rows go through a bounded channel
/// (read and tokenized on a background task) to the engine; results are grouped into parts — part k holds this
/// shard's rows with index in [k·R, (k+1)·R) — and each finished part is written atomically as
/// "&lt;out&gt;.parts/part-k.parquet". A re-run after a crash or a kill finds the part files, checks the manifest (same
/// model, input, template, settings, shard) and skips their rows, so no row is lost or written twice. When every part
/// exists they are concatenated into the output (one atomic write) with statistics beside it.</summary>
internal static class InferenceJob
{
    private const int FinalRowGroupRows = 16384;

    private sealed record RowMeta(long Row, int Part, string Id, string?[] Keep);

    private readonly record struct Item(RowMeta? Meta, EngineRequest? Request, int Part, int Count);

    public static async Task<JobStatistics> RunAsync(InferenceJobOptions o, JobInput source, JobKind kind, IProgress<ProgressInfo>? progress, CancellationToken ct)
    {
        o.Validate();
        string output = Path.GetFullPath(o.OutputPath);
        string partsDir = InferenceJobPaths.PartsPath(output);
        if (o.Overwrite)
        {
            if (File.Exists(output)) File.Delete(output);
            if (Directory.Exists(partsDir)) Directory.Delete(partsDir, recursive: true);
        }
        else
        {
            CheckNotFinished(output);
        }

        IReadOnlyDictionary<string, string> bindings = kind.Bindings;
        string[] bound = bindings.Values.Distinct().ToArray();
        string[] keep = (source.KeepColumns ?? bound).Distinct().ToArray();
        string[] read = bound.Concat(keep).Distinct().ToArray();
        await using ParquetInput input = await ParquetInput.OpenAsync(source.Path, read, source.IdColumn, source.IdColumnRequired, ct);

        var columns = new List<OutputColumn> { new("row_index", OutputColumnKind.Long), new("id", OutputColumnKind.String) };
        columns.AddRange(keep.Select(k => new OutputColumn(k, OutputColumnKind.String)));
        columns.AddRange(kind.ResultColumns);
        if (columns.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1)?.Key is string clash)
            throw new ArgumentException($"kept input column '{clash}' would clash with the output column of the same name; do not keep it (--keep)");

        var manifest = new JobManifest
        {
            Kind = kind.Name,
            Input = input.Path,
            InputRows = input.RowCount,
            InputBytes = new FileInfo(input.Path).Length,
            Shard = o.Shard.ToString(),
            ShardBy = o.Shard.ByText,
            PartRows = o.PartRows,
            Fingerprint = Fingerprint(o, source, kind),
            Model = Path.GetFullPath(o.ModelPath),
            Lora = o.LoraPath is string l ? Path.GetFullPath(l) : null,
        };
        int partCount = (int)((input.RowCount + o.PartRows - 1) / o.PartRows);
        var store = PartStore.Open(partsDir, manifest, partCount);

        var stats = new JobStatistics { Kind = kind.Name, Output = output, Input = input.Path, Model = manifest.Model, Shard = manifest.Shard };
        EngineRunStats? runStats = null;
        long resumed = await store.DoneRowsAsync(ct);
        if (!store.AllDone)
        {
            runStats = await DecodeMissingPartsAsync(o, kind, input, bindings, read, keep, columns, store, resumed, progress, ct);
        }
        await FinaliseAsync(store, output, columns, manifest, kind.Metadata, stats, ct);
        if (runStats != null) stats.ThisRun = RunThroughput.From(runStats, resumed);
        AtomicFile.WriteAllText(StatsPath(output), stats.ToJson());
        if (!o.KeepParts) Directory.Delete(partsDir, recursive: true);
        return stats;
    }

    public static string StatsPath(string output) => InferenceJobPaths.StatsPath(output);

    /// <summary>A finished output (no parts folder beside it) is never silently redone.</summary>
    internal static void CheckNotFinished(string output)
    {
        if (File.Exists(output) && !Directory.Exists(InferenceJobPaths.PartsPath(output)))
            throw new IOException($"{output} already exists (a finished run); pass --overwrite to redo it");
    }

    private static async Task<EngineRunStats> DecodeMissingPartsAsync(
        InferenceJobOptions o, JobKind kind, ParquetInput input, IReadOnlyDictionary<string, string> bindings, string[] read, string[] keep,
        List<OutputColumn> columns, PartStore store, long resumed, IProgress<ProgressInfo>? progress, CancellationToken ct)
    {
        using var model = LlamaModel.Load(o.ModelPath, new ModelLoadOptions(o.LoraPath, o.LoraScale, o.GpuLayers, o.Backend));
        kind.Prepare(model);
        var renderer = new PromptRenderer(model, kind.Template, o.ChatFormat);
        using var engine = new BatchEngine(model, o.Engine);

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // Bounded: the reader stays a little ahead of the engine, never a whole file ahead.
        var channel = Channel.CreateBounded<Item>(new BoundedChannelOptions(Math.Max(64, 4 * o.Engine.ParallelSequences)) { SingleReader = true, SingleWriter = true });
        int[] bindingIndex = bindings.Select(kv => Array.IndexOf(read, kv.Value)).ToArray();
        string[] placeholders = bindings.Keys.ToArray();
        int[] keepIndex = keep.Select(k => Array.IndexOf(read, k)).ToArray();
        Task producer = Task.Run(() => ProduceAsync(input, o, store, renderer, placeholders, bindingIndex, read, keepIndex, channel.Writer, cts.Token), cts.Token);

        long? shardRows = o.Shard.RowsIn(input.RowCount);
        long total = shardRows is long sr ? Math.Max(0, sr - resumed) : 0;
        string task = resumed > 0 ? $"{kind.Name} (resuming: {resumed} rows done)" : kind.Name;
        var collector = new PartCollector(store, columns, kind, progress, task, shardRows.HasValue ? total : null);
        try
        {
            EngineRunStats stats = await Task.Factory.StartNew(
                () => kind.Run(engine, renderer.PrefixTokens, Requests(channel.Reader, collector, cts.Token), collector.Add, cts.Token),
                cts.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            await producer; // surfaces a reading error that ended the input early
            collector.CheckAllWritten();
            return stats;
        }
        catch
        {
            await cts.CancelAsync();
            try { await producer; } catch (Exception) { /* the first error is the one to report */ }
            throw;
        }
    }

    /// <summary>Reads rows (skipping finished parts' row groups), templates and tokenizes them, and marks the end of
    /// each unfinished part with its row count.</summary>
    private static async Task ProduceAsync(ParquetInput input, InferenceJobOptions o, PartStore store, PromptRenderer renderer,
                                           string[] placeholders, int[] bindingIndex, string[] read, int[] keepIndex,
                                           ChannelWriter<Item> writer, CancellationToken ct)
    {
        try
        {
            long r = o.PartRows;
            var counts = new int[store.PartCount];
            int nextSeal = 0;
            async Task SealBelow(int part)
            {
                for (; nextSeal < part; nextSeal++)
                    if (!store.IsDone(nextSeal)) await writer.WriteAsync(new Item(null, null, nextSeal, counts[nextSeal]), ct);
            }
            bool GroupDone(long first, long count)
            {
                for (long k = first / r; k <= (first + count - 1) / r; k++) if (!store.IsDone((int)k)) return false;
                return true;
            }
            var values = new Dictionary<string, string>(placeholders.Length);
            await foreach (InputRow row in input.ReadAsync(GroupDone, ct))
            {
                int part = (int)(row.Index / r);
                await SealBelow(part);
                if (store.IsDone(part) || !o.Shard.Contains(row.Index, row.Id)) continue;
                counts[part]++;
                string? error = null;
                int[] tokens = [];
                values.Clear();
                for (int i = 0; i < placeholders.Length && error == null; i++)
                {
                    string? v = row.Values[bindingIndex[i]];
                    if (v == null) error = $"column '{read[bindingIndex[i]]}' is null";
                    else values[placeholders[i]] = v;
                }
                if (error == null)
                {
                    try { tokens = renderer.RowTokens(values); }
                    catch (Exception e) when (e is ArgumentException or InvalidOperationException) { error = $"tokenizing failed: {e.Message}"; }
                }
                var meta = new RowMeta(row.Index, part, row.Id, keepIndex.Select(k => row.Values[k]).ToArray());
                var request = new EngineRequest { Key = row.Index, Tokens = tokens, RngKey = RowRng.KeyOf(row.Id), Error = error };
                await writer.WriteAsync(new Item(meta, request, part, 0), ct);
            }
            await SealBelow(store.PartCount);
            writer.Complete();
        }
        catch (Exception e)
        {
            writer.Complete(e);
            throw;
        }
    }

    /// <summary>The engine's input: rows from the channel; part ends are handed to the collector on the way (all on
    /// the engine's thread, so the collector needs no locks).</summary>
    private static IEnumerable<EngineRequest> Requests(ChannelReader<Item> reader, PartCollector collector, CancellationToken ct)
    {
        while (true)
        {
            Item item;
            while (!reader.TryRead(out item))
            {
                if (!reader.WaitToReadAsync(ct).AsTask().GetAwaiter().GetResult()) yield break;
            }
            if (item.Meta == null)
            {
                collector.Seal(item.Part, item.Count);
                continue;
            }
            collector.Register(item.Meta);
            yield return item.Request!;
        }
    }

    private sealed class PartCollector(PartStore store, List<OutputColumn> columns, JobKind kind, IProgress<ProgressInfo>? progress,
                                       string task, long? total)
    {
        private sealed class Buffer
        {
            public readonly List<object?[]> Rows = [];
            public int? Expected;
        }

        private readonly Dictionary<long, RowMeta> _inFlight = [];
        private readonly Dictionary<int, Buffer> _parts = [];
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _done, _tokens, _errors;
        private TimeSpan _lastReport = TimeSpan.FromSeconds(-1);

        public void Register(RowMeta meta)
        {
            _inFlight.Add(meta.Row, meta);
            if (!_parts.ContainsKey(meta.Part)) _parts[meta.Part] = new Buffer();
        }

        public void Seal(int part, int count)
        {
            if (!_parts.TryGetValue(part, out Buffer? b)) _parts[part] = b = new Buffer();
            b.Expected = count;
            Flush(part, b);
        }

        public void Add(EngineResult r)
        {
            if (!_inFlight.Remove(r.Key, out RowMeta? meta)) throw new InvalidOperationException($"internal: result for unknown row {r.Key}");
            var row = new object?[columns.Count];
            row[0] = meta.Row;
            row[1] = meta.Id;
            meta.Keep.CopyTo(row, 2);
            kind.Values(r).CopyTo(row, 2 + meta.Keep.Length);
            Buffer b = _parts[meta.Part];
            b.Rows.Add(row);
            _done++;
            _tokens += r.PromptTokens + r.GeneratedTokens;
            if (r.Error != null) _errors++;
            Flush(meta.Part, b);
            Report(false);
        }

        private void Flush(int part, Buffer b)
        {
            if (b.Expected != b.Rows.Count) return;
            b.Rows.Sort(static (x, y) => ((long)x[0]!).CompareTo((long)y[0]!));
            store.Write(part, columns, b.Rows);
            _parts.Remove(part);
            Report(true);
        }

        private void Report(bool force)
        {
            if (progress == null) return;
            TimeSpan now = _clock.Elapsed;
            if (!force && now - _lastReport < TimeSpan.FromMilliseconds(200)) return;
            _lastReport = now;
            double sec = Math.Max(1e-9, now.TotalSeconds);
            var metrics = new Dictionary<string, string>
            {
                ["tok/s"] = (_tokens / sec).ToString("0", CultureInfo.InvariantCulture),
                ["errors"] = _errors.ToString(CultureInfo.InvariantCulture),
            };
            progress.Report(new ProgressInfo(task, _done, total, "rows", metrics));
        }

        public void CheckAllWritten()
        {
            if (_parts.Count > 0 || _inFlight.Count > 0)
                throw new InvalidOperationException($"internal: {_parts.Count} parts and {_inFlight.Count} rows left unwritten");
        }
    }

    /// <summary>Concatenates the parts into the output (row groups of up to 16k rows) and tallies the statistics.</summary>
    private static async Task FinaliseAsync(PartStore store, string output, List<OutputColumn> columns, JobManifest m,
                                            IReadOnlyDictionary<string, string> kindMetadata, JobStatistics stats, CancellationToken ct)
    {
        var layout = new RowLayout(columns);
        var metadata = new Dictionary<string, string>(kindMetadata)
        {
            ["humpback.kind"] = m.Kind,
            ["humpback.input"] = m.Input,
            ["humpback.input_rows"] = m.InputRows.ToString(CultureInfo.InvariantCulture),
            ["humpback.shard"] = m.Shard,
            ["humpback.shard_by"] = m.ShardBy,
            ["humpback.fingerprint"] = m.Fingerprint,
            ["humpback.model"] = m.Model,
        };
        await ParquetTable.WriteFileAsync(output, columns, RowGroups(), metadata, ct);

        async IAsyncEnumerable<IReadOnlyList<object?[]>> RowGroups()
        {
            var buffer = new List<object?[]>();
            for (int k = 0; k < store.PartCount; k++)
            {
                await using ParquetReader reader = await ParquetReader.CreateAsync(store.PartPath(k), cancellationToken: ct);
                for (int g = 0; g < reader.RowGroupCount; g++)
                {
                    foreach (object?[] row in await ParquetTable.ReadRowGroupAsync(reader, g, columns, ct))
                    {
                        stats.Tally(layout, row);
                        buffer.Add(row);
                        if (buffer.Count >= FinalRowGroupRows)
                        {
                            yield return buffer;
                            buffer = [];
                        }
                    }
                }
            }
            if (buffer.Count > 0) yield return buffer;
        }
    }

    /// <summary>A hash of everything that decides the output's content, so a resume never mixes parts of two
    /// configurations. The model and input are identified by path, size and modification time.</summary>
    private static string Fingerprint(InferenceJobOptions o, JobInput source, JobKind kind)
    {
        string text = string.Join("\n",
            kind.Name, FileId(o.ModelPath), FileId(o.LoraPath), o.LoraScale.ToString("R", CultureInfo.InvariantCulture), FileId(source.Path),
            PromptRenderer.Wrap(kind.Template, o.ChatFormat), string.Join(",", kind.Bindings.Select(kv => $"{kv.Key}={kv.Value}")),
            string.Join(",", source.KeepColumns ?? []), source.IdColumn, kind.Settings);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }

    /// <summary>A file identified by path, size and modification time (what the resume check compares).</summary>
    internal static string FileId(string? p) => p == null ? "-" : $"{Path.GetFullPath(p)}:{new FileInfo(p).Length}:{File.GetLastWriteTimeUtc(p).Ticks}";
}

/// <summary>The parts folder's manifest: what the parts were made from (checked on resume) and which are done.</summary>
internal sealed class JobManifest
{
    public int Version { get; set; } = 1;
    public string Kind { get; set; } = "";
    public string Input { get; set; } = "";
    public long InputRows { get; set; }
    public long InputBytes { get; set; }
    public string Shard { get; set; } = "0/1";
    public string ShardBy { get; set; } = "index";
    public int PartRows { get; set; }
    public string Fingerprint { get; set; } = "";
    public string Model { get; set; } = "";
    public string? Lora { get; set; }
    public List<int> PartsDone { get; set; } = [];

    /// <summary>The first field that differs from <paramref name="other"/>, or null when the configuration matches.</summary>
    public string? Difference(JobManifest other) =>
        Kind != other.Kind ? $"kind {Kind} vs {other.Kind}"
        : Input != other.Input ? $"input {Input} vs {other.Input}"
        : InputRows != other.InputRows || InputBytes != other.InputBytes ? "the input file changed"
        : Shard != other.Shard || ShardBy != other.ShardBy ? $"shard {Shard} by {ShardBy} vs {other.Shard} by {other.ShardBy}"
        : PartRows != other.PartRows ? $"part rows {PartRows} vs {other.PartRows}"
        : Fingerprint != other.Fingerprint ? "model, template or decoding settings changed"
        : null;
}

/// <summary>"&lt;out&gt;.parts/": manifest.json and part-NNNNNN.parquet files, each written atomically. A part file's
/// existence is what marks it done (the manifest's list is for people and is rewritten after each part).</summary>
internal sealed class PartStore
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private readonly bool[] _done;
    private readonly JobManifest _manifest;

    private PartStore(string dir, JobManifest manifest, int partCount)
    {
        Directory = dir;
        _manifest = manifest;
        PartCount = partCount;
        _done = new bool[partCount];
        for (int k = 0; k < partCount; k++) _done[k] = File.Exists(PartPath(k));
        _manifest.PartsDone = Enumerable.Range(0, partCount).Where(k => _done[k]).ToList();
    }

    public string Directory { get; }
    public int PartCount { get; }
    public bool AllDone => _done.All(d => d);
    public bool IsDone(int part) => _done[part];
    public string PartPath(int part) => Path.Combine(Directory, $"part-{part:D6}.parquet");
    private string ManifestPath => Path.Combine(Directory, "manifest.json");

    public static PartStore Open(string dir, JobManifest manifest, int partCount)
    {
        string path = Path.Combine(dir, "manifest.json");
        if (File.Exists(path))
        {
            JobManifest? old = JsonSerializer.Deserialize<JobManifest>(File.ReadAllText(path), Json);
            if (old == null || old.Difference(manifest) is string diff && diff.Length > 0)
                throw new IOException($"{dir} holds parts of a different run ({old?.Difference(manifest) ?? "unreadable manifest"}); " +
                                      "delete it or pass --overwrite to start again");
        }
        System.IO.Directory.CreateDirectory(dir);
        var store = new PartStore(dir, manifest, partCount);
        store.SaveManifest();
        return store;
    }

    public async Task<long> DoneRowsAsync(CancellationToken ct)
    {
        long rows = 0;
        for (int k = 0; k < PartCount; k++)
        {
            if (!_done[k]) continue;
            await using ParquetReader reader = await ParquetReader.CreateAsync(PartPath(k), cancellationToken: ct);
            rows += reader.RowGroups.Sum(g => g.RowCount);
        }
        return rows;
    }

    public void Write(int part, IReadOnlyList<OutputColumn> columns, List<object?[]> rows)
    {
        ParquetTable.WriteFileAsync(PartPath(part), columns, [rows]).GetAwaiter().GetResult();
        _done[part] = true;
        _manifest.PartsDone.Add(part);
        SaveManifest();
    }

    private void SaveManifest() => AtomicFile.WriteAllText(ManifestPath, JsonSerializer.Serialize(_manifest, Json));
}
