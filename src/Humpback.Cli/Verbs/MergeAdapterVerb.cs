using CommandLine;
using Humpback.Formats;
using Humpback.Model;

namespace Humpback.Cli.Verbs;

[Verb("merge-adapter", HelpText = "Fold a PEFT LoRA adapter into its base model (W += alpha/r · B·A) and write an HF folder.")]
public sealed class MergeAdapterVerb : ICommand
{
    [Option("model", Required = true, HelpText = "Base HF model folder.")]
    public string Model { get; set; } = "";

    [Option("adapter", Required = true, HelpText = "PEFT LoRA adapter folder.")]
    public string Adapter { get; set; } = "";

    [Option("out", Required = true, HelpText = "Output HF folder (written atomically).")]
    public string Out { get; set; } = "";

    [Option("dtype", HelpText = "Stored dtype: f32, bf16 or f16 (default: the base model's).")]
    public string? DType { get; set; }

    [Option("force", HelpText = "Replace --out even if it holds something other than a model.")]
    public bool Force { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken)
    {
        VerbArgs.CheckReplaceable(Out, Force, HfFolder.ConfigFile);
        HfCheckpoint ck = HfFolder.Load(Model);
        LoraAdapter adapter = PeftFolder.Load(Adapter, ck.Config);
        var merged = adapter.MergeInto(ck.Tensors);
        StorageDType dtype = DType == null ? ck.TorchDtype : VerbArgs.ParseDType(DType);
        HfFolder.Save(Out, ck.Config, merged, ck.Tokenizer, new HfSaveOptions { DType = dtype });
        Console.WriteLine($"{Out}: {Model} + LoRA r={adapter.Config.Rank}, alpha={adapter.Config.Alpha} on {adapter.Weights.Count} modules, stored as {FloatCodec.TorchName(dtype)}");
        return Task.FromResult(CliHost.ExitOk);
    }
}
