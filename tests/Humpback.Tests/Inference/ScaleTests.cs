using Humpback.Inference;
using Humpback.Pipeline;
using Parquet;
using Parquet.Schema;
using Xunit;
using Xunit.Abstractions;

namespace Humpback.Tests.Inference;

/// <summary>Many rows through the whole job in bounded memory: managed memory sampled (after a full collection) as
/// parts are written must stay flat, not grow with the rows done.</summary>
public sealed class ScaleTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("humpback-scale-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public Task ScoresTenThousandRowsInBoundedMemory() => ScoreMany(10_000);

    [Fact]
    [Trait("Category", "Slow")]
    public Task ScoresAHundredThousandRowsInBoundedMemory() => ScoreMany(100_000);

    private async Task ScoreMany(int rows)
    {
        string input = Path.Combine(_dir, "in.parquet");
        string template = Path.Combine(_dir, "short.txt");
        File.WriteAllText(template, "Rate {instruction} as an answer to {output}");
        var instruction = new DataField<string>("instruction");
        var answer = new DataField<string>("output");
        await using (var fs = File.Create(input))
        await using (ParquetWriter w = await ParquetWriter.CreateAsync(new ParquetSchema(instruction, answer), fs))
        {
            for (int start = 0; start < rows; start += 5000)
            {
                using ParquetRowGroupWriter g = w.CreateRowGroup();
                await g.WriteAsync(instruction, Enumerable.Range(start, 5000).Select(i => $"q{i % 97}").ToArray());
                await g.WriteAsync(answer, Enumerable.Range(start, 5000).Select(i => $"a{i % 89}").ToArray());
            }
        }

        var samples = new List<(long Done, long Bytes)>();
        var progress = new JobTests.SyncProgress(p =>
        {
            if (p.Done > 0 && p.Done % 4096 < 64) samples.Add((p.Done, GC.GetTotalMemory(forceFullCollection: true)));
        });
        var clock = System.Diagnostics.Stopwatch.StartNew();
        JobStatistics stats = await CurateJob.RunAsync(new CurateJobOptions
        {
            ModelPath = TinyGguf.Path,
            InputPath = input,
            OutputPath = Path.Combine(_dir, "out.parquet"),
            Template = template,
            ChatFormat = ChatFormat.None,
            Engine = new EngineOptions { ParallelSequences = 64, BatchSize = 512, SequenceContext = 64, Threads = 1, KvCells = Environment.GetEnvironmentVariable("HB_KV") is string kv ? int.Parse(kv) : null },
            PartRows = 2048,
        }, progress);
        output.WriteLine($"{rows} rows in {clock.Elapsed.TotalSeconds:0.0} s ({stats.ThisRun!.RowsPerSecond:0} rows/s, decode {stats.ThisRun.DecodeSeconds:0.0} s in {stats.ThisRun.DecodeCalls} calls, {stats.ThisRun.TokensDecoded} tokens); managed MB by rows done: " +
                         string.Join(", ", samples.Select(s => $"{s.Done}: {s.Bytes / 1e6:0.0}")));

        Assert.Equal(rows, stats.Rows);
        Assert.Equal(0, stats.Errors);
        Assert.True(samples.Count >= 2, "progress samples");
        long first = samples[0].Bytes, peak = samples.Max(s => s.Bytes);
        Assert.True(peak < 200_000_000, $"managed memory peaked at {peak / 1e6:0} MB");
        Assert.True(peak - first < 48_000_000, $"managed memory grew from {first / 1e6:0} MB to {peak / 1e6:0} MB while rows were scored");
    }
}
