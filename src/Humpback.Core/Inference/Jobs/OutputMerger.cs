using System.Globalization;
using Humpback.IO;
using Parquet;

namespace Humpback.Inference;

/// <summary>What <see cref="OutputMerger"/> did.</summary>
/// <param name="Complete">the inputs were every shard of one run and held every input row exactly once</param>
/// <param name="Judge">for judge outputs: the verdicts over the merged rows (also saved as "&lt;out&gt;.summary.json")</param>
public sealed record MergeReport(long Rows, int Files, bool Complete, string Coverage, JobStatistics Statistics, JudgeSummary? Judge = null);

/// <summary>`humpback merge`: joins shard outputs of one generate / curate / judge run into one file ordered by the original
/// row index, streaming (a k-way merge over the files' row groups, one group per file in memory). Checks: same columns
/// and run (kind, input, fingerprint) in every file, no row twice; when the files are all shards 0..N−1 of one run,
/// also no gap (rows 0..input_rows−1 each present, taking into account that each shard holds its own rows only).</summary>
public static class OutputMerger
{
    private const int RowGroupRows = 16384;

    public static async Task<MergeReport> MergeAsync(IReadOnlyList<string> inputs, string output, bool overwrite = false, CancellationToken ct = default)
    {
        if (inputs.Count == 0) throw new ArgumentException("merge needs at least one input file");
        string outFull = Path.GetFullPath(output);
        if (File.Exists(outFull) && !overwrite) throw new IOException($"{outFull} already exists; pass --overwrite to replace it");
        var sources = new List<Source>();
        try
        {
            foreach (string path in inputs)
            {
                string full = Path.GetFullPath(path);
                if (full == outFull) throw new ArgumentException($"{full} is both an input and the output");
                sources.Add(await Source.OpenAsync(full, ct));
            }
            Source first = sources[0];
            foreach (Source s in sources.Skip(1))
            {
                if (!s.Columns.SequenceEqual(first.Columns))
                    throw new InvalidDataException($"{s.Path}: columns ({Names(s)}) differ from {first.Path} ({Names(first)})");
                foreach (string key in new[] { "humpback.kind", "humpback.input", "humpback.fingerprint", "humpback.input_rows", "humpback.shard_by" })
                {
                    if (s.Meta(key) != first.Meta(key))
                        throw new InvalidDataException($"{s.Path}: {key} is '{s.Meta(key)}' but {first.Path} has '{first.Meta(key)}' — not shards of one run");
                }
            }
            if (first.Columns.Count == 0 || first.Columns[0].Name != "row_index")
                throw new InvalidDataException($"{first.Path}: no row_index column (not a humpback generate/curate output)");

            (bool complete, string coverage, long? expectedRows) = Coverage(sources);
            var stats = new JobStatistics { Kind = first.Meta("humpback.kind") ?? "", Output = outFull, Input = first.Meta("humpback.input"), Model = first.Meta("humpback.model"), Shard = "0/1" };
            var layout = new RowLayout(first.Columns);
            long rows = 0;

            async IAsyncEnumerable<IReadOnlyList<object?[]>> Merged()
            {
                var heap = new PriorityQueue<Source, long>();
                foreach (Source s in sources)
                    if (await s.MoveNextAsync(ct)) heap.Enqueue(s, s.CurrentIndex);
                var buffer = new List<object?[]>(RowGroupRows);
                long previous = -1;
                Source? previousSource = null;
                while (heap.TryDequeue(out Source? s, out long index))
                {
                    if (index == previous)
                        throw new InvalidDataException($"row {index} appears twice: in {previousSource!.Path} and {s.Path}");
                    if (complete && index != previous + 1)
                        throw new InvalidDataException($"rows {previous + 1}..{index - 1} are missing although {coverage}");
                    previous = index;
                    previousSource = s;
                    stats.Tally(layout, s.Current);
                    buffer.Add(s.Current);
                    rows++;
                    if (buffer.Count >= RowGroupRows)
                    {
                        yield return buffer;
                        buffer = new List<object?[]>(RowGroupRows);
                    }
                    if (await s.MoveNextAsync(ct)) heap.Enqueue(s, s.CurrentIndex);
                }
                if (complete && expectedRows is long n && previous != n - 1)
                    throw new InvalidDataException($"rows {previous + 1}..{n - 1} are missing although {coverage}");
                if (buffer.Count > 0) yield return buffer;
            }

            var metadata = new Dictionary<string, string>(first.Metadata) { ["humpback.shard"] = complete ? "0/1" : "partial merge" };
            await ParquetTable.WriteFileAsync(outFull, first.Columns, Merged(), metadata, ct);
            AtomicFile.WriteAllText(InferenceJob.StatsPath(outFull), stats.ToJson());
            JudgeSummary? judge = null;
            if (stats.Kind == "judge")
            {
                // A question's two orders may sit in different shards (split by index): only the merged file has both.
                judge = await JudgeVerdicts.SummarizeFileAsync(outFull, ct: ct);
                AtomicFile.WriteAllText(InferenceJobPaths.SummaryPath(outFull), judge.ToJson());
            }
            return new MergeReport(rows, sources.Count, complete, coverage, stats, judge);
        }
        finally
        {
            foreach (Source s in sources) await s.DisposeAsync();
        }
    }

