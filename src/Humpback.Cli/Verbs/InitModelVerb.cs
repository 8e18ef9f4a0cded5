using CommandLine;
using Humpback.Formats;
using Humpback.Model;

namespace Humpback.Cli.Verbs;

[Verb("init-model", HelpText = "Write a randomly initialised Llama (normal(0, 0.02) weights, ones for norms) as an HF folder.")]
public sealed class InitModelVerb : ICommand
{
    [Option("config", Required = true, HelpText = "HF-style config.json (vocab_size and model_type may be left out) or a preset: llama-3.2-1b, llama-3.2-3b.")]
    public string Config { get; set; } = "";

    [Option("tokenizer", Required = true, HelpText = "Folder with tokenizer.json; its vocab size and bos/eos/eot ids go into the config.")]
    public string Tokenizer { get; set; } = "";

    [Option("out", Required = true, HelpText = "Output folder (written atomically).")]
    public string Out { get; set; } = "";

    [Option("seed", Default = 0UL, HelpText = "Random seed; the same seed gives the same weights.")]
    public ulong Seed { get; set; }

    [Option("std", Default = 0.02f, HelpText = "Standard deviation of the weights (HF initializer_range).")]
    public float Std { get; set; }

    [Option("dtype", Default = "f32", HelpText = "Stored dtype: f32, bf16 or f16.")]
    public string DType { get; set; } = "f32";

    [Option("force", HelpText = "Replace --out even if it holds something other than a model.")]
    public bool Force { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken)
    {
        StorageDType dtype = VerbArgs.ParseDType(DType);
        VerbArgs.CheckReplaceable(Out, Force, HfFolder.ConfigFile);
        if (!Directory.Exists(Tokenizer)) throw new UsageException($"--tokenizer {Tokenizer}: no such folder");
        HumpbackTokenizer tok = HumpbackTokenizer.Load(Tokenizer);
        LlamaConfig config = ModelInit.ResolveConfig(Config, tok);
        var tensors = LlamaInit.Random(config, Seed, Std);
        cancellationToken.ThrowIfCancellationRequested();
        HfFolder.Save(Out, config, tensors, tok, new HfSaveOptions { DType = dtype });
        Console.WriteLine($"{Out}: {Inspector.DescribeConfig(config, dtype)}; seed {Seed}");
        return Task.FromResult(CliHost.ExitOk);
    }
}
