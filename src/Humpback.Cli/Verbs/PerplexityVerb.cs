using System.Globalization;
using CommandLine;
using Humpback.Training;

namespace Humpback.Cli.Verbs;

[Verb("perplexity", HelpText = "Per-example token count and mean negative log-likelihood over the response (or whole text).")]
public sealed class PerplexityVerb : ICommand
{
    [Option("model", Required = true, HelpText = "HF model folder.")] public string Model { get; set; } = "";
    [Option("adapter", HelpText = "PEFT adapter folder to apply.")] public string? Adapter { get; set; }
    [Option("data", Required = true, HelpText = "Parquet or JSONL with instruction/output (or text for --objective lm).")] public string Data { get; set; } = "";
    [Option("out", HelpText = "JSONL output: id, tokens, mean_nll, perplexity per example.")] public string? Out { get; set; }
    [Option("objective", Default = "sft", HelpText = "sft | lm.")] public string Objective { get; set; } = "sft";
    [Option("chat-format", Default = "llama3", HelpText = "llama3 | plain.")] public string ChatFormat { get; set; } = "llama3";
    [Option("max-seq-len", Default = 2048)] public int MaxSeqLen { get; set; } = 2048;
    [Option("batch-size", Default = 8)] public int BatchSize { get; set; } = 8;
    [Option("device", Default = "cpu")] public string Device { get; set; } = "cpu";
    [Option("threads", Default = 0)] public int Threads { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken)
    {
        if (BatchSize < 1) throw new UsageException($"--batch-size must be >= 1 (got {BatchSize})");
        var o = new PerplexityOptions
        {
            ModelDir = Model, AdapterDir = Adapter, DataPath = Data, OutPath = Out, MaxSeqLen = MaxSeqLen, BatchSize = BatchSize,
            Device = Device, Threads = Threads,
            Objective = Objective.ToLowerInvariant() switch
            {
                "sft" => Training.Objective.Sft,
                "lm" => Training.Objective.Lm,
                _ => throw new UsageException($"--objective must be sft or lm (got '{Objective}')"),
            },
            Format = Enum.TryParse(ChatFormat, true, out Prompts.ChatFormatKind k) ? k : throw new UsageException($"--chat-format must be llama3 or plain (got '{ChatFormat}')"),
        };
        var (rows, mean) = PerplexityEvaluator.Run(HfModelStore.Instance, o, cancellationToken);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{rows.Count} examples, {rows.Sum(r => (long)r.Tokens)} tokens: mean NLL {mean:F4}, perplexity {Math.Exp(mean):F3}{(Out != null ? $"; wrote {Out}" : "")}"));
        return Task.FromResult(CliHost.ExitOk);
    }
}
