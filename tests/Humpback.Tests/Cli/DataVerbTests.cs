using Humpback.Cli;
using Humpback.Data;
using Humpback.Tests.Data;
using Xunit;

namespace Humpback.Tests.Cli;

/// <summary>Tests that redirect Console.Out must not run in parallel with each other.</summary>
[CollectionDefinition("Console")]
public sealed class ConsoleCollection;

[Collection("Console")]
public class DataVerbTests
{
    private static Task<(int Code, string Out, string Err)> Run(params string[] args) => Humpback.Tests.Cli.CliRunner.RunAsync(args);

    [Fact]
    public async Task SeedBackwardAndStatsFromTheCommandLine()
    {
        using var dir = new TempDir();
        string oasst = dir.File("train-00000-of-00001.parquet");
        await OasstFixtures.WriteParquetAsync(oasst, OasstFixtures.Trees());
        string seed = dir.File("seed.parquet");

        var (code, stdout, stderr) = await Run("data", "seed", "--input", dir.File("*.parquet"), "--out", seed, "--count", "2", "--seed", "3");
        Assert.True(code == 0, stderr);
        Assert.Contains("pairs_written", stdout, StringComparison.Ordinal);
        Assert.Equal(2, (await PairsFile.ReadAllAsync(seed)).Count);
        Assert.True(File.Exists(dir.File("seed.stats.json")));

        string backward = dir.File("backward.parquet");
        (code, _, stderr) = await Run("data", "backward", "--input", seed, "--out", backward);
        Assert.True(code == 0, stderr);

        (code, stdout, _) = await Run("data", "stats", backward);
        Assert.Equal(0, code);
        Assert.StartsWith("backward.parquet: 2 rows in 1 row group(s)", stdout, StringComparison.Ordinal);
        Assert.Contains("schema backward-pairs/1", stdout, StringComparison.Ordinal);
        Assert.Contains("instruction", stdout, StringComparison.Ordinal);

        (code, stdout, _) = await Run("data", "stats", backward, "--json");
        Assert.Equal(0, code);
        Assert.Contains("\"rows\": 2", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SegmentAndSelectFromTheCommandLine()
    {
        using var dir = new TempDir();
        SyntheticC4.WriteFile(dir.File("c4-train.00000-of-01024.json.gz"), 200_000, seed: 2);
        string candidates = dir.File("candidates.parquet");
        var (code, stdout, stderr) = await Run("data", "segment", "--input", dir.File("c4-train.*.json.gz"), "--out", candidates, "--threads", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("segments_written", stdout, StringComparison.Ordinal);
        Assert.Contains("json_mb_per_s", stdout, StringComparison.Ordinal);
        Assert.NotEmpty(await CandidatesFile.ReadAllAsync(candidates));

        string scored = dir.File("scored.parquet");
        await ScoredFixtures.WriteScoredAsync(scored, ScoredFixtures.Rows);
        string seed = dir.File("seed.parquet");
        await PairsFile.WriteAsync(seed, [new PairRecord("oasst1/T1", "Q?", "A.", "oasst1")]);
        string train = dir.File("train.parquet");
        (code, _, stderr) = await Run("data", "select", "--scored", scored, "--seed-pairs", seed, "--out", train,
            "--score-field", "argmax", "--order", "file", "--cap", "4");
        Assert.True(code == 0, stderr);
        List<TrainingExample> rows = await TrainingSetFile.ReadAllAsync(train);
        Assert.Equal(["oasst1/T1", "s0", "s1", "s5"], rows.Select(r => r.Id));
        Assert.Equal(["seed", "augmented", "augmented", "augmented"], rows.Select(r => r.Source));
    }

    [Fact]
    public async Task BadInputIsExitOneWithTheFileAndColumnAndBadOptionsAreExitTwo()
    {
        using var dir = new TempDir();
        string oasst = dir.File("oasst.parquet");
        await OasstFixtures.WriteParquetAsync(oasst, OasstFixtures.Trees(), skip: "rank");
        var (code, _, stderr) = await Run("data", "seed", "--input", oasst, "--out", dir.File("seed.parquet"));
        Assert.Equal(CliHost.ExitFailure, code);
        Assert.StartsWith("humpback: error: oasst.parquet: column 'rank' missing", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.File("seed.parquet")));

        (code, _, stderr) = await Run("data", "segment", "--input", oasst, "--out", dir.File("c.parquet"), "--min-chars", "100", "--max-chars", "50");
        Assert.Equal(CliHost.ExitUsage, code);
        Assert.Contains("min-chars", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await Run("data", "segment", "--input", dir.File("nothing-*.json.gz"), "--out", dir.File("c.parquet"));
        Assert.Equal(CliHost.ExitUsage, code);
        Assert.Contains("no data files match", stderr, StringComparison.Ordinal);

        (code, _, _) = await Run("data", "select", "--scored", oasst, "--out", dir.File("t.parquet"), "--order", "sideways");
        Assert.Equal(CliHost.ExitUsage, code);

        (code, _, stderr) = await Run("data", "download", "c4", "--out", dir.Path, "--shards", "5-2");
        Assert.Equal(CliHost.ExitUsage, code);
        Assert.Contains("shards '5-2'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DownloadFromALoopbackMirror()
    {
        await using var server = new LoopbackHttpServer();
        byte[] shard = new byte[50_000];
        new Random(5).NextBytes(shard);
        server.Files["/c4/en/c4-train.00003-of-01024.json.gz"] = shard;
        using var dir = new TempDir();
        var (code, stdout, stderr) = await Run("data", "download", "c4", "--out", dir.Path, "--base-url", server.BaseUrl + "/c4", "--shards", "3");
        Assert.True(code == 0, stderr);
        Assert.Equal(shard, File.ReadAllBytes(Path.Combine(dir.Path, "en", "c4-train.00003-of-01024.json.gz")));
        Assert.Contains("unverified", stderr, StringComparison.Ordinal);
        Assert.Contains("downloaded", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheDataGroupListsItsVerbs()
    {
        var (code, stdout, _) = await Run("data");
        Assert.Equal(0, code);
        foreach (string verb in new[] { "seed", "segment", "select", "backward", "stats", "download" })
            Assert.Contains($"data {verb}", stdout, StringComparison.Ordinal);
        (code, _, _) = await Run("data", "nope");
        Assert.Equal(CliHost.ExitUsage, code);
        (code, stdout, _) = await Run("data", "select", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--min-score", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void TheFirstProgressReportDoesNotOverflow()
    {
        var w = new StringWriter();
        var p = new ConsoleProgress(w, interactive: false, plainInterval: TimeSpan.FromHours(1));
        p.Report(new Humpback.Pipeline.ProgressInfo("segment", 1, 10, "MB"));
        p.Report(new Humpback.Pipeline.ProgressInfo("segment", 2, 10, "MB"));
        p.Report(new Humpback.Pipeline.ProgressInfo("segment", 10, 10, "MB"));
        Assert.Equal(2, w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }
}
