using CommandLine;
using Humpback.Formats;

namespace Humpback.Cli.Verbs;

[Verb("export", HelpText = "Export an HF Llama folder (optionally with a PEFT LoRA adapter) to GGUF for llama.cpp / LLamaSharp.")]
public sealed class ExportVerb : ICommand
{
    [Option("model", Required = true, HelpText = "HF model folder (config.json, safetensors, tokenizer.json).")]
    public string Model { get; set; } = "";

    [Option("adapter", HelpText = "PEFT LoRA adapter folder; needs --merge or --adapter-only.")]
    public string? Adapter { get; set; }

    [Option("merge", HelpText = "Fold the adapter into the weights (W += alpha/r · B·A) before export.")]
    public bool Merge { get; set; }

    [Option("adapter-only", HelpText = "Write only the adapter, as a GGUF LoRA adapter (types f32, f16).")]
    public bool AdapterOnly { get; set; }

    [Option("out", Required = true, HelpText = "Output .gguf file (written atomically).")]
    public string Out { get; set; } = "";

    [Option("type", Default = GgufExportType.F16, HelpText = "f32 | f16 | q8_0 | q4_0 | q4_k_m (K-quants need rows that are multiples of 256).")]
    public GgufExportType Type { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken)
    {
        string summary;
        try
        {
            summary = GgufExport.Export(new GgufExportRequest
            {
                ModelDir = Model, OutPath = Out, Type = Type, AdapterDir = Adapter, Merge = Merge, AdapterOnly = AdapterOnly,
            });
        }
        catch (ArgumentException e) when (e.ParamName == null)
        {
            throw new UsageException(e.Message, e);
        }
        Console.WriteLine(summary);
        return Task.FromResult(CliHost.ExitOk);
    }
}
