using CommandLine;
using Humpback.Formats;

namespace Humpback.Cli.Verbs;

[Verb("inspect", HelpText = "Print the metadata and tensor list of a GGUF file, safetensors file, HF model folder, PEFT adapter or tokenizer folder.")]
public sealed class InspectVerb : ICommand
{
    [Value(0, MetaName = "path", Required = true, HelpText = "file.gguf | file.safetensors | folder")]
    public string Path { get; set; } = "";

    [Option("items", Default = 5, HelpText = "Array elements shown per metadata key.")]
    public int Items { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken)
    {
        Console.Write(Inspector.Describe(Path, Items));
        return Task.FromResult(CliHost.ExitOk);
    }
}
