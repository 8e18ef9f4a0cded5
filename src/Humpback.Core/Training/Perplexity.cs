using System.Text.Json;
using Humpback.Engine;
using Humpback.IO;
using Humpback.Model;
using Humpback.Prompts;

namespace Humpback.Training;

/// <summary>Per-example negative log-likelihood over the response (SFT) or the whole text (LM).</summary>
public sealed record ExampleNll(string Id, int Tokens, double MeanNll)
{
    public double Perplexity => Math.Exp(MeanNll);
}

public sealed record PerplexityOptions
{
    public required string ModelDir { get; init; }
    public string? AdapterDir { get; init; }
    public required string DataPath { get; init; }
    public string? OutPath { get; init; }
    public Objective Objective { get; init; } = Objective.Sft;
    public ChatFormatKind Format { get; init; } = ChatFormatKind.Llama3;
    public int MaxSeqLen { get; init; } = 2048;
    public int BatchSize { get; init; } = 8;
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; }
}

public static class PerplexityEvaluator
{
    /// <summary>Scores every example; writes one JSON line per example to <see cref="PerplexityOptions.OutPath"/>
    /// (atomically) and returns the results and the token-weighted mean NLL.</summary>
    public static (IReadOnlyList<ExampleNll> Rows, double MeanNll) Run(IModelStore store, PerplexityOptions o, CancellationToken ct = default)
    {
        IReadOnlyList<TrainingExample> examples = TrainingData.Load(o.DataPath, o.Objective);
        var (config, weights) = store.LoadBase(o.ModelDir);
        ITextTokenizer tok = store.LoadTokenizer(o.ModelDir);
        var collator = new Collator(tok, o.Format, o.Objective, Math.Min(o.MaxSeqLen, config.MaxPositionEmbeddings), OverlongPolicy.Truncate);
        using Device device = Engine.Device.Parse(o.Device, o.Threads);
        LoraSettings? lora = null;
        IReadOnlyDictionary<string, HostTensor>? loraTensors = null;
        if (o.AdapterDir != null) (lora, loraTensors) = store.LoadAdapter(o.AdapterDir);
        using var model = new LlamaModel(device, config, lora != null ? TrainMode.Lora : TrainMode.Full, o.BatchSize, collator.MaxSeqLen, lora);
        model.LoadWeights(weights, o.ModelDir);
        if (loraTensors != null) model.LoadLora(loraTensors, o.AdapterDir!);

        var results = new ExampleNll?[examples.Count];
        var pending = new List<TokenizedExample>();
        void Flush()
        {
            if (pending.Count == 0) return;
            // One example per row (no packing), so row r's losses belong to pending[r].
            TrainingBatch b = collator.Pack(pending, pack: false);
            float[] losses = model.ForwardLosses(b);
            for (int r = 0; r < pending.Count; r++)
            {
                double sum = 0;
                int n = 0;
                for (int t = 0; t < b.T; t++)
                {
                    int i = r * b.T + t;
                    if (b.Targets[i] < 0) continue;
                    sum += losses[i];
                    n++;
                }
                results[pending[r].Index] = new ExampleNll(examples[pending[r].Index].Id, n, n > 0 ? sum / n : double.NaN);
            }
            pending.Clear();
        }
        for (int i = 0; i < examples.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            TokenizedExample? t = collator.Tokenize(i, examples[i]);
            if (t == null)
            {
                results[i] = new ExampleNll(examples[i].Id, 0, double.NaN);
                continue;
            }
            pending.Add(t);
            if (pending.Count == o.BatchSize) Flush();
        }
        Flush();
        List<ExampleNll> rows = results.Select(r => r!).ToList();
        long tokens = rows.Sum(r => (long)r.Tokens);
        double mean = tokens == 0 ? double.NaN : rows.Where(r => r.Tokens > 0).Sum(r => r.MeanNll * r.Tokens) / tokens;
        if (o.OutPath != null)
        {
            AtomicFile.WriteAllText(o.OutPath, string.Concat(rows.Select(r => JsonSerializer.Serialize(new
            {
                id = r.Id,
                tokens = r.Tokens,
                mean_nll = double.IsFinite(r.MeanNll) ? Math.Round(r.MeanNll, 6) : (double?)null,
                perplexity = double.IsFinite(r.MeanNll) ? Math.Round(r.Perplexity, 4) : (double?)null,
            }) + "\n")));
        }
        return (rows, mean);
    }
}
