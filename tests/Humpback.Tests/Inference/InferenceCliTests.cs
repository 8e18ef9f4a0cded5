using Humpback.Cli;
using Xunit;

namespace Humpback.Tests.Inference;

/// <summary>The generate / curate / merge / profile verbs: thin shells, so these only check wiring and exit codes.</summary>
[Collection("Console")]
public sealed class InferenceCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("humpback-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static Task<(int Code, string Out, string Err)> Run(params string[] args) => Humpback.Tests.Cli.CliRunner.RunAsync(args);

    [Fact]
    public async Task GenerateCurateAndMergeRunEndToEnd()
    {
        await JobTests.WriteInputAsync(P("in.parquet"), 12);
        string[] common = ["--model", TinyGguf.Path, "--parallel", "4", "--batch-size", "128", "--ctx", "1024", "--threads", "1"];

        var gen = await Run(["generate", .. common, "--input", P("in.parquet"), "--out", P("gen.parquet"), "--input-column", "output", "--id-column", "segment_id",
                             "--max-new-tokens", "6", "--stop", "\n", "--end-token", "<|eot_id|>"]);
        Assert.True(gen.Code == 0, gen.Err);
        Assert.Contains("generate: 12 rows", gen.Out, StringComparison.Ordinal);
        Assert.True(File.Exists(P("gen.stats.json")));

        for (int i = 0; i < 2; i++)
        {
            var cur = await Run(["curate", .. common, "--input", P("gen.parquet"), "--out", P($"s{i}.parquet"), "--id-column", "id",
                                 "--instruction-column", "generation", "--output-column", "output", "--shard", $"{i}/2"]);
            Assert.True(cur.Code == 0, cur.Err);
            Assert.Contains("scores:", cur.Out, StringComparison.Ordinal);
        }
        var merged = await Run("merge", "--inputs", P("s0.parquet"), P("s1.parquet"), "--out", P("scored.parquet"));
        Assert.True(merged.Code == 0, merged.Err);
        Assert.Contains("12 rows: all 2 shards", merged.Out, StringComparison.Ordinal);
        var rows = await JobTests.ReadOutputAsync(P("scored.parquet"));
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (long)i), rows.Select(r => (long)r["row_index"]!));
        Assert.Equal(Enumerable.Range(0, 12).Select(i => $"seg-{i}"), rows.Select(r => (string)r["id"]!));
    }

    [Fact]
    public async Task BadOptionsAreUsageErrorsAndBadInputsNameTheFile()
    {
        await JobTests.WriteInputAsync(P("in.parquet"), 3);
        var shard = await Run("curate", "--model", TinyGguf.Path, "--input", P("in.parquet"), "--out", P("o.parquet"), "--shard", "3/2");
        Assert.Equal(CliHost.ExitUsage, shard.Code);
        Assert.Contains("shard", shard.Err, StringComparison.Ordinal);

        var parallel = await Run("curate", "--model", TinyGguf.Path, "--input", P("in.parquet"), "--out", P("o.parquet"), "--parallel", "300");
        Assert.Equal(CliHost.ExitUsage, parallel.Code);
        Assert.Contains("256", parallel.Err, StringComparison.Ordinal);

        var column = await Run("curate", "--model", TinyGguf.Path, "--input", P("in.parquet"), "--out", P("o.parquet"), "--output-column", "text");
        Assert.Equal(CliHost.ExitFailure, column.Code);
        Assert.Contains(P("in.parquet"), column.Err, StringComparison.Ordinal);
        Assert.Contains("'text'", column.Err, StringComparison.Ordinal);

        var model = await Run("generate", "--model", P("missing.gguf"), "--input", P("in.parquet"), "--out", P("o.parquet"), "--input-column", "output");
        Assert.Equal(CliHost.ExitFailure, model.Code);
        Assert.Contains("missing.gguf", model.Err, StringComparison.Ordinal);

        var mode = await Run("profile", "nonsense");
        Assert.Equal(CliHost.ExitUsage, mode.Code);
        Assert.Contains("score, generate", mode.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProfileScoreWritesATableAndJson()
    {
        var r = await Run("profile", "score", "--model", TinyGguf.Path, "--parallel", "1,3", "--rows", "6", "--naive-rows", "2",
                          "--batch-size", "256", "--threads", "1", "--json", P("p.json"));
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("hand-tuned", r.Out, StringComparison.Ordinal);
        Assert.Contains("fraction_of_ideal_gain", r.Out, StringComparison.Ordinal);
        Assert.Contains("\"measurements\"", File.ReadAllText(P("p.json")), StringComparison.Ordinal);
        // The same rows measured a second way, through the curate job, with the ratio of the two.
        Assert.Contains("curate job", r.Out, StringComparison.Ordinal);
        Assert.Contains("curate_job_over_engine", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProfileGenerateOnARandomShapeCrossChecksTheJob()
    {
        var r = await Run("profile", "generate", "--random-shape", "d64-l2-h4-k2-f128-v1024", "--random-f32", "--parallel", "2", "--rows", "4",
                          "--naive-rows", "1", "--max-new-tokens", "4", "--batch-size", "128", "--ctx", "256", "--threads", "1");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("d64-l2-h4-k2-f128-v1024", r.Out, StringComparison.Ordinal);
        Assert.Contains("generate job", r.Out, StringComparison.Ordinal);
        Assert.Contains("generate_job_over_engine_P02", r.Out, StringComparison.Ordinal);

        var bad = await Run("profile", "generate", "--random-shape", "d64-x2");
        Assert.Equal(CliHost.ExitUsage, bad.Code);
        Assert.Contains("'x'", bad.Err, StringComparison.Ordinal);

        var type = await Run("profile", "generate", "--random-type", "q3_k");
        Assert.Equal(CliHost.ExitUsage, type.Code);
        Assert.Contains("--random-type", type.Err, StringComparison.Ordinal);
    }
}
