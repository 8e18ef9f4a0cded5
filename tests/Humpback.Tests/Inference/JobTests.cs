using System.Globalization;
using Humpback.Inference;
using Humpback.Pipeline;
using Parquet;
using Parquet.Schema;
using Xunit;

namespace Humpback.Tests.Inference;

/// <summary>Jobs end to end on the tiny model: Parquet in and out, shards + merge, kill + resume, bad inputs.</summary>
public sealed class JobTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("humpback-jobs-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    /// <summary>An input file with id, instruction and output columns, in row groups of <paramref name="groupRows"/>.</summary>
    internal static async Task WriteInputAsync(string path, int rows, int groupRows = 40, Func<int, string?>? output = null)
    {
        var id = new DataField<string>("segment_id");
        var instruction = new DataField<string>("instruction");
        var answer = new DataField<string>("output");
        var schema = new ParquetSchema(id, instruction, answer);
        await using var fs = File.Create(path);
        await using ParquetWriter w = await ParquetWriter.CreateAsync(schema, fs);
        for (int start = 0; start < rows; start += groupRows)
        {
            int n = Math.Min(groupRows, rows - start);
            using ParquetRowGroupWriter g = w.CreateRowGroup();
            var pairs = Enumerable.Range(start, n).Select(i => BatchEngineTests.Pairs[i % BatchEngineTests.Pairs.Length]).ToArray();
            await g.WriteAsync(id, Enumerable.Range(start, n).Select(i => $"seg-{i}").ToArray());
            await g.WriteAsync(instruction, pairs.Select((p, k) => $"{p.Instruction} ({start + k})").ToArray());
            await g.WriteAsync(answer, Enumerable.Range(start, n).Select(i => output != null ? output(i) : BatchEngineTests.Pairs[i % BatchEngineTests.Pairs.Length].Output).ToArray()!);
        }
    }

    internal static async Task<List<Dictionary<string, object?>>> ReadOutputAsync(string path)
    {
        await using ParquetReader r = await ParquetReader.CreateAsync(path);
        IReadOnlyList<OutputColumn> cols = ParquetTable.ColumnsOf(r, path);
        var rows = new List<Dictionary<string, object?>>();
        for (int g = 0; g < r.RowGroupCount; g++)
            foreach (object?[] row in await ParquetTable.ReadRowGroupAsync(r, g, cols))
                rows.Add(cols.Select((c, i) => (c.Name, row[i])).ToDictionary(x => x.Name, x => x.Item2));
        return rows;
    }

    private static EngineOptions Engine(int parallel = 8) => new() { ParallelSequences = parallel, BatchSize = 256, SequenceContext = 2048, Threads = 1 };

    private CurateJobOptions Curate(string input, string output, int parallel = 8) => new()
    {
        ModelPath = TinyGguf.Path,
        InputPath = input,
        OutputPath = output,
        IdColumn = "segment_id",
        Engine = Engine(parallel),
        PartRows = 16,
    };

    private GenerateJobOptions Generate(string input, string output, int parallel = 8) => new()
    {
        ModelPath = TinyGguf.Path,
        InputPath = input,
        OutputPath = output,
        IdColumn = "segment_id",
        Template = "backward",
        Columns = new Dictionary<string, string> { ["output"] = "output" },
        Generation = new GenerationSettings(Temperature: 1f, TopP: 0.9f, MaxNewTokens: 12, Seed: 5, StopStrings: ["\n\n"]),
        Engine = Engine(parallel),
        PartRows = 16,
    };

    [Fact]
    public async Task CurateLogitsWritesOneScoredRowPerInputRowInOrder()
    {
        await WriteInputAsync(P("in.parquet"), 50);
        JobStatistics stats = await CurateJob.RunAsync(Curate(P("in.parquet"), P("scored.parquet")));
        var rows = await ReadOutputAsync(P("scored.parquet"));

        Assert.Equal(50, rows.Count);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), rows.Select(r => (long)r["row_index"]!));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"seg-{i}"), rows.Select(r => (string)r["id"]!));
        Assert.Equal("Paris is the capital of France.", rows[0]["output"]);
        foreach (var r in rows)
        {
            double[] p = Enumerable.Range(1, 5).Select(d => (double)r[$"p{d}"]!).ToArray();
            Assert.Equal(1.0, p.Sum(), 9);
            Assert.InRange((double)r["p_digits_mass"]!, 1e-9, 1.0);
            Assert.InRange((double)r["score_expected"]!, 1.0, 5.0);
            Assert.Equal(Array.IndexOf(p, p.Max()) + 1, (int)r["score_argmax"]!);
            Assert.Null(r["error"]);
        }
        Assert.Equal(50, stats.Rows);
        Assert.Equal(50, stats.ScoreHistogram.Values.Sum());
        Assert.True(File.Exists(P("scored.stats.json")));
        Assert.False(Directory.Exists(P("scored.parquet.parts")), "parts are removed once the output is final");
        Assert.Equal(50, stats.ThisRun!.Rows);
    }

    [Fact]
    public async Task ShardsMergedEqualOneRun()
    {
        await WriteInputAsync(P("in.parquet"), 45);
        await CurateJob.RunAsync(Curate(P("in.parquet"), P("whole.parquet")));
        var shards = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            string o = P($"shard{i}.parquet");
            // Different parallelism per shard on purpose: results must not depend on it.
            await CurateJob.RunAsync(Curate(P("in.parquet"), o, parallel: 2 + 3 * i) with { Shard = new ShardSpec(i, 3) });
            shards.Add(o);
        }
        Assert.Equal(15, (await ReadOutputAsync(shards[1])).Count);
        MergeReport report = await OutputMerger.MergeAsync(shards, P("merged.parquet"));
        Assert.True(report.Complete, report.Coverage);

        var whole = await ReadOutputAsync(P("whole.parquet"));
        var merged = await ReadOutputAsync(P("merged.parquet"));
        AssertSameRows(whole, merged, 1e-5); // other batch shapes: llama.cpp's kernels round differently (~1e-7)

        // Two of three shards: merged without the gap check, and said so.
        MergeReport partial = await OutputMerger.MergeAsync(shards.Take(2).ToArray(), P("partial.parquet"));
        Assert.False(partial.Complete);
        Assert.Equal(30, partial.Rows);
        // The same shard twice is refused.
        var dup = await Assert.ThrowsAsync<InvalidDataException>(() => OutputMerger.MergeAsync([shards[0], shards[0]], P("dup.parquet")));
        Assert.Contains("twice", dup.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IdHashShardsOfAGenerationMergeToOneRun()
    {
        await WriteInputAsync(P("in.parquet"), 30);
        await GenerateJob.RunAsync(Generate(P("in.parquet"), P("whole.parquet")));
        string[] shards = [P("g0.parquet"), P("g1.parquet")];
        for (int i = 0; i < 2; i++)
            await GenerateJob.RunAsync(Generate(P("in.parquet"), shards[i], parallel: 3 + i) with { Shard = new ShardSpec(i, 2, ShardBy.IdHash) });
        MergeReport report = await OutputMerger.MergeAsync(shards, P("merged.parquet"));
        Assert.True(report.Complete, report.Coverage);
        AssertSameRows(await ReadOutputAsync(P("whole.parquet")), await ReadOutputAsync(P("merged.parquet")), 0);
    }

    [Fact]
    public async Task KilledRunResumesToTheSameOutput()
    {
        await WriteInputAsync(P("in.parquet"), 80);
        await GenerateJob.RunAsync(Generate(P("in.parquet"), P("once.parquet")));

        // Kill after two parts are on disk (a cancellation mid-run, like Ctrl-C or a crash).
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p => { if (p.Done >= 40) cts.Cancel(); });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => GenerateJob.RunAsync(Generate(P("in.parquet"), P("resumed.parquet")), progress, cts.Token));
        Assert.False(File.Exists(P("resumed.parquet")));
        int partsBefore = Directory.GetFiles(P("resumed.parquet.parts"), "part-*.parquet").Length;
        Assert.InRange(partsBefore, 1, 4);

        // A re-run with other decoding settings must not mix its rows with these parts.
        var changed = Generate(P("in.parquet"), P("resumed.parquet")) with { Generation = new GenerationSettings(Seed: 6, MaxNewTokens: 12) };
        var refused = await Assert.ThrowsAsync<IOException>(() => GenerateJob.RunAsync(changed));
        Assert.Contains("different run", refused.Message, StringComparison.Ordinal);

        JobStatistics stats = await GenerateJob.RunAsync(Generate(P("in.parquet"), P("resumed.parquet"), parallel: 5));
        Assert.Equal(partsBefore * 16, stats.ThisRun!.ResumedRows);
        Assert.Equal(80 - partsBefore * 16, stats.ThisRun.Rows);
        AssertSameRows(await ReadOutputAsync(P("once.parquet")), await ReadOutputAsync(P("resumed.parquet")), 0);

        // Finished: running again is refused unless asked to overwrite.
        await Assert.ThrowsAsync<IOException>(() => GenerateJob.RunAsync(Generate(P("in.parquet"), P("resumed.parquet"))));
    }

    [Fact]
    public async Task NullTextsAndTooLongPromptsAreErrorRowsNotCrashes()
    {
        string longText = string.Concat(Enumerable.Repeat("lorem ipsum dolor sit amet ", 200));
        await WriteInputAsync(P("in.parquet"), 20, output: i => i == 3 ? null : i == 7 ? longText : "A fine answer.");
        JobStatistics stats = await CurateJob.RunAsync(Curate(P("in.parquet"), P("out.parquet")) with { Engine = Engine() with { SequenceContext = 1024 } });
        var rows = await ReadOutputAsync(P("out.parquet"));
        Assert.Equal(20, rows.Count);
        Assert.Equal("column 'output' is null", rows[3]["error"]);
        Assert.Contains("more than the per-sequence context", (string)rows[7]["error"]!, StringComparison.Ordinal);
        Assert.Null(rows[7]["p1"]);
        Assert.Equal(2, stats.Errors);
    }

    [Fact]
    public async Task CurateGenerateModeParsesScoresStrictly()
    {
        await WriteInputAsync(P("in.parquet"), 10);
        JobStatistics stats = await CurateJob.RunAsync(Curate(P("in.parquet"), P("out.parquet")) with
        {
            Mode = CurateMode.Generate,
            Generation = new GenerationSettings(Temperature: 0, TopP: 1, MaxNewTokens: 8),
        });
        var rows = await ReadOutputAsync(P("out.parquet"));
        Assert.Equal(10, rows.Count);
        // A random model never writes "Score: N": every row is kept, with a null score, and counted.
        Assert.All(rows, r => Assert.Null(r["score"]));
        Assert.Equal(10, stats.Unparseable);
        Assert.Equal(4, CurateGenerateKind.ParseScore("The answer is complete.\nScore: 4\n"));
        Assert.Equal(5, CurateGenerateKind.ParseScore("Reasoning.\n  Score:5  "));
        Assert.Null(CurateGenerateKind.ParseScore("Score: 4\nThen more text"));
        Assert.Null(CurateGenerateKind.ParseScore("Score: 4.5"));
        Assert.Null(CurateGenerateKind.ParseScore("Score: 6"));
        Assert.Null(CurateGenerateKind.ParseScore("I give it Score: 5"));
    }

    [Fact]
    public async Task MalformedFileOrMissingColumnNamesFileAndColumn()
    {
        File.WriteAllText(P("bad.parquet"), "this is not parquet at all, just some text that is long enough");
        var bad = await Assert.ThrowsAsync<InvalidDataException>(() => CurateJob.RunAsync(Curate(P("bad.parquet"), P("o.parquet"))));
        Assert.Contains(P("bad.parquet"), bad.Message, StringComparison.Ordinal);

        await WriteInputAsync(P("in.parquet"), 5);
        var missing = await Assert.ThrowsAsync<InvalidDataException>(() => CurateJob.RunAsync(Curate(P("in.parquet"), P("o.parquet")) with { OutputColumn = "segment" }));
        Assert.Contains(P("in.parquet"), missing.Message, StringComparison.Ordinal);
        Assert.Contains("'segment'", missing.Message, StringComparison.Ordinal);
        Assert.Contains("instruction", missing.Message, StringComparison.Ordinal); // lists what is there

        var noId = await Assert.ThrowsAsync<InvalidDataException>(() => CurateJob.RunAsync(Curate(P("in.parquet"), P("o.parquet")) with { IdColumn = "uuid", IdColumnRequired = true }));
        Assert.Contains("'uuid'", noId.Message, StringComparison.Ordinal);

    }

    [Fact]
    public async Task EmptyInputsAndIntegerIdsWork()
    {
        await WriteInputAsync(P("empty.parquet"), 0);
        JobStatistics empty = await CurateJob.RunAsync(Curate(P("empty.parquet"), P("empty-out.parquet")));
        Assert.Equal(0, empty.Rows);
        Assert.Empty(await ReadOutputAsync(P("empty-out.parquet")));

        var id = new DataField<long>("id");
        var instruction = new DataField<string>("instruction");
        var answer = new DataField<string>("output");
        await using (var fs = File.Create(P("ints.parquet")))
        await using (ParquetWriter w = await ParquetWriter.CreateAsync(new ParquetSchema(id, instruction, answer), fs))
        {
            using ParquetRowGroupWriter g = w.CreateRowGroup();
            await g.WriteAsync<long>(id, new long[] { 900, 901, 902 });
            await g.WriteAsync(instruction, new[] { "a?", "b?", "c?" });
            await g.WriteAsync(answer, new[] { "x.", "y.", "z." });
        }
        await CurateJob.RunAsync(Curate(P("ints.parquet"), P("ints-out.parquet")) with { IdColumn = "id" });
        Assert.Equal(["900", "901", "902"], (await ReadOutputAsync(P("ints-out.parquet"))).Select(r => (string)r["id"]!));
    }

    internal static void AssertSameRows(List<Dictionary<string, object?>> a, List<Dictionary<string, object?>> b, double tolerance)
    {
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            foreach (var (key, value) in a[i])
            {
                if (value is double x) Assert.True(Math.Abs(x - (double)b[i][key]!) <= tolerance, $"row {i} {key}: {x} vs {b[i][key]}");
                else Assert.Equal(value, b[i][key]);
            }
        }
    }

    /// <summary>IProgress that runs on the reporting thread (Progress&lt;T&gt; would post to the thread pool, too late to cancel).</summary>
    internal sealed class SyncProgress(Action<ProgressInfo> action) : IProgress<ProgressInfo>
    {
        public void Report(ProgressInfo value) => action(value);
    }
}
