namespace Humpback.Engine;

/// <summary>Accumulated wall time and call count per kernel op (profiling).</summary>
public sealed class OpTimer
{
    private readonly Dictionary<string, (TimeSpan Time, long Calls)> _ops = new(StringComparer.Ordinal);

    public void Add(string op, TimeSpan elapsed)
    {
        _ops.TryGetValue(op, out var cur);
        _ops[op] = (cur.Time + elapsed, cur.Calls + 1);
    }

    public IReadOnlyDictionary<string, (TimeSpan Time, long Calls)> Ops => _ops;

    public TimeSpan Total => _ops.Values.Aggregate(TimeSpan.Zero, (a, b) => a + b.Time);

    public void Clear() => _ops.Clear();
}
