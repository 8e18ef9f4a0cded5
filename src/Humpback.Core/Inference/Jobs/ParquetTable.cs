using Parquet;
using Parquet.Schema;

namespace Humpback.Inference;

/// <summary>Column types of the job outputs: row_index is a required long; everything else may be null.</summary>
public enum OutputColumnKind { Long, Int, Double, String }

public sealed record OutputColumn(string Name, OutputColumnKind Kind)
{
    public DataField Field() => Kind switch
    {
        OutputColumnKind.Long => new DataField(Name, typeof(long), isNullable: false),
        OutputColumnKind.Int => new DataField(Name, typeof(int), isNullable: true),
        OutputColumnKind.Double => new DataField(Name, typeof(double), isNullable: true),
        _ => new DataField(Name, typeof(string), isNullable: true),
    };
}

/// <summary>Rows as object?[] in a fixed column layout, written and read one row group at a time (Parquet.Net 6's
/// columnar API). Inference outputs are small next to the decoding cost, so boxing is fine here.</summary>
public static class ParquetTable
{
    public static ParquetSchema Schema(IReadOnlyList<OutputColumn> columns) => new(columns.Select(c => (Field)c.Field()));

    public static async Task WriteRowGroupAsync(ParquetWriter writer, ParquetSchema schema, IReadOnlyList<OutputColumn> columns,
                                                IReadOnlyList<object?[]> rows, CancellationToken ct = default)
    {
        using ParquetRowGroupWriter rg = writer.CreateRowGroup();
        DataField[] fields = schema.GetDataFields();
        for (int c = 0; c < columns.Count; c++)
        {
            switch (columns[c].Kind)
            {
                case OutputColumnKind.Long:
                    await rg.WriteAsync<long>(fields[c], rows.Select(r => (long)r[c]!).ToArray(), cancellationToken: ct);
                    break;
                case OutputColumnKind.Int:
                    await rg.WriteAsync<int>(fields[c], rows.Select(r => (int?)r[c]).ToArray(), cancellationToken: ct);
                    break;
                case OutputColumnKind.Double:
                    await rg.WriteAsync<double>(fields[c], rows.Select(r => (double?)r[c]).ToArray(), cancellationToken: ct);
                    break;
                default:
                    await rg.WriteAsync(fields[c], rows.Select(r => (string?)r[c]).ToArray()!);
                    break;
            }
        }
    }

    /// <summary>Writes a whole file atomically (temp + rename): one row group per list in <paramref name="rowGroups"/>.</summary>
    public static Task WriteFileAsync(string path, IReadOnlyList<OutputColumn> columns, IEnumerable<IReadOnlyList<object?[]>> rowGroups,
                                      IReadOnlyDictionary<string, string>? metadata = null, CancellationToken ct = default) =>
        WriteFileAsync(path, columns, rowGroups.ToAsyncEnumerable(), metadata, ct);

    /// <summary>Same, with row groups produced asynchronously (streamed: one group in memory at a time).</summary>
    public static Task WriteFileAsync(string path, IReadOnlyList<OutputColumn> columns, IAsyncEnumerable<IReadOnlyList<object?[]>> rowGroups,
                                      IReadOnlyDictionary<string, string>? metadata = null, CancellationToken ct = default) =>
        IO.AtomicFile.WriteAsync(path, async stream =>
        {
            ParquetSchema schema = Schema(columns);
            await using ParquetWriter writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: ct);
            if (metadata != null) writer.CustomMetadata = metadata;
            await foreach (IReadOnlyList<object?[]> rows in rowGroups.WithCancellation(ct))
            {
                if (rows.Count > 0) await WriteRowGroupAsync(writer, schema, columns, rows, ct);
            }
        });

    /// <summary>The column layout of a file written by <see cref="WriteFileAsync"/>.</summary>
    public static IReadOnlyList<OutputColumn> ColumnsOf(ParquetReader reader, string path)
    {
        var cols = new List<OutputColumn>();
        foreach (DataField f in reader.Schema.GetDataFields())
        {
            Type t = Nullable.GetUnderlyingType(f.ClrType) ?? f.ClrType;
            OutputColumnKind kind = t == typeof(long) ? OutputColumnKind.Long
                : t == typeof(int) ? OutputColumnKind.Int
                : t == typeof(double) ? OutputColumnKind.Double
                : ParquetInput.IsText(f) ? OutputColumnKind.String
                : throw new InvalidDataException($"{path}: column '{f.Name}' has type {t.Name}, not one an inference output uses");
            cols.Add(new OutputColumn(f.Name, kind));
        }
        return cols;
    }

    public static async Task<List<object?[]>> ReadRowGroupAsync(ParquetReader reader, int index, IReadOnlyList<OutputColumn> columns,
                                                                CancellationToken ct = default)
    {
        using ParquetRowGroupReader rg = reader.OpenRowGroupReader(index);
        int n = checked((int)rg.RowCount);
        DataField[] fields = reader.Schema.GetDataFields();
        var rows = new List<object?[]>(n);
        for (int i = 0; i < n; i++) rows.Add(new object?[columns.Count]);
        for (int c = 0; c < columns.Count; c++)
        {
            DataField f = fields.First(x => x.Name == columns[c].Name);
            switch (columns[c].Kind)
            {
                case OutputColumnKind.Long when !f.IsNullable:
                {
                    var v = new long[n];
                    await rg.ReadAsync<long>(f, v, cancellationToken: ct);
                    for (int i = 0; i < n; i++) rows[i][c] = v[i];
                    break;
                }
                case OutputColumnKind.Long:
                {
                    var v = new long?[n];
                    await rg.ReadAsync<long>(f, v, cancellationToken: ct);
                    for (int i = 0; i < n; i++) rows[i][c] = v[i];
                    break;
                }
                case OutputColumnKind.Int:
                {
                    var v = new int?[n];
                    await rg.ReadAsync<int>(f, v, cancellationToken: ct);
                    for (int i = 0; i < n; i++) rows[i][c] = v[i];
                    break;
                }
                case OutputColumnKind.Double:
                {
                    var v = new double?[n];
                    await rg.ReadAsync<double>(f, v, cancellationToken: ct);
                    for (int i = 0; i < n; i++) rows[i][c] = v[i];
                    break;
                }
                default:
                {
                    var v = new string[n];
                    await rg.ReadAsync(f, v, cancellationToken: ct);
                    for (int i = 0; i < n; i++) rows[i][c] = v[i];
                    break;
                }
            }
        }
        return rows;
    }
}
