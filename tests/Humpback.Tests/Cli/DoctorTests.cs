using Humpback.Cli;
using Xunit;

namespace Humpback.Tests.Cli;

[Collection("Console")]
public class DoctorTests
{
    private static Task<(int Code, string Out, string Err)> Run(params string[] args) => Humpback.Tests.Cli.CliRunner.RunAsync(args);

    [Fact]
    public async Task DoctorSucceedsAndSaysWhetherThereIsAGpu()
    {
        var (code, stdout, _) = await Run("doctor");
        Assert.Equal(0, code);
        Assert.Contains("native library", stdout, StringComparison.Ordinal);
        Assert.Contains("CUDA devices", stdout, StringComparison.Ordinal);
        Assert.Contains("LLamaSharp", stdout, StringComparison.Ordinal);
        Assert.Contains("ggml", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownVerbIsAUsageError()
    {
        var (code, _, stderr) = await Run("no-such-verb");
        Assert.Equal(CliHost.ExitUsage, code);
        Assert.Contains("no-such-verb", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HelpOnAVerbExitsZero()
    {
        var (code, stdout, _) = await Run("doctor", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--json", stdout, StringComparison.Ordinal);
    }
}
