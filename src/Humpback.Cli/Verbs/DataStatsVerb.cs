using CommandLine;
using Humpback.Data;

namespace Humpback.Cli.Verbs;

[Verb("data stats", HelpText = "Row count, schema and column summaries (string length percentiles, numeric ranges) of a Parquet file.")]
public sealed class DataStatsVerb : ICommand
{
    [Value(0, Required = true, MetaName = "parquet", HelpText = "The Parquet file.")]
    public string Path { get; set; } = "";

    [Option("json", HelpText = "Print JSON.")]
    public bool Json { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken) => DataVerbs.RunAsync(async () =>
    {
        SetSummary summary = await SetStats.ComputeAsync(Path, cancellationToken);
        Console.Write(Json ? summary.ToJson() : summary.ToText());
        return CliHost.ExitOk;
    });
}
