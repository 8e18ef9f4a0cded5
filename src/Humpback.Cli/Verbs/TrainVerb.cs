using System.Globalization;
using CommandLine;
using Humpback.Model;
using Humpback.Prompts;
using Humpback.Training;

namespace Humpback.Cli.Verbs;

[Verb("train", HelpText = "Fine-tune (SFT) or pre-train (--objective lm) a Llama, LoRA or full; resumable. Defaults follow the paper.")]
public sealed class TrainVerb : ICommand
{
    [Option("base", Required = true, HelpText = "Base model: HF folder (config.json, model.safetensors, tokenizer.json).")]
    public string Base { get; set; } = "";

    [Option("data", Required = true, HelpText = "Parquet or JSONL(.gz) with instruction, output[, system, id]; for --objective lm a `text` column or a .txt file.")]
    public string Data { get; set; } = "";

    [Option("out", Required = true, HelpText = "Output folder: final model, metrics.jsonl, checkpoints/.")]
    public string Out { get; set; } = "";

    [Option("mode", Default = "lora", HelpText = "lora | full.")]
    public string Mode { get; set; } = "lora";

    [Option("objective", Default = "sft", HelpText = "sft (loss on responses) | lm (loss on all text).")]
    public string Objective { get; set; } = "sft";

    [Option("chat-format", Default = "llama3", HelpText = "llama3 | plain (for small models made from scratch).")]
    public string ChatFormat { get; set; } = "llama3";

    [Option("lora-rank", Default = 16)] public int LoraRank { get; set; } = 16;
    [Option("lora-alpha", Default = 32f)] public float LoraAlpha { get; set; } = 32f;
    [Option("lora-targets", Default = "q,k,v,o", HelpText = "Comma list of q,k,v,o,gate,up,down, or all.")] public string LoraTargets { get; set; } = "q,k,v,o";

    [Option("lr", Default = 1e-5f)] public float Lr { get; set; } = 1e-5f;
    [Option("final-lr", HelpText = "Learning rate at the last step (default 0.9 × --lr, the paper's 1e-5 → 9e-6).")] public float? FinalLr { get; set; }
    [Option("schedule", Default = "linear", HelpText = "linear | cosine | constant.")] public string Schedule { get; set; } = "linear";
    [Option("warmup-steps", Default = 0)] public int WarmupSteps { get; set; }
    [Option("weight-decay", Default = 0.1f)] public float WeightDecay { get; set; } = 0.1f;
    [Option("max-grad-norm", Default = 1f, HelpText = "Global gradient-norm clip (0 = off).")] public float MaxGradNorm { get; set; } = 1f;
    [Option("batch-size", Default = 0, HelpText = "Examples per micro-batch (0 = 32, or 8 under 3,000 examples).")] public int BatchSize { get; set; }
    [Option("grad-accum", Default = 1, HelpText = "Micro-batches per optimizer step.")] public int GradAccum { get; set; } = 1;
    [Option("max-seq-len", Default = 2048)] public int MaxSeqLen { get; set; } = 2048;
    [Option("overlong", Default = "truncate", HelpText = "truncate | skip examples longer than --max-seq-len (counted).")] public string Overlong { get; set; } = "truncate";
    [Option("no-pack", HelpText = "One example per row instead of packing several per row.")] public bool NoPack { get; set; }
    [Option("epochs", Default = 1.0)] public double Epochs { get; set; } = 1;
    [Option("steps", HelpText = "Optimizer steps (overrides --epochs).")] public long? Steps { get; set; }
    [Option("seed", Default = 42)] public int Seed { get; set; } = 42;
    [Option("no-shuffle", HelpText = "Keep file order.")] public bool NoShuffle { get; set; }
    [Option("resume", HelpText = "Continue from the last checkpoint in --out (optimizer state, schedule, data position).")] public bool Resume { get; set; }
    [Option("checkpoint-every", Default = 100, HelpText = "Steps between checkpoints (0 = only at the end).")] public int CheckpointEvery { get; set; } = 100;
    [Option("recompute", HelpText = "Recompute activations in the backward (less memory for long sequences).")] public bool Recompute { get; set; }
    [Option("device", Default = "cpu", HelpText = "cpu | cuda | cuda:N.")] public string Device { get; set; } = "cpu";
    [Option("precision", Default = "fp32", HelpText = "fp32 | bf16: bf16 mixed precision keeps frozen weights and saved activations in bf16 (fp32 master weights, gradients and optimizer state; fp32 accumulation).")] public string Precision { get; set; } = "fp32";
    [Option("threads", Default = 0, HelpText = "CPU threads (0 = all cores).")] public int Threads { get; set; }

