using Parquet;
using Parquet.Schema;

namespace Humpback.Data;

/// <summary>One column of a typed table: its Parquet field and how to pull its values out of a row.</summary>
public abstract class ParquetColumn<TRow>
{
    protected ParquetColumn(DataField field) => Field = field;

    public DataField Field { get; }
    public string Name => Field.Name;

    internal abstract Task WriteAsync(ParquetRowGroupWriter writer, IReadOnlyList<TRow> rows, CancellationToken cancellationToken);
}

/// <summary>Column factories: <c>ParquetColumn.String&lt;PairRecord&gt;("id", p =&gt; p.Id)</c>.</summary>
public static class ParquetColumn
{
    public static ParquetColumn<TRow> String<TRow>(string name, Func<TRow, string?> get) => new StringColumn<TRow>(name, get);
    public static ParquetColumn<TRow> Int32<TRow>(string name, Func<TRow, int> get) => new ValueColumn<TRow, int>(name, get);
    public static ParquetColumn<TRow> Int64<TRow>(string name, Func<TRow, long> get) => new ValueColumn<TRow, long>(name, get);
    public static ParquetColumn<TRow> Double<TRow>(string name, Func<TRow, double> get) => new ValueColumn<TRow, double>(name, get);
    public static ParquetColumn<TRow> Boolean<TRow>(string name, Func<TRow, bool> get) => new ValueColumn<TRow, bool>(name, get);
    public static ParquetColumn<TRow> NullableInt32<TRow>(string name, Func<TRow, int?> get) => new NullableColumn<TRow, int>(name, get);
    public static ParquetColumn<TRow> NullableDouble<TRow>(string name, Func<TRow, double?> get) => new NullableColumn<TRow, double>(name, get);
    public static ParquetColumn<TRow> NullableBoolean<TRow>(string name, Func<TRow, bool?> get) => new NullableColumn<TRow, bool>(name, get);

    private sealed class StringColumn<TRow>(string name, Func<TRow, string?> get) : ParquetColumn<TRow>(new DataField<string>(name, true))
    {
        internal override Task WriteAsync(ParquetRowGroupWriter writer, IReadOnlyList<TRow> rows, CancellationToken cancellationToken)
        {
            var values = new string[rows.Count];
            for (int i = 0; i < values.Length; i++) values[i] = get(rows[i])!;
            return writer.WriteAsync(Field, values);
        }
    }

    private sealed class ValueColumn<TRow, T>(string name, Func<TRow, T> get) : ParquetColumn<TRow>(new DataField<T>(name, false)) where T : struct
    {
        internal override Task WriteAsync(ParquetRowGroupWriter writer, IReadOnlyList<TRow> rows, CancellationToken cancellationToken)
        {
            var values = new T[rows.Count];
            for (int i = 0; i < values.Length; i++) values[i] = get(rows[i]);
            return writer.WriteAsync<T>(Field, values.AsMemory(), null, null, cancellationToken);
        }
    }

    private sealed class NullableColumn<TRow, T>(string name, Func<TRow, T?> get) : ParquetColumn<TRow>(new DataField<T?>(name)) where T : struct
    {
        internal override Task WriteAsync(ParquetRowGroupWriter writer, IReadOnlyList<TRow> rows, CancellationToken cancellationToken)
        {
            var values = new T?[rows.Count];
            for (int i = 0; i < values.Length; i++) values[i] = get(rows[i]);
            return writer.WriteAsync<T>(Field, values.AsMemory(), null, null, cancellationToken);
        }
    }
}

/// <summary>Writes rows of <typeparamref name="TRow"/> as Parquet, one row group per <see cref="RowGroupSize"/>
/// rows, so memory holds at most one row group. The file's key-value metadata carries
/// <c>humpback.schema</c> (e.g. "seed-pairs/1") so readers and <c>humpback data stats</c> can tell sets apart.
/// Call <see cref="CompleteAsync"/> at the end; disposing without it leaves the stream unfinished (the
/// caller writes through <see cref="Humpback.IO.AtomicFile"/>, which then discards it).</summary>
public sealed class ParquetTableWriter<TRow> : IAsyncDisposable
{
    private readonly ParquetWriter _writer;
    private readonly IReadOnlyList<ParquetColumn<TRow>> _columns;
    private readonly List<TRow> _buffer;
    private bool _completed;

    internal ParquetTableWriter(ParquetWriter writer, IReadOnlyList<ParquetColumn<TRow>> columns, int rowGroupSize)
    {
        _writer = writer;
        _columns = columns;
        RowGroupSize = rowGroupSize;
        _buffer = new List<TRow>(Math.Min(rowGroupSize, 1 << 16));
    }

    public int RowGroupSize { get; }
    public long RowCount { get; private set; }


    public async ValueTask WriteAsync(TRow row, CancellationToken cancellationToken = default)
    {
        _buffer.Add(row);
        RowCount++;
        if (_buffer.Count >= RowGroupSize) await FlushAsync(cancellationToken);
    }

    public async ValueTask WriteAllAsync(IEnumerable<TRow> rows, CancellationToken cancellationToken = default)
    {
        foreach (TRow row in rows) await WriteAsync(row, cancellationToken);
    }

    /// <summary>Writes the buffered rows as a row group (no-op when none are buffered).</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_buffer.Count == 0) return;
        using (ParquetRowGroupWriter rg = _writer.CreateRowGroup())
        {
            foreach (ParquetColumn<TRow> c in _columns) await c.WriteAsync(rg, _buffer, cancellationToken);
            rg.CompleteValidate();
        }
        _buffer.Clear();
    }

    /// <summary>Flushes the last row group and writes the footer.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken = default)
    {
        await FlushAsync(cancellationToken);
        _completed = true;
        await _writer.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_completed)
        {
            _completed = true;
            // Only reached after an earlier error: the output is being discarded, so a second failure while
            // writing the footer must not hide the first one.
            try { await _writer.DisposeAsync(); }
            catch (Exception) { }
        }
    }
}

/// <summary>Creates <see cref="ParquetTableWriter{TRow}"/>s.</summary>
public static class ParquetTableWriter
{
    /// <summary>Key of the file metadata entry naming the set's schema, e.g. "seed-pairs/1".</summary>
    public const string SchemaKey = "humpback.schema";

    public static async Task<ParquetTableWriter<TRow>> CreateAsync<TRow>(Stream output, IReadOnlyList<ParquetColumn<TRow>> columns,
        string schemaTag, int rowGroupSize, CancellationToken cancellationToken = default)
    {
        if (rowGroupSize <= 0) throw new ArgumentOutOfRangeException(nameof(rowGroupSize));
        var schema = new ParquetSchema(columns.Select(c => (Field)c.Field));
        ParquetWriter writer = await ParquetWriter.CreateAsync(schema, output, null, false, cancellationToken);
        writer.CustomMetadata = new Dictionary<string, string> { [SchemaKey] = schemaTag };
        return new ParquetTableWriter<TRow>(writer, columns, rowGroupSize);
    }
}
