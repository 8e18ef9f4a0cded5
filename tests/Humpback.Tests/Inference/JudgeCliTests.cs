using Humpback.Cli;
using Xunit;
using Xunit.Abstractions;

namespace Humpback.Tests.Inference;

/// <summary>`humpback judge` (and `merge` of its shards): wiring, the printed summary, exit codes, argument names.</summary>
[Collection("Console")]
public sealed class JudgeCliTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("humpback-judge-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static Task<(int Code, string Out, string Err)> Run(params string[] args) => Humpback.Tests.Cli.CliRunner.RunAsync(args);

    private async Task WriteAnswersAsync()
    {
        await JudgeTests.WriteAnswersAsync(P("m1.parquet"), Enumerable.Range(0, 6).Select(i =>
            new JudgeTests.AnswerRow($"q{i}", JudgeTests.Q(i).Instruction, JudgeTests.Q(i).Output)));
        await JudgeTests.WriteAnswersAsync(P("m0.parquet"), Enumerable.Range(0, 7).Select(i =>
            new JudgeTests.AnswerRow($"q{i}", JudgeTests.Q(i).Instruction, JudgeTests.Q(i + 3).Output)));
    }

    private string[] Common(string judge) =>
        ["judge", "--judge", judge, "--a", P("m1.parquet"), "--b", P("m0.parquet"), "--name-a", "m1", "--name-b", "m0",
         "--parallel", "4", "--batch-size", "128", "--ctx", "1024", "--threads", "1"];

    [Fact]
    public async Task JudgeShardsAndMergePrintTheSummary()
    {
        await WriteAnswersAsync();
        var whole = await Run([.. Common(JudgeTests.JudgeModel.Value), "--out", P("v.parquet")]);
        Assert.True(whole.Code == 0, whole.Err);
        output.WriteLine(whole.Out);
        Assert.Contains("judge: 14 rows", whole.Out, StringComparison.Ordinal);
        Assert.Contains("6 of 7 questions judged in both orders", whole.Out, StringComparison.Ordinal);
        Assert.Contains("win rate", whole.Out, StringComparison.Ordinal);
        Assert.Contains("only in m0 1", whole.Out, StringComparison.Ordinal);
        Assert.True(File.Exists(P("v.summary.json")));
        Assert.True(File.Exists(P("v.stats.json")));

        for (int i = 0; i < 2; i++)
        {
            var shard = await Run([.. Common(JudgeTests.JudgeModel.Value), "--out", P($"s{i}.parquet"), "--shard", $"{i}/2"]);
            Assert.True(shard.Code == 0, shard.Err);
            Assert.Contains("one order only 0", shard.Out, StringComparison.Ordinal); // split by id: a question's two orders stay together
        }
        var merged = await Run("merge", "--inputs", P("s0.parquet"), P("s1.parquet"), "--out", P("merged.parquet"));
        Assert.True(merged.Code == 0, merged.Err);
        Assert.Contains("14 rows: all 2 shards", merged.Out, StringComparison.Ordinal);
        Assert.Contains("6 of 7 questions judged in both orders", merged.Out, StringComparison.Ordinal);
        Assert.True(File.Exists(P("merged.summary.json")));
    }

    [Fact]
    public async Task BadArgumentsAreNamed()
    {
        await WriteAnswersAsync();
        string judge = JudgeTests.JudgeModel.Value;

        var noFile = await Run("judge", "--judge", judge, "--a", P("m1.parquet"), "--b", P("missing.parquet"), "--out", P("o.parquet"));
        Assert.Equal(CliHost.ExitUsage, noFile.Code);
        Assert.Contains("--b", noFile.Err, StringComparison.Ordinal);
        Assert.Contains("missing.parquet", noFile.Err, StringComparison.Ordinal);

        var noJudge = await Run("judge", "--judge", P("judge.gguf"), "--a", P("m1.parquet"), "--b", P("m0.parquet"), "--out", P("o.parquet"));
        Assert.Equal(CliHost.ExitUsage, noJudge.Code);
        Assert.Contains("--judge", noJudge.Err, StringComparison.Ordinal);

        var noB = await Run("judge", "--judge", judge, "--a", P("m1.parquet"), "--out", P("o.parquet"));
        Assert.Equal(CliHost.ExitUsage, noB.Code);
        Assert.Contains("b", noB.Err, StringComparison.Ordinal);

        var names = await Run("judge", "--judge", judge, "--a", P("m1.parquet"), "--b", P("m0.parquet"), "--out", P("o.parquet"), "--name-a", "x", "--name-b", "x");
        Assert.Equal(CliHost.ExitUsage, names.Code);
        Assert.Contains("--name-a", names.Err, StringComparison.Ordinal);

        var margin = await Run("judge", "--judge", judge, "--a", P("m1.parquet"), "--b", P("m0.parquet"), "--out", P("o.parquet"), "--tie-margin", "0.7");
        Assert.Equal(CliHost.ExitUsage, margin.Code);
        Assert.Contains("--tie-margin", margin.Err, StringComparison.Ordinal);

        // An answers file without the generation column: the file and the column are named.
        await JudgeTests.WriteAnswersAsync(P("bad.parquet"), [new JudgeTests.AnswerRow("q0", "Why?", null)], withGeneration: false);
        var column = await Run("judge", "--judge", judge, "--a", P("bad.parquet"), "--b", P("m0.parquet"), "--out", P("o.parquet"));
        Assert.Equal(CliHost.ExitFailure, column.Code);
        Assert.Contains("bad.parquet", column.Err, StringComparison.Ordinal);
        Assert.Contains("'generation'", column.Err, StringComparison.Ordinal);

        // A judge whose vocabulary lacks " A" / " B" as single tokens.
        var letters = await Run([.. Common(TinyGguf.Path), "--out", P("o.parquet")]);
        Assert.Equal(CliHost.ExitFailure, letters.Code);
        Assert.Contains("not a single token", letters.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(P("o.parquet")));
    }
}
