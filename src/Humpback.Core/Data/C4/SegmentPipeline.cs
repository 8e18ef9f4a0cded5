using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Humpback.IO;
using Humpback.Pipeline;

namespace Humpback.Data;

/// <summary><c>humpback data segment</c>: streams C4 files (json lines, gzip or not, or Parquet copies with a
/// text column) through cutting, quality filters and deduplication into a candidates Parquet file.
/// <para>Shape: one reader (decompress, cut into ~1 MB blocks of whole lines) → N workers (parse JSON, cut,
/// filter, hash) → one writer that takes the workers' results in input order, applies exact and near
/// deduplication (sequential, so the first occurrence always wins and the output does not depend on the number
/// of threads) and writes row groups. The queue between them is bounded (2 blocks per worker), so memory holds a
/// few blocks plus the dedup indexes: 8 bytes per kept segment for exact dedup and Bands × 8 bytes for the LSH
/// bands, at most 60% full.</para></summary>
public static class SegmentPipeline
{
    public static readonly string[] CounterNames =
    [
        "files", "input_bytes", "json_bytes", "lines", "skipped_malformed_json", "skipped_invalid_utf8", "skipped_missing_text",
        "gzip_trailer_mismatch", "documents", "docs_too_short", "fragments_too_short", "segments_cut",
        TextFilters.Caps, TextFilters.ShortLines, TextFilters.Navigation, TextFilters.Boilerplate, TextFilters.RepeatedSentences,
        "dropped_exact_duplicate", "dropped_near_duplicate", "segments_written",
    ];

    private const int ParquetBatch = 512;

    public static async Task<DataStats> RunAsync(IReadOnlyList<string> inputs, string output, SegmentOptions options,
        IProgress<ProgressInfo>? progress = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (inputs.Count == 0) throw new ArgumentException("no input files");
        var stats = new DataStats("segment", CounterNames);
        var clock = Stopwatch.StartNew();
        TimeSpan cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        var hasher = new MinHasher(options.Bands, options.RowsPerBand, options.ShingleWords);
        var exact = new LongHashSet();
        var near = new LongHashSet();
        long totalBytes = inputs.Sum(f => new FileInfo(f).Length);
        bool stoppedAtMax = false;

        await AtomicFile.WriteAsync(output, async stream =>
        {
            await using var writer = await CandidatesFile.CreateWriterAsync(stream, cancellationToken);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var queue = Channel.CreateBounded<Task<ChunkResult>>(new BoundedChannelOptions(options.Threads * 2)
            {
                SingleReader = true,
                SingleWriter = true,
            });
            var readerStats = new DataStats("segment");
            var workers = new ConcurrentBag<Worker>();
            Task producer = Task.Run(() => ProduceAsync(inputs, options, hasher, workers, queue.Writer, readerStats, stop.Token), stop.Token);
            try
            {
                await foreach (Task<ChunkResult> pending in queue.Reader.ReadAllAsync(stop.Token))
                {
                    ChunkResult chunk = await pending;
                    stats.Merge(chunk.Stats);
                    foreach (Kept k in chunk.Kept)
                    {
                        if (options.Dedup && exact.Contains(k.Exact))
                        {
                            stats.Add("dropped_exact_duplicate");
                            continue;
                        }
                        if (k.Bands != null && IsNearDuplicate(near, k.Bands))
                        {
                            stats.Add("dropped_near_duplicate");
                            continue;
                        }
                        if (options.MaxSegments > 0 && writer.RowCount >= options.MaxSegments)
                        {
                            stoppedAtMax = true;
                            break;
                        }
                        if (options.Dedup) exact.Add(k.Exact);
                        if (k.Bands != null)
                            foreach (ulong b in k.Bands) near.Add(b);
                        await writer.WriteAsync(new Candidate(k.SegmentId, k.Text, k.Url, k.SourceId), cancellationToken);
                    }
                    progress?.Report(new ProgressInfo("segment", chunk.InputPosition >> 20, totalBytes >> 20, "MB",
                        new Dictionary<string, string>
                        {
                            ["docs"] = stats["documents"].ToString(CultureInfo.InvariantCulture),
                            ["kept"] = writer.RowCount.ToString(CultureInfo.InvariantCulture),
                        }));
                    if (stoppedAtMax) break;
                }
            }
            finally
            {
                stop.Cancel();
                try { await producer; }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { }
            }
            cancellationToken.ThrowIfCancellationRequested();
            stats.Merge(readerStats);
            await writer.CompleteAsync(cancellationToken);
            stats.Add("segments_written", writer.RowCount);
        });

        double seconds = clock.Elapsed.TotalSeconds;
        double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds;
        stats.SetInfo("inputs", string.Join(", ", inputs.Select(Path.GetFileName)));
        stats.SetInfo("output", output);
        stats.SetInfo("seconds", seconds.ToString("0.00", CultureInfo.InvariantCulture));
        stats.SetInfo("json_mb_per_s", (stats["json_bytes"] / 1e6 / Math.Max(seconds, 1e-9)).ToString("0.0", CultureInfo.InvariantCulture));
        // CPU seconds of the whole process (all threads): on a shared machine MB per CPU-second says more
        // about the code than wall-clock MB/s.
        stats.SetInfo("cpu_seconds", cpu.ToString("0.00", CultureInfo.InvariantCulture));
        stats.SetInfo("json_mb_per_cpu_s", (stats["json_bytes"] / 1e6 / Math.Max(cpu, 1e-9)).ToString("0.0", CultureInfo.InvariantCulture));
        stats.SetInfo("dedup_index_mb", ((exact.Bytes + near.Bytes) / 1e6).ToString("0.0", CultureInfo.InvariantCulture));
        if (stoppedAtMax) stats.SetInfo("stopped", $"reached --max-segments {options.MaxSegments}; the rest of the input was not read");
        stats.SaveBeside(output);
        return stats;
    }

