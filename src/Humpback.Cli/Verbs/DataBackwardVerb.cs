using CommandLine;
using Humpback.Data;

namespace Humpback.Cli.Verbs;

[Verb("data backward", HelpText = "Backward-model pairs: each seed pair reversed (instruction = the reply, output = the prompt).")]
public sealed class DataBackwardVerb : ICommand
{
    [Option("input", Required = true, HelpText = "Seed pairs Parquet (from data seed).")]
    public string Input { get; set; } = "";

    [Option("out", Required = true, HelpText = "Output Parquet (backward-pairs schema).")]
    public string Out { get; set; } = "";

    public Task<int> RunAsync(CancellationToken cancellationToken) => DataVerbs.RunAsync(async () =>
    {
        DataStats stats = await OasstSeed.WriteBackwardAsync(Input, Out, cancellationToken);
        DataVerbs.Print(stats, Out);
        return CliHost.ExitOk;
    });
}
