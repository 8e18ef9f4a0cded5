using System.Text;
using System.Text.Json;
using Humpback.Model;

namespace Humpback.Training;

/// <summary>What <see cref="TrainerThroughput.Measure"/> found: tokens/s of each timed optimizer step.</summary>
public sealed record TrainerThroughputResult(IReadOnlyList<double> StepTokensPerSecond, long TokensPerStep)
{
    public double Best => StepTokensPerSecond.Max();
    public double Median => StepTokensPerSecond.Order().ElementAt(StepTokensPerSecond.Count / 2);
}

/// <summary>
/// The second way of measuring a training step: the <see cref="Trainer"/> itself — what `humpback train` runs, with
/// data loading, packing, gradient clipping, metrics and checkpoints — on synthetic documents that fill each packed
/// row exactly, so a step has the shape of the profile's step (B rows of T tokens). `profile train` compares its
/// tokens/s with the engine-level measurement of <c>TrainProfiler</c>; the two must agree within 10%.
/// </summary>
public static class TrainerThroughput
{
    public static TrainerThroughputResult Measure(LlamaConfig config, TrainMode mode, int batch, int seqLen, int timedSteps,
        string device, int threads, LoraSettings? lora = null, bool recompute = false, IReadOnlyDictionary<string, HostTensor>? weights = null,
        Engine.DType precision = Engine.DType.F32)
    {
        if (timedSteps < 1) throw new ArgumentOutOfRangeException(nameof(timedSteps), "at least one timed step");
        if (seqLen < 3) throw new ArgumentOutOfRangeException(nameof(seqLen), "a document needs BOS, one token and EOS");
        string dir = Directory.CreateTempSubdirectory("humpback-trainer-throughput-").FullName;
        try
        {
            int steps = timedSteps + 1; // the first step warms up (first touch of memory, thread start-up) and is not timed
            var rng = new Random(11);
            var text = new StringBuilder();
            // BOS + (T − 2) characters + EOS = T tokens: one document per packed row, B rows per step.
            for (int d = 0; d < steps * batch; d++)
            {
                for (int i = 0; i < seqLen - 2; i++) text.Append((char)('a' + rng.Next(26)));
                text.Append("\n\n");
            }
            string data = Path.Combine(dir, "data.txt");
            File.WriteAllText(data, text.ToString());
            var store = new SyntheticStore(config, weights ?? LlamaInit.Random(config, 1));
            var options = new TrainOptions
            {
                BaseDir = Path.Combine(dir, "base"), DataPath = data, OutDir = Path.Combine(dir, "out"),
                Mode = mode, Lora = lora ?? new LoraSettings(16, 32f, LoraSettings.AllTargets),
                Objective = Objective.Lm, BatchSize = batch, MaxSeqLen = seqLen, Steps = steps, Shuffle = false,
                Lr = 1e-5f, CheckpointEvery = 0, KeepCheckpoints = 1, Device = device, Threads = threads, Recompute = recompute, Precision = precision,
            };
            new Trainer(store).Run(options);
            var rates = new List<double>();
            long tokens = 0;
            foreach (string line in File.ReadLines(Path.Combine(options.OutDir, Trainer.MetricsFile)).Skip(1))
            {
                using var doc = JsonDocument.Parse(line);
                rates.Add(doc.RootElement.GetProperty("tokens_per_s").GetDouble());
                tokens = doc.RootElement.GetProperty("tokens").GetInt64();
            }
            return new TrainerThroughputResult(rates, tokens);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } // a temp folder left behind is harmless
        }
    }

    /// <summary>A model store that hands out random weights and a one-token-per-character tokenizer and keeps nothing
    /// it is asked to save (the measurement needs the training, not the files).</summary>
    private sealed class SyntheticStore(LlamaConfig config, IReadOnlyDictionary<string, HostTensor> weights) : IModelStore
    {
        public (LlamaConfig Config, IReadOnlyDictionary<string, HostTensor> Weights) LoadBase(string dir) => (config, weights);
        public ITextTokenizer LoadTokenizer(string dir) => new CharTokenizer(config.VocabSize, config.BosTokenId, config.EosTokenId);
        public void SaveFull(string dir, LlamaConfig c, IReadOnlyDictionary<string, HostTensor> w, string tokenizerSourceDir) { }
        public void SaveAdapter(string dir, LoraSettings l, IReadOnlyDictionary<string, HostTensor> tensors, string baseModelDir) { }
        public (LoraSettings Settings, IReadOnlyDictionary<string, HostTensor> Tensors) LoadAdapter(string dir) =>
            throw new NotSupportedException("the throughput measurement never resumes");
    }

    private sealed class CharTokenizer(int vocab, int bos, int eos) : ITextTokenizer
    {
        public int VocabSize => vocab;
        public int BosId => bos;
        public int EosId => eos;
        public int[] Encode(string text) => text.Select(c => 3 + c % (vocab - 3)).ToArray();
    }
}