    private static bool IsNearDuplicate(LongHashSet near, ulong[] bands)
    {
        foreach (ulong b in bands)
            if (near.Contains(b)) return true;
        return false;
    }

    /// <summary>The reader: queues one worker task per block (json lines) or batch of rows (Parquet), in input order.</summary>
    private static async Task ProduceAsync(IReadOnlyList<string> inputs, SegmentOptions options, MinHasher hasher,
        ConcurrentBag<Worker> workers, ChannelWriter<Task<ChunkResult>> queue, DataStats stats, CancellationToken ct)
    {
        Exception? error = null;
        try
        {
            long before = 0;
            foreach (string path in inputs)
            {
                string name = Path.GetFileName(path);
                long length = new FileInfo(path).Length;
                stats.Add("files");
                stats.Add("input_bytes", length);
                if (InputFiles.Detect(path) == InputFormat.Parquet)
                {
                    await using ParquetTableReader table = await ParquetTableReader.OpenAsync(path, ct);
                    var text = table.Require("text", ColumnKind.String);
                    var url = table.Optional("url", ColumnKind.String);
                    long row = 0;
                    for (int g = 0; g < table.RowGroupCount; g++)
                    {
                        ParquetTableRowGroup rg = table.OpenRowGroup(g);
                        string?[] texts = await rg.ReadStringsAsync(text, ct);
                        string?[] urls = url == null ? new string?[texts.Length] : await rg.ReadStringsAsync(url, ct);
                        for (int start = 0; start < texts.Length; start += ParquetBatch)
                        {
                            int n = Math.Min(ParquetBatch, texts.Length - start);
                            var item = new RowsItem(name, row + start, texts.AsMemory(start, n), urls.AsMemory(start, n));
                            long position = before + (long)((double)length * (g + (double)(start + n) / texts.Length) / table.RowGroupCount);
                            await Enqueue(item, position);
                        }
                        row += texts.Length;
                    }
                }
                else
                {
                    Stream s = InputFiles.OpenJsonLines(path, out FileStream file);
                    long decompressed;
                    await using (s)
                    await using (file)
                    {
                        var reader = new LineBlockReader(s, options.BlockBytes);
                        while (reader.TryRead(out LineBlock block))
                            await Enqueue(new LinesItem(name, block), before + file.Position);
                        decompressed = reader.BytesRead;
                        stats.Add("json_bytes", decompressed);
                        if (s != file && length > 0 && !InputFiles.GzipTrailerMatches(path, decompressed))
                            stats.Skip("gzip_trailer_mismatch", $"{name}: truncated or corrupt gzip (size in trailer differs)");
                    }
                }
                before += length;
            }
        }
        catch (Exception e)
        {
            error = e;
            throw;
        }
        finally
        {
            queue.TryComplete(error is OperationCanceledException ? null : error);
        }

        async Task Enqueue(WorkItem item, long position)
        {
            item.InputPosition = position;
            Task<ChunkResult> task = Task.Run(() =>
            {
                if (!workers.TryTake(out Worker? w)) w = new Worker(options, hasher);
                try { return w.Process(item); }
                finally { workers.Add(w); }
            }, ct);
            await queue.WriteAsync(task, ct);
        }
    }

