using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Humpback.Engine;
using Humpback.IO;
using Humpback.Model;
using Humpback.Pipeline;

namespace Humpback.Training;

/// <summary>Training stopped because the loss or the gradient stopped being finite.</summary>
public sealed class TrainingDivergedException : InvalidOperationException
{
    public TrainingDivergedException() { }
    public TrainingDivergedException(string message) : base(message) { }
    public TrainingDivergedException(string message, Exception inner) : base(message, inner) { }
}

public sealed record TrainResult(long Steps, double FinalLoss, string OutDir, CollatorStats Stats, double Seconds, long Tokens);

/// <summary>
/// Fine-tunes (or pre-trains) a Llama: deterministic data order from the seed, packing, gradient accumulation,
/// schedules, checkpoints with optimizer state and data position, metrics.jsonl, resume, NaN guard.
/// </summary>
/// <remarks>
/// Out folder: the final model (HF files for full, PEFT adapter for LoRA), <c>metrics.jsonl</c> (one line per
/// step), <c>checkpoints/step-NNNNNNNN/</c> (model + <c>optimizer.bin</c> + <c>trainer_state.json</c>) and
/// <c>train_complete.json</c>, written last.
/// Optimizer step s takes examples [s·E, (s+1)·E) of the stream made of one permutation per epoch
/// (E = batch × grad-accum), so a step's data depends only on (seed, s): resuming needs just the step.
/// </remarks>
public sealed class Trainer
{
    public const string MetricsFile = "metrics.jsonl";
    public const string CompleteFile = "train_complete.json";
    private const string CheckpointsDir = "checkpoints";
    private const string StateFile = "trainer_state.json";
    private const string OptimizerFile = "optimizer.bin";

    private readonly IModelStore _store;
    private readonly IProgress<ProgressInfo>? _progress;
    private readonly TextWriter _log;

    public Trainer(IModelStore store, IProgress<ProgressInfo>? progress = null, TextWriter? log = null)
    {
        _store = store;
        _progress = progress;
        _log = log ?? TextWriter.Null;
    }

    /// <summary>Test hook: called after each optimizer step with the step number (1-based); may throw to simulate a kill.</summary>
    public Action<long>? AfterStep { get; set; }

