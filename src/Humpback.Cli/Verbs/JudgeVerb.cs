using CommandLine;
using Humpback.Inference;

namespace Humpback.Cli.Verbs;

[Verb("judge", HelpText = "Pairwise judge: a third model compares two models' answers (generate outputs) to the same instructions, each pair in both orders.")]
public sealed class JudgeVerb : EngineVerbOptions, ICommand
{
    [Option("judge", Required = true, HelpText = "GGUF of the judge model (a third model, e.g. a larger instruct model).")]
    public string Judge { get; set; } = "";

    // One-letter long names are not allowed by CommandLineParser, but a one-letter token matches the short name,
    // so --a, -a and --answers-a all work.
    [Option('a', "answers-a", Required = true, HelpText = "Answers of model a (--a): a `humpback generate` output (columns id, instruction, generation).")]
    public string A { get; set; } = "";

    [Option('b', "answers-b", Required = true, HelpText = "Answers of model b (--b), joined with a's by id.")]
    public string B { get; set; } = "";

    [Option("name-a", Default = "a", HelpText = "Name of model a in the summary (e.g. m1).")]
    public string NameA { get; set; } = "a";

    [Option("name-b", Default = "b", HelpText = "Name of model b in the summary (e.g. m0).")]
    public string NameB { get; set; } = "b";

    [Option("tie-margin", Default = JudgeVerdicts.DefaultTieMargin, HelpText = "A win needs both orders to prefer the model and a mean preference of at least 0.5 + this; otherwise a tie.")]
    public double TieMargin { get; set; }

    [Option("template", HelpText = "Template file replacing the judge prompt (must use {instruction}, {response_a}, {response_b}); 'The better response is:' is appended.")]
    public string? Template { get; set; }

    protected override string DefaultShardBy => "id";

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        foreach (var (flag, path) in new[] { ("--judge", Judge), ("--a", A), ("--b", B) })
            if (!File.Exists(path)) throw new UsageException($"{flag} {path}: file not found");
        if (string.IsNullOrWhiteSpace(NameA) || string.IsNullOrWhiteSpace(NameB) || NameA == NameB)
            throw new UsageException($"--name-a and --name-b must be two different names (got '{NameA}' and '{NameB}')");
        if (!(TieMargin >= 0 && TieMargin < 0.5)) throw new UsageException($"--tie-margin must be in [0, 0.5), got {TieMargin}");
        JudgeJobOptions options = ApplyEngine(new JudgeJobOptions
        {
            ModelPath = Judge,
            AnswersA = A,
            AnswersB = B,
            OutputPath = Out,
            NameA = NameA,
            NameB = NameB,
            TieMargin = TieMargin,
            Template = Template,
        });
        JudgeResult result = await JudgeJob.RunAsync(options, new ConsoleProgress(), cancellationToken);
        Console.WriteLine(result.Statistics.ToText());
        Console.WriteLine(result.Summary.ToText());
        Console.WriteLine($"statistics: {InferenceJobPaths.StatsPath(result.Statistics.Output)}, verdicts: {InferenceJobPaths.SummaryPath(result.Statistics.Output)}");
        return CliHost.ExitOk;
    }
}
