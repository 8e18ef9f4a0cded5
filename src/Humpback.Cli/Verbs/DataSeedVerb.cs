using CommandLine;
using Humpback.Data;

namespace Humpback.Cli.Verbs;

[Verb("data seed", HelpText = "Seed pairs from oasst1 (Parquet, trees or messages JSON lines): first turns, English, rank-0 replies, sampled.")]
public sealed class DataSeedVerb : ICommand
{
    [Option("input", Required = true, Min = 1, HelpText = "oasst1 files, folders or globs (data/*.parquet, *.trees.jsonl.gz).")]
    public IEnumerable<string> Input { get; set; } = [];

    [Option("out", Required = true, HelpText = "Output Parquet (seed-pairs schema).")]
    public string Out { get; set; } = "";

    [Option("count", Default = 3200, HelpText = "Pairs to sample (all when fewer are eligible).")]
    public int Count { get; set; }

    [Option("seed", Default = 1L, HelpText = "Sampling seed.")]
    public long Seed { get; set; }

    [Option("lang", Default = "en", HelpText = "Language of prompt and reply.")]
    public string Lang { get; set; } = "en";

    public Task<int> RunAsync(CancellationToken cancellationToken) => DataVerbs.RunAsync(async () =>
    {
        if (Count < 0) throw new UsageException("--count must be >= 0");
        IReadOnlyList<string> inputs = InputFiles.Expand(Input);
        var options = new OasstSeedOptions { Count = Count, Seed = Seed, Lang = Lang };
        DataStats stats = await OasstSeed.RunAsync(inputs, Out, options, new ConsoleProgress(), cancellationToken);
        DataVerbs.Print(stats, Out);
        return CliHost.ExitOk;
    });
}