    public TrainResult Run(TrainOptions o, CancellationToken ct = default)
    {
        o.Validate();
        IReadOnlyList<TrainingExample> examples = TrainingData.Load(o.DataPath, o.Objective);
        var (config, weights) = _store.LoadBase(o.BaseDir);
        ITextTokenizer tokenizer = _store.LoadTokenizer(o.BaseDir);
        if (tokenizer.VocabSize > config.VocabSize)
            throw new InvalidDataException($"{o.BaseDir}: tokenizer has {tokenizer.VocabSize} tokens but config.json vocab_size is {config.VocabSize}");

        var collator = new Collator(tokenizer, o.Format, o.Objective, Math.Min(o.MaxSeqLen, config.MaxPositionEmbeddings), o.Overlong);
        var tokenized = new List<TokenizedExample>(examples.Count);
        for (int i = 0; i < examples.Count; i++)
        {
            if (collator.Tokenize(i, examples[i]) is { } t) tokenized.Add(t);
        }
        if (tokenized.Count == 0)
            throw new InvalidDataException($"{o.DataPath}: all {examples.Count} examples were skipped (longer than --max-seq-len {o.MaxSeqLen}, or no response tokens)");
        if (collator.Stats.Truncated + collator.Stats.Skipped > 0)
            _log.WriteLine($"data: {collator.Stats.Truncated} examples truncated, {collator.Stats.Skipped} skipped (max-seq-len {collator.MaxSeqLen})");

        int batch = o.ResolvedBatchSize(tokenized.Count);
        long perStep = (long)batch * o.GradAccum;
        long totalSteps = o.Steps ?? Math.Max(1, (long)Math.Ceiling(o.Epochs * tokenized.Count / perStep));
        var schedule = new LrSchedule(o.Schedule, o.Lr, o.ResolvedFinalLr, o.WarmupSteps, totalSteps);

        Directory.CreateDirectory(o.OutDir);
        using Device device = Engine.Device.Parse(o.Device, o.Threads);
        using var model = new LlamaModel(device, config, o.Mode, batch, collator.MaxSeqLen, o.Mode == TrainMode.Lora ? o.Lora : null, o.Recompute, o.Precision);
        model.LoadWeights(weights, o.BaseDir);
        if (o.Mode == TrainMode.Lora) model.InitLora(o.Seed);
        _log.WriteLine($"model: {config.ParameterCount / 1e6:F1}M params, {o.Mode.ToString().ToLowerInvariant()} fine-tuning, {o.Precision.Name()}, " +
                       $"{model.DeviceBytes / 1048576.0:F0} MiB planned on {o.Device} (batch {batch} x {collator.MaxSeqLen})");

        long startStep = 0;
        string metricsPath = Path.Combine(o.OutDir, MetricsFile);
        if (o.Resume && LatestCheckpoint(o.OutDir) is { } ckpt)
        {
            startStep = LoadCheckpoint(model, ckpt, o);
            TruncateMetrics(metricsPath, startStep);
            _log.WriteLine($"resumed from {ckpt} at step {startStep}");
        }
        else if (!o.Resume)
        {
            if (File.Exists(metricsPath)) File.Delete(metricsPath);
            string oldCkpts = Path.Combine(o.OutDir, CheckpointsDir);
            if (Directory.Exists(oldCkpts)) Directory.Delete(oldCkpts, recursive: true);
            File.Delete(Path.Combine(o.OutDir, CompleteFile));
        }

        var clock = Stopwatch.StartNew();
        long tokensSeen = 0;
        double lastLoss = double.NaN;
        using var metrics = new StreamWriter(new FileStream(metricsPath, FileMode.Append, FileAccess.Write, FileShare.Read));
        for (long step = startStep; step < totalSteps; step++)
        {
            ct.ThrowIfCancellationRequested();
            var stepClock = Stopwatch.StartNew();
            List<TokenizedExample> stepExamples = ExamplesForStep(tokenized, step, perStep, o);
            var micro = new List<TrainingBatch>();
            for (int i = 0; i < stepExamples.Count; i += batch)
                micro.Add(collator.Pack(stepExamples.GetRange(i, Math.Min(batch, stepExamples.Count - i)), o.Pack));
            int targets = micro.Sum(b => b.CountTargets());
            float lr = schedule.At(step);
            model.ZeroGradients();
            long stepTokens = 0;
            // Every micro-batch and the optimizer are queued without waiting; OptimizerStepWithLoss reads the loss and the gradient
            // norm back once, at the end. A diverged step is refused then (its update is never checkpointed).
            foreach (TrainingBatch b in micro)
            {
                model.Accumulate(b, 1f / targets);
                stepTokens += stepExamples.Count == 0 ? 0 : b.Segments.Count(s => s >= 0);
            }
            var (gradNorm, lossSum) = model.OptimizerStepWithLoss(lr, o.WeightDecay, o.MaxGradNorm);
            double loss = lossSum / targets;
            if (!double.IsFinite(loss))
                throw new TrainingDivergedException($"training diverged at step {step + 1}: loss is {loss}; the last good checkpoint is kept in {Path.Combine(o.OutDir, CheckpointsDir)}");
            if (!float.IsFinite(gradNorm))
                throw new TrainingDivergedException($"training diverged at step {step + 1}: gradient norm is {gradNorm}; the last good checkpoint is kept in {Path.Combine(o.OutDir, CheckpointsDir)}");
            tokensSeen += stepTokens;
            lastLoss = loss;
            double secs = stepClock.Elapsed.TotalSeconds;
            metrics.WriteLine(JsonSerializer.Serialize(new
            {
                step = step + 1,
                loss = Math.Round(loss, 6),
                lr,
                grad_norm = gradNorm,
                tokens = stepTokens,
                loss_tokens = targets,
                tokens_per_s = Math.Round(stepTokens / Math.Max(secs, 1e-9), 1),
                elapsed_s = Math.Round(clock.Elapsed.TotalSeconds, 3),
            }));
            metrics.Flush();
            _progress?.Report(new ProgressInfo("train", step + 1, totalSteps, "steps", new Dictionary<string, string>
            {
                ["loss"] = loss.ToString("F4", CultureInfo.InvariantCulture),
                ["tok/s"] = (stepTokens / Math.Max(secs, 1e-9)).ToString("F0", CultureInfo.InvariantCulture),
            }));
            bool last = step + 1 == totalSteps;
            if (last || (o.CheckpointEvery > 0 && (step + 1) % o.CheckpointEvery == 0))
                SaveCheckpoint(model, o, step + 1, totalSteps);
            AfterStep?.Invoke(step + 1);
        }

        SaveFinal(model, o);
        var result = new TrainResult(totalSteps, lastLoss, o.OutDir, collator.Stats, clock.Elapsed.TotalSeconds, tokensSeen);
        AtomicFile.WriteAllText(Path.Combine(o.OutDir, CompleteFile), JsonSerializer.Serialize(new
        {
            steps = totalSteps,
            final_loss = double.IsFinite(lastLoss) ? lastLoss : (double?)null,
            examples = tokenized.Count,
            truncated = collator.Stats.Truncated,
            skipped = collator.Stats.Skipped,
            mode = o.Mode.ToString().ToLowerInvariant(),
            seconds = clock.Elapsed.TotalSeconds,
        }, new JsonSerializerOptions { WriteIndented = true }));
        return result;
    }

    /// <summary>The examples of optimizer step <paramref name="step"/>: a window of the per-epoch permutation stream.</summary>
    internal static List<TokenizedExample> ExamplesForStep(IReadOnlyList<TokenizedExample> all, long step, long perStep, TrainOptions o)
    {
        var list = new List<TokenizedExample>((int)perStep);
        int n = all.Count;
        int[]? perm = null;
        long cachedEpoch = -1;
        for (long k = step * perStep; k < (step + 1) * perStep; k++)
        {
            long epoch = k / n;
            if (epoch != cachedEpoch)
            {
                perm = Permutation(n, o.Shuffle ? unchecked((int)(o.Seed * 1000003L + epoch * 7919L) & int.MaxValue) : -1);
                cachedEpoch = epoch;
            }
            list.Add(all[perm![k % n]]);
        }
        return list;
    }

