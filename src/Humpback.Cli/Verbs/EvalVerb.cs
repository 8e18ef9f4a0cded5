using CommandLine;
using Humpback.Pipeline;

namespace Humpback.Cli.Verbs;

[Verb("eval", HelpText = "Evaluate the models of a reproduce run folder: held-out accuracy per skill, curation precision/recall against hidden labels, perplexity on held-out gold; writes report.md with PNG charts.")]
public sealed class EvalVerb : ICommand
{
    [Option("run", Required = true, HelpText = "A run folder written by `humpback reproduce` (its config.json is used).")]
    public string Run { get; set; } = "";

    public Task<int> RunAsync(CancellationToken cancellationToken)
    {
        string configPath = Path.Combine(Run, "config.json");
        if (!File.Exists(configPath)) throw new UsageException($"--run {Run}: no config.json (not a reproduce run folder)");
        ReproduceConfig c = ReproduceConfig.Load(configPath);
        RunFolder run = new Reproduce(c, new ConsoleProgress(), Console.Error).Evaluate(Run, cancellationToken);
        Console.WriteLine($"report: {run.PathOf(Evaluation.ReportFile)}");
        return Task.FromResult(CliHost.ExitOk);
    }
}
