using Humpback.Model;
using Humpback.Prompts;

namespace Humpback.Training;

/// <summary>Everything `humpback train` takes. Defaults follow the paper: lr 1e-5 decaying linearly to 9e-6,
/// weight decay 0.1, batch 32 (8 under 3,000 examples).</summary>
public sealed record TrainOptions
{
    public required string BaseDir { get; init; }
    public required string DataPath { get; init; }
    public required string OutDir { get; init; }
    public TrainMode Mode { get; init; } = TrainMode.Lora;
    public LoraSettings Lora { get; init; } = new();
    public Objective Objective { get; init; } = Objective.Sft;
    public ChatFormatKind Format { get; init; } = ChatFormatKind.Llama3;
    public float Lr { get; init; } = 1e-5f;
    public float? FinalLr { get; init; }
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Linear;
    public int WarmupSteps { get; init; }
    public float WeightDecay { get; init; } = 0.1f;
    public float MaxGradNorm { get; init; } = 1f;
    /// <summary>Examples per micro-batch; 0 = the paper's rule (32, or 8 under 3,000 examples).</summary>
    public int BatchSize { get; init; }
    public int GradAccum { get; init; } = 1;
    public int MaxSeqLen { get; init; } = 2048;
    public OverlongPolicy Overlong { get; init; } = OverlongPolicy.Truncate;
    public bool Pack { get; init; } = true;
    public double Epochs { get; init; } = 1;
    /// <summary>Optimizer steps; when set it overrides <see cref="Epochs"/>.</summary>
    public long? Steps { get; init; }
    public int Seed { get; init; } = 42;
    public bool Shuffle { get; init; } = true;
    public bool Resume { get; init; }
    /// <summary>Checkpoint every N steps (0 = only at the end).</summary>
    public int CheckpointEvery { get; init; } = 100;
    /// <summary>Checkpoints kept (older ones are deleted); 0 = keep all.</summary>
    public int KeepCheckpoints { get; init; } = 2;
    public bool Recompute { get; init; }
    /// <summary>fp32, or bf16 mixed precision (bf16 frozen weights and saved activations, fp32 master weights,
    /// gradients and optimizer state; see LlamaModel).</summary>
    public Engine.DType Precision { get; init; } = Engine.DType.F32;
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; }

    /// <summary>The paper's final learning rate is 0.9 of the initial one (1e-5 → 9e-6).</summary>
    public float ResolvedFinalLr => FinalLr ?? Lr * 0.9f;

    public int ResolvedBatchSize(int examples) => BatchSize > 0 ? BatchSize : examples < 3000 ? 8 : 32;

    public void Validate()
    {
        if (!(Lr > 0) || !float.IsFinite(Lr)) throw new ArgumentException($"--lr must be a finite value > 0 (got {Lr})");
        if (FinalLr is float f && (f < 0 || !float.IsFinite(f))) throw new ArgumentException($"--final-lr must be >= 0 (got {f})");
        if (WeightDecay < 0) throw new ArgumentException($"--weight-decay must be >= 0 (got {WeightDecay})");
        if (BatchSize < 0) throw new ArgumentException($"--batch-size must be >= 0 (got {BatchSize})");
        if (GradAccum < 1) throw new ArgumentException($"--grad-accum must be >= 1 (got {GradAccum})");
        if (MaxSeqLen < 2) throw new ArgumentException($"--max-seq-len must be >= 2 (got {MaxSeqLen})");
        if (Steps is long s && s < 1) throw new ArgumentException($"--steps must be >= 1 (got {s})");
        if (Steps == null && !(Epochs > 0)) throw new ArgumentException($"--epochs must be > 0 (got {Epochs})");
        if (WarmupSteps < 0) throw new ArgumentException($"--warmup-steps must be >= 0 (got {WarmupSteps})");
        if (CheckpointEvery < 0) throw new ArgumentException($"--checkpoint-every must be >= 0 (got {CheckpointEvery})");
        if (Mode == TrainMode.Lora) Lora.Validate();
    }
}