    private abstract class WorkItem(string file)
    {
        public string File { get; } = file;
        public long InputPosition { get; set; }
    }

    private sealed class LinesItem(string file, LineBlock block) : WorkItem(file)
    {
        public LineBlock Block { get; } = block;
    }

    private sealed class RowsItem(string file, long firstRow, ReadOnlyMemory<string?> texts, ReadOnlyMemory<string?> urls) : WorkItem(file)
    {
        public long FirstRow { get; } = firstRow;
        public ReadOnlyMemory<string?> Texts { get; } = texts;
        public ReadOnlyMemory<string?> Urls { get; } = urls;
    }

    private readonly record struct Kept(string SegmentId, string Text, string? Url, string SourceId, ulong Exact, ulong[]? Bands);

    private sealed class ChunkResult(DataStats stats, long inputPosition)
    {
        public DataStats Stats { get; } = stats;
        public List<Kept> Kept { get; } = new();
        public long InputPosition { get; } = inputPosition;
    }

    /// <summary>Per-thread scratch: segmenter, filters, word hashes, signature buffer.</summary>
    private sealed class Worker(SegmentOptions options, MinHasher hasher)
    {
        private readonly Segmenter _segmenter = new(options.MinChars, options.MaxChars);
        private readonly TextFilters _filters = new(options);
        private readonly SegmentWords _words = new();
        private readonly List<string> _pieces = new();
        private readonly uint[] _signature = new uint[hasher.SignatureLength];

        public ChunkResult Process(WorkItem item)
        {
            var result = new ChunkResult(new DataStats("segment"), item.InputPosition);
            switch (item)
            {
                case LinesItem lines:
                    var state = (this, result, lines.File);
                    lines.Block.ForEachLine(ref state, static (ref (Worker W, ChunkResult R, string File) s, ReadOnlySpan<byte> line, long n) =>
                        s.W.ProcessLine(s.File, line, n, s.R));
                    break;
                case RowsItem rows:
                    for (int i = 0; i < rows.Texts.Length; i++)
                    {
                        long row = rows.FirstRow + i;
                        string? text = rows.Texts.Span[i];
                        if (text == null)
                        {
                            result.Stats.Skip("skipped_missing_text", $"{rows.File}:row {row}");
                            continue;
                        }
                        ProcessDocument(text, rows.Urls.Span[i], $"{rows.File}:{row}", result);
                    }
                    break;
            }
            return result;
        }

        private void ProcessLine(string file, ReadOnlySpan<byte> line, long number, ChunkResult result)
        {
            result.Stats.Add("lines");
            switch (C4Document.TryParse(line, out string? text, out string? url))
            {
                case C4Document.ParseResult.Ok:
                    ProcessDocument(text!, url, $"{file}:{number}", result);
                    break;
                case C4Document.ParseResult.Blank:
                    break;
                case C4Document.ParseResult.InvalidUtf8:
                    result.Stats.Skip("skipped_invalid_utf8", $"{file}:line {number}");
                    break;
                case C4Document.ParseResult.Malformed:
                    result.Stats.Skip("skipped_malformed_json", $"{file}:line {number}");
                    break;
                case C4Document.ParseResult.MissingText:
                    result.Stats.Skip("skipped_missing_text", $"{file}:line {number}");
                    break;
            }
        }

        private void ProcessDocument(string text, string? url, string sourceId, ChunkResult result)
        {
            DataStats stats = result.Stats;
            stats.Add("documents");
            _pieces.Clear();
            Segmenter.Outcome outcome = _segmenter.Cut(text, _pieces);
            if (outcome.DocumentTooShort)
            {
                stats.Add("docs_too_short");
                return;
            }
            stats.Add("fragments_too_short", outcome.FragmentsDropped);
            stats.Add("segments_cut", _pieces.Count);
            bool analyse = options.QualityFilters || options.Dedup || options.NearDedup;
            for (int k = 0; k < _pieces.Count; k++)
            {
                string piece = _pieces[k];
                if (analyse) _words.Analyse(piece);
                if (options.QualityFilters && _filters.Check(piece, _words) is { } reason)
                {
                    stats.Add(reason);
                    continue;
                }
                ulong exactHash = options.Dedup ? _words.ExactHash() : 0;
                ulong[]? bands = null;
                if (options.NearDedup && hasher.Signature(_words.Words, _signature))
                {
                    bands = new ulong[hasher.Bands];
                    hasher.BandHashes(_signature, bands);
                }
                result.Kept.Add(new Kept($"{sourceId}/{k}", piece, url, sourceId, exactHash, bands));
            }
        }
    }
}
