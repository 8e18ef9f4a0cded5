using System.Globalization;

namespace Humpback.Inference;

public enum ShardBy { RowIndex, IdHash }

/// <summary>Which slice of the input one process handles: shard <see cref="Index"/> of <see cref="Count"/>, chosen
/// by row index modulo the count (default) or by a hash of the row id. Deterministic, so N processes given
/// 0/N … N−1/N cover every row exactly once.</summary>
public sealed record ShardSpec(int Index, int Count, ShardBy By = ShardBy.RowIndex)
{
    public static ShardSpec All { get; } = new(0, 1);

    /// <summary>Parses "i/N" (0 ≤ i &lt; N).</summary>
    public static ShardSpec Parse(string text, ShardBy by = ShardBy.RowIndex)
    {
        string[] parts = text.Split('/');
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            || n < 1 || i >= n)
            throw new ArgumentException($"shard '{text}' must be i/N with 0 ≤ i < N, e.g. 0/4");
        return new ShardSpec(i, n, by);
    }

    public bool Contains(long rowIndex, string id) => Count == 1 || (By == ShardBy.RowIndex
        ? rowIndex % Count == Index
        : (long)(RowRng.KeyOf(id) % (ulong)Count) == Index);

    /// <summary>Rows of this shard among the first <paramref name="rows"/>, when the rule allows counting without ids.</summary>
    public long? RowsIn(long rows) => Count == 1 ? rows
        : By == ShardBy.RowIndex ? (rows > Index ? (rows - Index + Count - 1) / Count : 0)
        : null;

    public override string ToString() => $"{Index}/{Count}";

    public string ByText => By == ShardBy.RowIndex ? "index" : "id";
}
