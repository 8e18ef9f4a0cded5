using Humpback.Cli;
using Xunit;

namespace Humpback.Tests.Cli;

/// <summary>`profile compare a.json b.json`: ratios candidate ÷ baseline for every figure both files have, for the
/// train/kernels layout ("profiles" by name) and the score/generate layout ("measurements" by method and P, "summary").</summary>
[Collection("Console")]
public sealed class ProfileCompareTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("humpback-compare-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string json)
    {
        string p = Path.Combine(_dir, name);
        File.WriteAllText(p, json);
        return p;
    }

    [Fact]
    public async Task TrainProfilesAreComparedByName()
    {
        string a = Write("a.json", """{"kind":"train","profiles":[{"name":"train-full","tokens_per_s":1000,"mode":"full"}]}""");
        string b = Write("b.json", """{"kind":"train","profiles":[{"name":"train-full","tokens_per_s":1250,"mode":"full"}]}""");
        var r = await CliRunner.RunAsync("profile", "compare", a, b);
        Assert.True(r.Code == 0, r.Err);
        string line = r.Out.Split('\n').Single(l => l.Contains("tokens_per_s", StringComparison.Ordinal));
        Assert.StartsWith("train-full", line, StringComparison.Ordinal);
        Assert.EndsWith("1.250", line.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ScoreProfilesAreComparedByMethodAndParallel()
    {
        string a = Write("a.json", """
            {"mode":"score","measurements":[{"method":"engine","parallel":16,"rows_per_second":8},{"method":"naive","parallel":1,"rows_per_second":2}],
             "summary":{"fraction_of_ideal_gain":0.8}}
            """);
        string b = Write("b.json", """
            {"mode":"score","measurements":[{"method":"engine","parallel":16,"rows_per_second":10},{"method":"naive","parallel":1,"rows_per_second":2}],
             "summary":{"fraction_of_ideal_gain":0.9}}
            """);
        var r = await CliRunner.RunAsync("profile", "compare", a, b);
        Assert.True(r.Code == 0, r.Err);
        string[] lines = r.Out.Split('\n');
        Assert.EndsWith("1.250", lines.Single(l => l.StartsWith("engine P=16", StringComparison.Ordinal) && l.Contains("rows_per_second", StringComparison.Ordinal)).TrimEnd(), StringComparison.Ordinal);
        Assert.EndsWith("1.000", lines.Single(l => l.StartsWith("naive P=1", StringComparison.Ordinal) && l.Contains("rows_per_second", StringComparison.Ordinal)).TrimEnd(), StringComparison.Ordinal);
        Assert.EndsWith("1.125", lines.Single(l => l.StartsWith("summary", StringComparison.Ordinal)).TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadFilesAreNamed()
    {
        string a = Write("a.json", """{"kind":"train","profiles":[{"name":"train-full","tokens_per_s":1000}]}""");
        string other = Write("other.json", """{"something":1}""");
        var missing = await CliRunner.RunAsync("profile", "compare", a, Path.Combine(_dir, "nope.json"));
        Assert.Equal(CliHost.ExitUsage, missing.Code);
        Assert.Contains("nope.json", missing.Err, StringComparison.Ordinal);
        var wrong = await CliRunner.RunAsync("profile", "compare", a, other);
        Assert.Equal(CliHost.ExitFailure, wrong.Code);
        Assert.Contains("other.json", wrong.Err, StringComparison.Ordinal);
    }
}
