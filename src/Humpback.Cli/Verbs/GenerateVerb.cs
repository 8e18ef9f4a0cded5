using CommandLine;
using Humpback.Inference;

namespace Humpback.Cli.Verbs;

[Verb("generate", HelpText = "Generate text for each input row from a prompt template (self-augmentation: --template backward).")]
public sealed class GenerateVerb : InferenceVerbOptions, ICommand
{
    [Option("template", Default = "backward", HelpText = "Built-in template (backward, forward) or a template file using {instruction}, {output}, {text}.")]
    public string Template { get; set; } = "backward";

    [Option("input-column", Default = "text", HelpText = "Column filling a one-placeholder template.")]
    public string InputColumn { get; set; } = "text";

    [Option("column", HelpText = "placeholder=column bindings for templates with several placeholders (e.g. instruction=question).")]
    public IEnumerable<string>? Columns { get; set; }

    [Option("temperature", Default = 1.0f, HelpText = "Sampling temperature (0: greedy).")]
    public float Temperature { get; set; }

    [Option("top-p", Default = 0.9f, HelpText = "Nucleus sampling threshold (1: off).")]
    public float TopP { get; set; }

    [Option("top-k", Default = 0, HelpText = "Keep the k most likely tokens (0: off).")]
    public int TopK { get; set; }

    [Option("seed", Default = 1234UL, HelpText = "Seed; with each row's id it fixes the row's sampling, whatever the batching or sharding.")]
    public ulong Seed { get; set; }

    [Option("max-new-tokens", Default = 256, HelpText = "Most generated tokens per row (finish_reason 'length').")]
    public int MaxNewTokens { get; set; }

    [Option("stop", HelpText = "Stop strings (finish_reason 'stop'; the text is cut before them).")]
    public IEnumerable<string>? Stop { get; set; }

    [Option("end-token", HelpText = "Extra end-of-generation tokens by spelling, e.g. '<|eot_id|>' (the model's own EOS/EOT always end).")]
    public IEnumerable<string>? EndTokens { get; set; }

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        GenerateJobOptions options;
        try
        {
            PromptTemplate template = PromptTemplate.Resolve(Template, System);
            var bindings = new Dictionary<string, string>();
            if (template.Placeholders.Count == 1) bindings[template.Placeholders[0]] = InputColumn;
            foreach (string c in Columns ?? [])
            {
                string[] kv = c.Split('=', 2);
                if (kv.Length != 2 || !template.Placeholders.Contains(kv[0]))
                    throw new ArgumentException($"--column '{c}' must be placeholder=column with a placeholder of the template ({string.Join(", ", template.Placeholders)})");
                bindings[kv[0]] = kv[1];
            }
            var generation = new GenerationSettings(Temperature, TopP, TopK, MaxNewTokens, Seed, Stop?.ToArray());
            generation.Validate();
            options = Apply(new GenerateJobOptions
            {
                ModelPath = Model,
                InputPath = Input,
                OutputPath = Out,
                Template = Template,
                Columns = bindings,
                Generation = generation,
                EndTokens = EndTokens?.ToArray() ?? [],
            });
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException)
        {
            throw new UsageException(e.Message, e);
        }
        return await RunJobAsync(p => GenerateJob.RunAsync(options, p, cancellationToken));
    }
}
