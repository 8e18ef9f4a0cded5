namespace Humpback.Model;

/// <summary>One micro-batch of B sequences of T tokens, flattened row-major (N = B·T rows).
/// Packed examples share a row: <see cref="Positions"/> restart at 0 and <see cref="Segments"/> change at each
/// example boundary so attention never crosses examples. <see cref="Targets"/> holds the next token, or -1 where
/// no loss is taken (prompt tokens, padding).</summary>
public sealed class TrainingBatch
{
    public TrainingBatch(int batchSize, int seqLen)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), $"batch size must be > 0 (got {batchSize})");
        if (seqLen <= 0) throw new ArgumentOutOfRangeException(nameof(seqLen), $"sequence length must be > 0 (got {seqLen})");
        B = batchSize;
        T = seqLen;
        Tokens = new int[B * T];
        Targets = new int[B * T];
        Positions = new int[B * T];
        Segments = new int[B * T];
        Array.Fill(Targets, -1);
    }

    public int B { get; }
    public int T { get; }
    public int N => B * T;
    public int[] Tokens { get; }
    public int[] Targets { get; }
    public int[] Positions { get; }
    public int[] Segments { get; }

    /// <summary>Rows that carry a loss.</summary>
    public int CountTargets()
    {
        int n = 0;
        foreach (int t in Targets) if (t >= 0) n++;
        return n;
    }

    /// <summary>A batch of one unpacked sequence per row: positions 0..T-1, one segment per row, targets = next token.</summary>
    public static TrainingBatch FromSequences(IReadOnlyList<int[]> rows, int seqLen, int padToken = 0)
    {
        var b = new TrainingBatch(rows.Count, seqLen);
        for (int r = 0; r < rows.Count; r++)
        {
            int[] toks = rows[r];
            for (int t = 0; t < seqLen; t++)
            {
                int i = r * seqLen + t;
                b.Tokens[i] = t < toks.Length ? toks[t] : padToken;
                b.Positions[i] = t;
                b.Segments[i] = r;
                b.Targets[i] = t + 1 < toks.Length ? toks[t + 1] : -1;
            }
        }
        return b;
    }
}
