using CommandLine;
using Humpback.Inference;

namespace Humpback.Cli.Verbs;

[Verb("curate", HelpText = "Rate (instruction, output) pairs on the paper's 5-point scale (self-curation).")]
public sealed class CurateVerb : InferenceVerbOptions, ICommand
{
    [Option("mode", Default = CurateMode.Logits, HelpText = "logits: probabilities of the digits after 'Score: ' (p1..p5, expected score); generate: the paper's reasoning then 'Score: N', parsed strictly.")]
    public CurateMode Mode { get; set; }

    [Option("instruction-column", Default = "instruction", HelpText = "Column with the (generated) instruction.")]
    public string InstructionColumn { get; set; } = "instruction";

    [Option("output-column", Default = "output", HelpText = "Column with the candidate answer (the web segment).")]
    public string OutputColumn { get; set; } = "output";

    [Option("template", HelpText = "Template file replacing the paper's curation prompt (must use {instruction} and {output}).")]
    public string? Template { get; set; }

    [Option("temperature", Default = 0f, HelpText = "Generate mode: sampling temperature (0: greedy).")]
    public float Temperature { get; set; }

    [Option("top-p", Default = 1f, HelpText = "Generate mode: nucleus threshold.")]
    public float TopP { get; set; }

    [Option("top-k", Default = 0, HelpText = "Generate mode: top-k (0: off).")]
    public int TopK { get; set; }

    [Option("seed", Default = 1234UL, HelpText = "Generate mode: sampling seed.")]
    public ulong Seed { get; set; }

    [Option("max-new-tokens", Default = 256, HelpText = "Generate mode: most tokens for the reasoning and score.")]
    public int MaxNewTokens { get; set; }

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        CurateJobOptions options;
        try
        {
            var generation = new GenerationSettings(Temperature, TopP, TopK, MaxNewTokens, Seed);
            if (Mode == CurateMode.Generate) generation.Validate();
            options = Apply(new CurateJobOptions
            {
                ModelPath = Model,
                InputPath = Input,
                OutputPath = Out,
                Mode = Mode,
                InstructionColumn = InstructionColumn,
                OutputColumn = OutputColumn,
                Template = Template,
                Generation = generation,
            });
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message, e);
        }
        return await RunJobAsync(p => CurateJob.RunAsync(options, p, cancellationToken));
    }
}
