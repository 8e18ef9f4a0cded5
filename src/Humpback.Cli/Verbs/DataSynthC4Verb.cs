using CommandLine;
using Humpback.Data;

namespace Humpback.Cli.Verbs;

[Verb("data synth-c4", HelpText = "Write synthetic C4-like json lines (for benchmarks): prose with duplicates, near duplicates and boilerplate.")]
public sealed class DataSynthC4Verb : ICommand
{
    [Option("out", Required = true, HelpText = "Output file; gzip when it ends in .gz.")]
    public string Out { get; set; } = "";

    [Option("mb", Default = 200.0, HelpText = "Size of the json lines (before compression), in MB.")]
    public double Mb { get; set; }

    [Option("seed", Default = 1L, HelpText = "Generator seed.")]
    public long Seed { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken) => DataVerbs.RunAsync(() =>
    {
        if (Mb <= 0) throw new UsageException("--mb must be > 0");
        long docs = SyntheticC4.WriteFile(Out, (long)(Mb * 1e6), Seed);
        Console.WriteLine($"wrote {docs:N0} documents ({Mb:0.#} MB of json lines) to {Out}");
        return Task.FromResult(CliHost.ExitOk);
    });
}
