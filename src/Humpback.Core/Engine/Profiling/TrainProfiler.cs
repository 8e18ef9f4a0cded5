using System.Diagnostics;
using Humpback.Model;

namespace Humpback.Engine.Profiling;

public sealed record PhaseTimes(double Forward, double Backward, double Optimizer)
{
    public double Total => Forward + Backward + Optimizer;
}

public sealed record TrainProfile(
    string Mode, LlamaConfig Config, int Batch, int SeqLen, long Parameters, long TrainableParameters,
    double StepSeconds, double TokensPerSecond, double AchievedGflops, double SgemmBoundSeconds, double ShareOfSgemmBound,
    PhaseTimes Phases, IReadOnlyList<(string Op, double Seconds, long Calls)> Ops, long PeakRssBytes, long DeviceBytes)
{
    /// <summary>Tokens/s of the same step measured through the Trainer (`humpback train`), when cross-checked.</summary>
    public double? TrainerTokensPerSecond { get; init; }
    public double? CrossCheckRatio => TrainerTokensPerSecond / TokensPerSecond;
    /// <summary>The acceptance rule of the profile issue: the two measurements of one step agree within 10%.</summary>
    public bool CrossCheckAgrees => CrossCheckRatio is double r && Math.Abs(r - 1) <= 0.10;
}

/// <summary>Runs training steps of a config on random tokens and reports tokens/s, achieved GFLOP/s, the share of the
/// SGEMM-bound limit (6·params·tokens ÷ measured SGEMM FLOP/s) and a per-phase and per-op breakdown.</summary>
public static class TrainProfiler
{
    /// <summary>The benchmark config of the CPU engine issue: dim 512, 8 layers, 8 heads, 4 KV heads, FFN 1408,
    /// vocab 4096, tied embeddings.</summary>
    public static LlamaConfig DefaultConfig => new()
    {
        VocabSize = 4096, HiddenSize = 512, IntermediateSize = 1408, NumLayers = 8, NumHeads = 8, NumKvHeads = 4,
        MaxPositionEmbeddings = 2048, RopeTheta = 500000f, TieWordEmbeddings = true, BosTokenId = 1, EosTokenId = 2,
    };

    public static TrainProfile Run(Device device, LlamaConfig config, TrainMode mode, int batch, int seqLen, MachineCeilings ceilings,
        int steps = 3, LoraSettings? lora = null, bool recompute = false, DType precision = DType.F32)
    {
        using var model = new LlamaModel(device, config, mode, batch, seqLen, mode == TrainMode.Lora ? lora ?? new LoraSettings(16, 32f, LoraSettings.AllTargets) : null, recompute, precision);
        model.LoadWeights(LlamaInit.Random(config, 1));
        if (mode == TrainMode.Lora) model.InitLora(1);
        var rng = new Random(7);
        var seqs = Enumerable.Range(0, batch).Select(_ => Enumerable.Range(0, seqLen + 1).Select(_ => rng.Next(config.VocabSize)).ToArray()).ToList();
        TrainingBatch b = TrainingBatch.FromSequences(seqs, seqLen);
        float scale = 1f / b.CountTargets();

        // Warm-up step (first-touch of memory, BLAS thread start-up).
        model.ZeroGradients();
        model.ForwardBackward(b, scale);
        model.OptimizerStep(1e-5f, 0.1f);

        double fwd = double.MaxValue, fb = double.MaxValue, opt = double.MaxValue, step = double.MaxValue;
        for (int s = 0; s < steps; s++)
        {
            long t0 = Stopwatch.GetTimestamp();
            model.ZeroGradients();
            model.ForwardBackward(b, scale);
            long t1 = Stopwatch.GetTimestamp();
            model.OptimizerStep(1e-5f, 0.1f);
            device.Synchronize();
            long t2 = Stopwatch.GetTimestamp();
            fb = Math.Min(fb, Stopwatch.GetElapsedTime(t0, t1).TotalSeconds);
            opt = Math.Min(opt, Stopwatch.GetElapsedTime(t1, t2).TotalSeconds);
            step = Math.Min(step, Stopwatch.GetElapsedTime(t0, t2).TotalSeconds);
            long t3 = Stopwatch.GetTimestamp();
            model.ForwardLosses(b);
            device.Synchronize();
            fwd = Math.Min(fwd, Stopwatch.GetElapsedTime(t3).TotalSeconds);
        }

        // One more step with per-op timing (kept apart so the timer's overhead does not touch the figures above).
        var timer = new OpTimer();
        model.Timer = timer;
        model.ZeroGradients();
        model.ForwardBackward(b, scale);
        model.OptimizerStep(1e-5f, 0.1f);
        model.Timer = null;

        long tokens = (long)batch * seqLen;
        long p = config.ParameterCount;
        // Full fine-tuning: 6·N FLOP per token (forward 2N, backward 4N). LoRA skips the frozen weights' gradients: 4·N.
        double flops = (mode == TrainMode.Full ? 6.0 : 4.0) * p * tokens;
        double bound = flops / (ceilings.GemmGflops * 1e9);
        var ops = timer.Ops.Select(kv => (kv.Key, kv.Value.Time.TotalSeconds, kv.Value.Calls)).OrderByDescending(o => o.Item2).ToList();
        string name = mode.ToString().ToLowerInvariant() + (precision == DType.Bf16 ? "-bf16" : "");
        return new TrainProfile(name, config, batch, seqLen, p, model.TrainableParameterCount,
            step, tokens / step, flops / step / 1e9, bound, bound / step, new PhaseTimes(fwd, Math.Max(0, fb - fwd), opt), ops,
            Process.GetCurrentProcess().PeakWorkingSet64, model.DeviceBytes);
    }
}