    internal TrainOptions ToOptions()
    {
        TrainMode mode = Mode.ToLowerInvariant() switch
        {
            "lora" => TrainMode.Lora,
            "full" => TrainMode.Full,
            _ => throw new UsageException($"--mode must be lora or full (got '{Mode}')"),
        };
        var objective = Objective.ToLowerInvariant() switch
        {
            "sft" => Training.Objective.Sft,
            "lm" => Training.Objective.Lm,
            _ => throw new UsageException($"--objective must be sft or lm (got '{Objective}')"),
        };
        var schedule = Schedule.ToLowerInvariant() switch
        {
            "linear" => ScheduleKind.Linear,
            "cosine" => ScheduleKind.Cosine,
            "constant" => ScheduleKind.Constant,
            _ => throw new UsageException($"--schedule must be linear, cosine or constant (got '{Schedule}')"),
        };
        var overlong = Overlong.ToLowerInvariant() switch
        {
            "truncate" => OverlongPolicy.Truncate,
            "skip" => OverlongPolicy.Skip,
            _ => throw new UsageException($"--overlong must be truncate or skip (got '{Overlong}')"),
        };
        Engine.DType precision;
        try { precision = Engine.DTypeExtensions.Parse(Precision, "--precision"); } catch (ArgumentException e) { throw new UsageException(e.Message); }
        ChatFormatKind format;
        try { format = Prompts.ChatFormat.Parse(ChatFormat); } catch (ArgumentException e) { throw new UsageException($"--chat-format: {e.Message}"); }
        var o = new TrainOptions
        {
            BaseDir = Base, DataPath = Data, OutDir = Out, Mode = mode, Objective = objective, Format = format,
            Lora = new LoraSettings(LoraRank, LoraAlpha, LoraSettings.ParseTargets(LoraTargets)),
            Lr = Lr, FinalLr = FinalLr, Schedule = schedule, WarmupSteps = WarmupSteps, WeightDecay = WeightDecay,
            MaxGradNorm = MaxGradNorm, BatchSize = BatchSize, GradAccum = GradAccum, MaxSeqLen = MaxSeqLen, Overlong = overlong,
            Pack = !NoPack, Epochs = Epochs, Steps = Steps, Seed = Seed, Shuffle = !NoShuffle, Resume = Resume,
            CheckpointEvery = CheckpointEvery, Recompute = Recompute, Precision = precision, Device = Device, Threads = Threads,
        };
        try { o.Validate(); } catch (ArgumentException e) { throw new UsageException(e.Message); }
        return o;
    }

    public Task<int> RunAsync(CancellationToken cancellationToken)
    {
        TrainOptions o = ToOptions();
        var trainer = new Trainer(HfModelStore.Instance, new ConsoleProgress(), Console.Error);
        TrainResult r = trainer.Run(o, cancellationToken);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"trained {r.Steps} steps in {r.Seconds:F1} s ({r.Tokens / Math.Max(r.Seconds, 1e-9):F0} tokens/s), final loss {r.FinalLoss:F4}; model in {r.OutDir}"));
        return Task.FromResult(CliHost.ExitOk);
    }
}
