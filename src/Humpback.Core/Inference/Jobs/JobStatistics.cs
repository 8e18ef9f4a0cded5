using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Humpback.Inference;

/// <summary>Throughput of the rows decoded by this process in this run (resumed rows excluded).</summary>
public sealed record RunThroughput(
    long Rows,
    double Seconds,
    double RowsPerSecond,
    double TokensPerSecond,
    double GeneratedTokensPerSecond,
    long TokensDecoded,
    long GeneratedTokens,
    int PrefixTokens,
    long DecodeCalls,
    double DecodeSeconds,
    long Preemptions,
    long NoKvSlotRetries,
    long ResumedRows)
{
    public static RunThroughput From(EngineRunStats s, long resumedRows)
    {
        double sec = Math.Max(1e-9, s.Elapsed.TotalSeconds);
        return new RunThroughput(s.Rows, s.Elapsed.TotalSeconds, s.Rows / sec, s.TokensDecoded / sec, s.GeneratedTokens / sec,
                                 s.TokensDecoded, s.GeneratedTokens, s.PrefixTokens, s.DecodeCalls, s.DecodeTime.TotalSeconds,
                                 s.Preemptions, s.NoKvSlotRetries, resumedRows);
    }
}

/// <summary>Statistics of an output file, tallied from its rows (so they cover resumed parts and merged shards),
/// plus this run's throughput. Saved as "&lt;out&gt;.stats.json" beside the output.</summary>
public sealed class JobStatistics
{
    public string Kind { get; set; } = "";
    public string Output { get; set; } = "";
    public string? Input { get; set; }
    public string? Model { get; set; }
    public string? Shard { get; set; }
    public long Rows { get; set; }
    public long Errors { get; set; }
    /// <summary>Curate generate mode: rows whose text had no valid "Score: N" last line.</summary>
    public long Unparseable { get; set; }
    public SortedDictionary<string, long> FinishReasons { get; } = new(StringComparer.Ordinal);
    /// <summary>Rows per score 1..5 (argmax in logits mode, the parsed score in generate mode).</summary>
    public SortedDictionary<int, long> ScoreHistogram { get; } = new();
    public double? MeanExpectedScore { get; set; }
    public double? MeanDigitsMass { get; set; }
    public long PromptTokens { get; set; }
    public long GeneratedTokens { get; set; }
    public RunThroughput? ThisRun { get; set; }

    private double _expectedSum, _massSum;
    private long _expectedCount;

    /// <summary>Adds one output row (columns found by name, so any inference output can be tallied).</summary>
    public void Tally(RowLayout layout, object?[] row)
    {
        Rows++;
        if (layout.Error >= 0 && row[layout.Error] is string) Errors++;
        if (layout.Finish >= 0 && row[layout.Finish] is string f) FinishReasons[f] = FinishReasons.GetValueOrDefault(f) + 1;
        if (layout.PromptTokens >= 0 && row[layout.PromptTokens] is int pt) PromptTokens += pt;
        if (layout.GeneratedTokens >= 0 && row[layout.GeneratedTokens] is int gt) GeneratedTokens += gt;
        int scoreCol = layout.ScoreArgmax >= 0 ? layout.ScoreArgmax : layout.Score;
        if (scoreCol >= 0)
        {
            if (row[scoreCol] is int s) ScoreHistogram[s] = ScoreHistogram.GetValueOrDefault(s) + 1;
            else if (layout.Score >= 0 && (layout.Error < 0 || row[layout.Error] is null)) Unparseable++;
        }
        if (layout.ScoreExpected >= 0 && row[layout.ScoreExpected] is double e)
        {
            _expectedSum += e;
            _expectedCount++;
            MeanExpectedScore = _expectedSum / _expectedCount;
            if (layout.DigitsMass >= 0 && row[layout.DigitsMass] is double m)
            {
                _massSum += m;
                MeanDigitsMass = _massSum / _expectedCount;
            }
        }
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public string ToText()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"{Kind}: {Rows} rows → {Output}");
        if (ThisRun is RunThroughput t)
        {
            sb.AppendLine($"  this run: {t.Rows} rows in {t.Seconds:0.0} s — {t.RowsPerSecond:0.##} rows/s, {t.TokensPerSecond:0} tokens/s decoded" +
                          (t.GeneratedTokens > 0 ? $", {t.GeneratedTokensPerSecond:0} generated tokens/s" : "") +
                          (t.ResumedRows > 0 ? $" ({t.ResumedRows} rows resumed from earlier runs)" : ""));
            sb.AppendLine($"  shared prefix {t.PrefixTokens} tokens (decoded once), {t.DecodeCalls} decode calls" +
                          (t.Preemptions + t.NoKvSlotRetries > 0 ? $", KV full: {t.NoKvSlotRetries} retries, {t.Preemptions} re-queued rows" : ""));
        }
        if (FinishReasons.Count > 0) sb.AppendLine("  finish: " + string.Join(", ", FinishReasons.Select(kv => $"{kv.Key} {kv.Value}")));
        if (ScoreHistogram.Count > 0 || Unparseable > 0)
        {
            long scored = ScoreHistogram.Values.Sum();
            sb.Append("  scores: ");
            sb.AppendJoin(", ", Enumerable.Range(1, 5).Select(s => $"{s}: {ScoreHistogram.GetValueOrDefault(s)}"));
            if (scored > 0) sb.Append($" (≥4: {100.0 * ScoreHistogram.Where(kv => kv.Key >= 4).Sum(kv => kv.Value) / scored:0.#}%)");
            sb.AppendLine();
        }
        if (MeanExpectedScore is double mean) sb.AppendLine($"  mean expected score {mean:0.###}, mean digit mass {MeanDigitsMass:0.###}");
        if (Unparseable > 0) sb.AppendLine($"  unparseable scores: {Unparseable}");
        sb.Append($"  errors: {Errors}");
        return sb.ToString();
    }
}

/// <summary>Where the statistics columns sit in a row (−1: absent).</summary>
public sealed class RowLayout
{
    public RowLayout(IReadOnlyList<OutputColumn> columns)
    {
        int Find(string name) => columns.Select((c, i) => (c, i)).FirstOrDefault(x => x.c.Name == name, (null!, -1)).Item2;
        RowIndex = Find("row_index");
        Error = Find("error");
        Finish = Find("finish_reason");
        PromptTokens = Find("prompt_tokens");
        GeneratedTokens = Find("generated_tokens");
        Score = Find("score");
        ScoreArgmax = Find("score_argmax");
        ScoreExpected = Find("score_expected");
        DigitsMass = Find("p_digits_mass");
    }

    public int RowIndex { get; }
    public int Error { get; }
    public int Finish { get; }
    public int PromptTokens { get; }
    public int GeneratedTokens { get; }
    public int Score { get; }
    public int ScoreArgmax { get; }
    public int ScoreExpected { get; }
    public int DigitsMass { get; }
}
