using CommandLine;
using Humpback.Inference;

namespace Humpback.Cli.Verbs;

[Verb("merge", HelpText = "Join shard outputs of one generate/curate/judge run into one file ordered by row index (checks duplicates and, for a full set of shards, gaps).")]
public sealed class MergeVerb : ICommand
{
    [Option("inputs", Required = true, Min = 1, HelpText = "Shard output files.")]
    public IEnumerable<string> Inputs { get; set; } = [];

    [Option("out", Required = true, HelpText = "Merged Parquet file (statistics beside it).")]
    public string Out { get; set; } = "";

    [Option("overwrite", HelpText = "Replace an existing output.")]
    public bool Overwrite { get; set; }

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        MergeReport report = await OutputMerger.MergeAsync(Inputs.ToArray(), Out, Overwrite, cancellationToken);
        Console.WriteLine($"merged {report.Files} files, {report.Rows} rows: {report.Coverage}");
        Console.WriteLine(report.Statistics.ToText());
        if (report.Judge != null) Console.WriteLine(report.Judge.ToText());
        return CliHost.ExitOk;
    }
}