    private static string Names(Source s) => string.Join(", ", s.Columns.Select(c => c.Name));

    /// <summary>Whether the files are exactly the shards 0..N−1 of one run (then the merge must be gap-free).</summary>
    private static (bool Complete, string Coverage, long? Rows) Coverage(List<Source> sources)
    {
        var shards = sources.Select(s => (s, Spec: TryShard(s.Meta("humpback.shard")))).ToList();
        long? rows = long.TryParse(sources[0].Meta("humpback.input_rows"), NumberStyles.None, CultureInfo.InvariantCulture, out long r) ? r : null;
        if (shards.Any(x => x.Spec == null) || rows == null) return (false, "shard information missing: checked for duplicates only", rows);
        int count = shards[0].Spec!.Value.Count;
        if (shards.Any(x => x.Spec!.Value.Count != count))
            return (false, "the files are shards of different splits: checked for duplicates only", rows);
        var seen = new Dictionary<int, string>();
        foreach (var (s, spec) in shards)
        {
            if (!seen.TryAdd(spec!.Value.Index, s.Path))
                throw new InvalidDataException($"shard {spec.Value.Index}/{count} is given twice: {seen[spec.Value.Index]} and {s.Path}");
        }
        if (seen.Count == count) return (true, $"all {count} shards of {rows} input rows were given", rows);
        var missing = Enumerable.Range(0, count).Where(i => !seen.ContainsKey(i));
        return (false, $"partial: shards {string.Join(", ", missing.Select(i => $"{i}/{count}"))} not given (checked for duplicates only)", rows);
    }

    private static (int Index, int Count)? TryShard(string? text)
    {
        if (text == null) return null;
        try { ShardSpec s = ShardSpec.Parse(text); return (s.Index, s.Count); }
        catch (ArgumentException) { return null; }
    }

    /// <summary>One input file read row group by row group, rows in row_index order (as the jobs write them).</summary>
    private sealed class Source : IAsyncDisposable
    {
        private ParquetReader _reader = null!;
        private List<object?[]> _rows = [];
        private int _group = -1, _row = -1;
        private long _last = -1;

        public string Path { get; private init; } = "";
        public IReadOnlyList<OutputColumn> Columns { get; private set; } = [];
        public IReadOnlyDictionary<string, string> Metadata => _reader.CustomMetadata;
        public object?[] Current => _rows[_row];
        public long CurrentIndex => (long)Current[0]!;

        public string? Meta(string key) => _reader.CustomMetadata.TryGetValue(key, out string? v) ? v : null;

        public static async Task<Source> OpenAsync(string path, CancellationToken ct)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"merge input not found: {path}", path);
            var s = new Source { Path = path };
            try
            {
                s._reader = await ParquetReader.CreateAsync(path, cancellationToken: ct);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ArgumentException or InvalidOperationException)
            {
                throw new InvalidDataException($"{path}: not a readable Parquet file ({e.Message})", e);
            }
            s.Columns = ParquetTable.ColumnsOf(s._reader, path);
            return s;
        }

        public async Task<bool> MoveNextAsync(CancellationToken ct)
        {
            while (++_row >= _rows.Count)
            {
                if (++_group >= _reader.RowGroupCount) return false;
                _rows = await ParquetTable.ReadRowGroupAsync(_reader, _group, Columns, ct);
                _row = -1;
            }
            if (CurrentIndex <= _last) throw new InvalidDataException($"{Path}: rows are not in row_index order ({CurrentIndex} after {_last})");
            _last = CurrentIndex;
            return true;
        }

        public ValueTask DisposeAsync() => _reader?.DisposeAsync() ?? ValueTask.CompletedTask;
    }
}
