using CommandLine;
using Humpback.Data;

namespace Humpback.Cli.Verbs;

[Verb("data select", HelpText = "Training set: scored augmented pairs over a threshold, capped, plus the seed pairs, with Humpback system tags.")]
public sealed class DataSelectVerb : ICommand
{
    [Option("scored", Required = true, HelpText = "Scored candidates Parquet (id|segment_id, instruction, output|text, score_expected, score_argmax, p1..p5).")]
    public string Scored { get; set; } = "";

    [Option("seed-pairs", HelpText = "Seed pairs Parquet to mix in (tagged 'seed').")]
    public string? SeedPairs { get; set; }

    [Option("out", Required = true, HelpText = "Output Parquet (training-set schema).")]
    public string Out { get; set; } = "";

    [Option("min-score", Default = 4.5, HelpText = "Keep pairs whose score is at least this.")]
    public double MinScore { get; set; }

    [Option("score-field", Default = ScoreField.Expected, HelpText = "expected (E[score] from p1..p5) or argmax.")]
    public ScoreField ScoreField { get; set; }

    [Option("cap", Default = 16000, HelpText = "Most rows in the training set, seed rows included (0: no cap).")]
    public int Cap { get; set; }

    [Option("order", Default = SelectOrder.Score, HelpText = "Which pairs survive the cap, and their order: score, random or file.")]
    public SelectOrder Order { get; set; }

    [Option("mix", Default = SeedMix.Concat, HelpText = "concat (seed rows first) or shuffle (all rows, with --seed).")]
    public SeedMix Mix { get; set; }

    [Option("seed", Default = 1L, HelpText = "Seed for random order, tie-breaks and shuffling.")]
    public long Seed { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken) => DataVerbs.RunAsync(async () =>
    {
        var options = new SelectOptions { MinScore = MinScore, Field = ScoreField, Cap = Cap, Order = Order, Mix = Mix, Seed = Seed };
        DataStats stats = await Selector.RunAsync(Scored, SeedPairs, Out, options, new ConsoleProgress(), cancellationToken);
        DataVerbs.Print(stats, Out);
        return CliHost.ExitOk;
    });
}