    private static int[] Permutation(int n, int seed)
    {
        int[] p = Enumerable.Range(0, n).ToArray();
        if (seed == -1) return p;
        var rng = new Random(seed);
        for (int i = n - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }

    // ------------------------------------------------------------------ checkpoints

    private static string? LatestCheckpoint(string outDir)
    {
        string dir = Path.Combine(outDir, CheckpointsDir);
        if (!Directory.Exists(dir)) return null;
        return Directory.GetDirectories(dir, "step-*")
            .Where(d => File.Exists(Path.Combine(d, StateFile)))
            .OrderBy(d => d, StringComparer.Ordinal)
            .LastOrDefault();
    }

    private void SaveCheckpoint(LlamaModel model, TrainOptions o, long step, long totalSteps)
    {
        string dir = Path.Combine(o.OutDir, CheckpointsDir, $"step-{step:D8}");
        AtomicFile.WriteDirectory(dir, tmp =>
        {
            SaveModel(model, o, tmp);
            float[] opt = model.ExportOptimizerState();
            using (var fs = File.Create(Path.Combine(tmp, OptimizerFile)))
            using (var w = new BinaryWriter(fs))
            {
                w.Write(0x4F504248u); // "HBPO"
                w.Write(opt.LongLength);
                w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(opt.AsSpan()));
            }
            File.WriteAllText(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(new
            {
                step,
                total_steps = totalSteps,
                optimizer_step = model.Step,
                seed = o.Seed,
                mode = o.Mode.ToString().ToLowerInvariant(),
            }, new JsonSerializerOptions { WriteIndented = true }));
        });
        if (o.KeepCheckpoints > 0)
        {
            string root = Path.Combine(o.OutDir, CheckpointsDir);
            foreach (string old in Directory.GetDirectories(root, "step-*").OrderBy(d => d, StringComparer.Ordinal).SkipLast(o.KeepCheckpoints))
                Directory.Delete(old, recursive: true);
        }
    }

    private long LoadCheckpoint(LlamaModel model, string dir, TrainOptions o)
    {
        using var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, StateFile)));
        long step = state.RootElement.GetProperty("step").GetInt64();
        long optStep = state.RootElement.GetProperty("optimizer_step").GetInt64();
        string mode = state.RootElement.GetProperty("mode").GetString() ?? "";
        if (!mode.Equals(o.Mode.ToString(), StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"{dir}: checkpoint was trained with --mode {mode}, this run uses --mode {o.Mode.ToString().ToLowerInvariant()}");
        if (o.Mode == TrainMode.Full)
        {
            var (_, w) = _store.LoadBase(dir);
            model.LoadWeights(w, dir);
        }
        else
        {
            var (_, tensors) = _store.LoadAdapter(dir);
            model.LoadLora(tensors, dir);
        }
        string optPath = Path.Combine(dir, OptimizerFile);
        using var fs = File.OpenRead(optPath);
        using var r = new BinaryReader(fs);
        if (fs.Length < 12 || r.ReadUInt32() != 0x4F504248u) throw new InvalidDataException($"{optPath}: not a Humpback optimizer state file");
        long n = r.ReadInt64();
        if (n < 0 || fs.Length != 12 + n * 4) throw new InvalidDataException($"{optPath}: header says {n} values but the file holds {(fs.Length - 12) / 4}");
        var values = new float[n];
        fs.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        model.LoadOptimizerState(values, optStep);
        return step;
    }

    private static void TruncateMetrics(string path, long step)
    {
        if (!File.Exists(path)) return;
        var keep = new List<string>();
        foreach (string line in File.ReadAllLines(path))
        {
            try
            {
                using var d = JsonDocument.Parse(line);
                if (d.RootElement.GetProperty("step").GetInt64() <= step) keep.Add(line);
            }
            catch (JsonException)
            {
                // A torn last line from a kill: dropped.
            }
        }
        AtomicFile.WriteAllText(path, keep.Count == 0 ? "" : string.Join('\n', keep) + "\n");
    }

    private void SaveModel(LlamaModel model, TrainOptions o, string dir)
    {
        if (o.Mode == TrainMode.Full) _store.SaveFull(dir, model.Config, model.ExportWeights(), o.BaseDir);
        else _store.SaveAdapter(dir, model.Lora!, model.ExportLora(), o.BaseDir);
    }

    /// <summary>The final model goes into the out folder itself, file by file (each move is atomic), next to
    /// metrics.jsonl and the checkpoints.</summary>
    private void SaveFinal(LlamaModel model, TrainOptions o)
    {
        string tmp = Path.Combine(o.OutDir, $".final-{Guid.NewGuid():N}");
        try
        {
            AtomicFile.WriteDirectory(tmp, d => SaveModel(model, o, d));
            foreach (string f in Directory.GetFiles(tmp))
                File.Move(f, Path.Combine(o.OutDir, Path.GetFileName(f)), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
    }
}
