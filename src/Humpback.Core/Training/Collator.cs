using Humpback.Model;
using Humpback.Prompts;

namespace Humpback.Training;

/// <summary>A tokenized example: ids and, per position, whether predicting the NEXT token carries a loss.</summary>
public sealed record TokenizedExample(int Index, int[] Tokens, bool[] LossOnNext);

public sealed class CollatorStats
{
    public int Examples;
    public int Truncated;
    public int Skipped;
    public long Tokens;
    public long LossTokens;
}

/// <summary>Turns examples into token ids with a loss mask (response-only for SFT) and packs them into rows of at
/// most <see cref="MaxSeqLen"/> tokens; each packed example is its own attention segment with positions from 0.</summary>
public sealed class Collator(ITextTokenizer tokenizer, ChatFormatKind format, Objective objective, int maxSeqLen, OverlongPolicy overlong)
{
    public int MaxSeqLen { get; } = maxSeqLen > 1 ? maxSeqLen : throw new ArgumentException($"max sequence length must be > 1 (got {maxSeqLen})");

    public CollatorStats Stats { get; } = new();

    /// <summary>Tokenizes one example; null when it is skipped (too long under Skip, or nothing left to learn).</summary>
    public TokenizedExample? Tokenize(int index, TrainingExample ex)
    {
        List<int> ids = [];
        int lossFrom; // first token index whose prediction carries a loss
        if (objective == Objective.Lm)
        {
            ids.Add(tokenizer.BosId);
            ids.AddRange(tokenizer.Encode(ex.Output));
            ids.Add(tokenizer.EosId);
            lossFrom = 1;
        }
        else
        {
            RenderedTurn turn = ChatFormat.Render(format, ex.System, ex.Instruction, ex.Output);
            if (format == ChatFormatKind.Plain) ids.Add(tokenizer.BosId);
            ids.AddRange(tokenizer.Encode(turn.Prompt));
            lossFrom = ids.Count;
            ids.AddRange(tokenizer.Encode(turn.Response));
            if (format == ChatFormatKind.Plain) ids.Add(tokenizer.EosId);
        }
        Stats.Examples++;
        if (ids.Count > MaxSeqLen)
        {
            if (overlong == OverlongPolicy.Skip || lossFrom >= MaxSeqLen)
            {
                Stats.Skipped++;
                return null;
            }
            Stats.Truncated++;
            ids.RemoveRange(MaxSeqLen, ids.Count - MaxSeqLen);
        }
        var loss = new bool[ids.Count];
        for (int t = 0; t + 1 < ids.Count; t++) loss[t] = t + 1 >= lossFrom;
        int lossCount = loss.Count(x => x);
        if (lossCount == 0)
        {
            Stats.Skipped++;
            return null;
        }
        Stats.Tokens += ids.Count;
        Stats.LossTokens += lossCount;
        return new TokenizedExample(index, [.. ids], loss);
    }

    /// <summary>Greedy packing in order: an example joins the current row when it fits, else starts a new row.
    /// Returns one batch whose T is the longest row (no padding beyond it).</summary>
    public TrainingBatch Pack(IReadOnlyList<TokenizedExample> examples, bool pack = true)
    {
        var rows = new List<List<TokenizedExample>>();
        int used = 0;
        foreach (TokenizedExample ex in examples)
        {
            if (rows.Count == 0 || !pack || used + ex.Tokens.Length > MaxSeqLen)
            {
                rows.Add([]);
                used = 0;
            }
            rows[^1].Add(ex);
            used += ex.Tokens.Length;
        }
        int T = Math.Max(1, rows.Count == 0 ? 1 : rows.Max(r => r.Sum(e => e.Tokens.Length)));
        var batch = new TrainingBatch(Math.Max(1, rows.Count), T);
        int segment = 0;
        for (int r = 0; r < rows.Count; r++)
        {
            int t0 = 0;
            foreach (TokenizedExample ex in rows[r])
            {
                for (int t = 0; t < ex.Tokens.Length; t++)
                {
                    int i = r * T + t0 + t;
                    batch.Tokens[i] = ex.Tokens[t];
                    batch.Positions[i] = t;
                    batch.Segments[i] = segment;
                    batch.Targets[i] = ex.LossOnNext[t] ? ex.Tokens[t + 1] : -1;
                }
                t0 += ex.Tokens.Length;
                segment++;
            }
            // Padding after the last example: its own segment, no loss.
            for (int t = t0; t < T; t++)
            {
                int i = r * T + t;
                batch.Segments[i] = -1 - r;
                batch.Positions[i] = 0;
            }
        }
        return batch;
    }
}
