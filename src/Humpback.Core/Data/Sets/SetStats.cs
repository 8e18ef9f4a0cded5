using System.Globalization;
using System.Text;
using System.Text.Json;
using Parquet.Schema;

namespace Humpback.Data;

/// <summary>Summary of one column: type, nulls, and lengths (strings, in characters) or values (numbers).</summary>
public sealed record ColumnSummary(string Name, string Type, bool Nullable, long Nulls,
    IReadOnlyDictionary<string, double>? Lengths, IReadOnlyDictionary<string, double>? Values);

/// <summary>Summary of a Parquet file for <c>humpback data stats</c>.</summary>
public sealed record SetSummary(string File, string? Schema, long Rows, int RowGroups, long Bytes, IReadOnlyList<ColumnSummary> Columns)
{
    public string ToText()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"{File}: {Rows:N0} rows in {RowGroups} row group(s), {Bytes:N0} bytes{(Schema != null ? $", schema {Schema}" : "")}");
        int width = Math.Max(6, Columns.Count == 0 ? 0 : Columns.Max(c => c.Name.Length));
        foreach (ColumnSummary c in Columns)
        {
            sb.Append("  ").Append(c.Name.PadRight(width)).Append("  ").Append((c.Type + (c.Nullable ? "?" : "")).PadRight(10));
            if (c.Nulls > 0) sb.Append($"  nulls {c.Nulls:N0}");
            if (c.Lengths != null) sb.Append("  chars ").Append(string.Join(" ", c.Lengths.Select(kv => $"{kv.Key} {Format(kv.Value)}")));
            if (c.Values != null) sb.Append("  ").Append(string.Join(" ", c.Values.Select(kv => $"{kv.Key} {Format(kv.Value)}")));
            sb.AppendLine();
        }
        return sb.ToString();
    }

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }) + "\n";

    private static string Format(double v) => v == Math.Floor(v) && Math.Abs(v) < 1e15
        ? v.ToString("0", CultureInfo.InvariantCulture) : v.ToString("0.###", CultureInfo.InvariantCulture);
}

public static class SetStats
{
    /// <summary>Percentiles reported for string lengths (nearest rank on the sorted lengths).</summary>
    public static readonly int[] Percentiles = [0, 10, 50, 90, 99, 100];

    /// <summary>Reads every top-level column of <paramref name="path"/> row group by row group. Strings: null count
    /// and length percentiles in characters; numbers: min, mean, max; booleans: true count; nested columns:
    /// listed only.</summary>
    public static async Task<SetSummary> ComputeAsync(string path, CancellationToken cancellationToken = default)
    {
        await using ParquetTableReader table = await ParquetTableReader.OpenAsync(path, cancellationToken);
        var columns = new List<ColumnSummary>();
        foreach (Field field in table.Schema.Fields)
        {
            if (field is not DataField df || df.IsArray)
            {
                columns.Add(new ColumnSummary(field.Name, field.SchemaType.ToString().ToLowerInvariant(), true, 0, null, null));
                continue;
            }
            columns.Add(await SummariseAsync(table, df, cancellationToken));
        }
        table.CustomMetadata.TryGetValue(ParquetTableWriter.SchemaKey, out string? tag);
        return new SetSummary(Path.GetFileName(path), tag, table.RowCount, table.RowGroupCount, new FileInfo(path).Length, columns);
    }

    private static async Task<ColumnSummary> SummariseAsync(ParquetTableReader table, DataField f, CancellationToken ct)
    {
        Type t = f.ClrType;
        long nulls = 0;
        if (ParquetTableReader.IsString(t))
        {
            var lengths = new List<int>();
            for (int g = 0; g < table.RowGroupCount; g++)
                foreach (string? s in await table.OpenRowGroup(g).ReadStringsAsync(f, ct))
                {
                    if (s == null) nulls++;
                    else lengths.Add(s.Length);
                }
            return new ColumnSummary(f.Name, "string", f.IsNullable, nulls, LengthPercentiles(lengths), null);
        }
        if (t == typeof(bool))
        {
            long trues = 0, falses = 0;
            for (int g = 0; g < table.RowGroupCount; g++)
                foreach (bool? b in await table.OpenRowGroup(g).ReadBooleansAsync(f, ct))
                {
                    if (b == null) nulls++;
                    else if (b.Value) trues++;
                    else falses++;
                }
            return new ColumnSummary(f.Name, "boolean", f.IsNullable, nulls, null, new Dictionary<string, double> { ["true"] = trues, ["false"] = falses });
        }
        bool numeric = t == typeof(double) || t == typeof(float) || t == typeof(int) || t == typeof(long) || t == typeof(short)
                       || t == typeof(byte) || t == typeof(sbyte) || t == typeof(ushort) || t == typeof(uint);
        if (!numeric) return new ColumnSummary(f.Name, t.Name.ToLowerInvariant(), f.IsNullable, 0, null, null);
        double min = double.PositiveInfinity, max = double.NegativeInfinity, sum = 0;
        long n = 0;
        for (int g = 0; g < table.RowGroupCount; g++)
            foreach (double? v in await table.OpenRowGroup(g).ReadRealsAsync(f, ct))
            {
                if (v is not double d) { nulls++; continue; }
                min = Math.Min(min, d);
                max = Math.Max(max, d);
                sum += d;
                n++;
            }
        var values = n == 0 ? null : new Dictionary<string, double> { ["min"] = min, ["mean"] = sum / n, ["max"] = max };
        return new ColumnSummary(f.Name, TypeName(t), f.IsNullable, nulls, null, values);
    }

    private static string TypeName(Type t) =>
        t == typeof(double) ? "double" : t == typeof(float) ? "float" : t == typeof(long) ? "int64" : t == typeof(int) ? "int32" : t.Name.ToLowerInvariant();

    internal static Dictionary<string, double>? LengthPercentiles(List<int> lengths)
    {
        if (lengths.Count == 0) return null;
        lengths.Sort();
        var d = new Dictionary<string, double>();
        foreach (int p in Percentiles)
        {
            // Nearest rank: the smallest value with at least p% of the values at or below it.
            int rank = Math.Max(1, (int)Math.Ceiling(p / 100.0 * lengths.Count));
            d[p switch { 0 => "min", 100 => "max", _ => $"p{p}" }] = lengths[rank - 1];
        }
        d["mean"] = lengths.Average();
        return d;
    }
}
