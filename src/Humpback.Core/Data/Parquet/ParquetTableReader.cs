using Parquet;
using Parquet.Schema;

namespace Humpback.Data;

/// <summary>What a column must hold, independent of the physical type a writer chose (pyarrow writes int64
/// where pandas had int32, double where a nullable integer column had NaN, …).</summary>
public enum ColumnKind
{
    /// <summary>UTF-8 byte array (string).</summary>
    String,
    /// <summary>Any integer type; a floating-point column is accepted when every value is integral.</summary>
    Integer,
    /// <summary>float or double (integers are accepted and widened).</summary>
    Real,
    Boolean,
}

/// <summary>Reads a Parquet file one row group at a time (memory stays bounded by one row group), checks the
/// columns a schema needs up front and names the file, row group, row and column in every error.</summary>
public sealed class ParquetTableReader : IAsyncDisposable
{
    private readonly ParquetReader _reader;

    private ParquetTableReader(string path, ParquetReader reader)
    {
        Path = path;
        Name = System.IO.Path.GetFileName(path);
        _reader = reader;
    }

    public string Path { get; }

    /// <summary>The file name used in messages.</summary>
    public string Name { get; }

    public ParquetSchema Schema => _reader.Schema;
    public int RowGroupCount => _reader.RowGroupCount;
    public long RowCount => _reader.RowGroups.Sum(g => g.RowCount);
    public IReadOnlyDictionary<string, string> CustomMetadata => _reader.CustomMetadata;

    /// <summary>Opens <paramref name="path"/>; a missing file is a <see cref="FileNotFoundException"/>, a file that
    /// is not Parquet (empty, JSON, truncated) an <see cref="InvalidDataException"/> naming it.</summary>
    public static async Task<ParquetTableReader> OpenAsync(string path, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: false);
        try
        {
            ParquetReader reader = await ParquetReader.CreateAsync(stream, null, leaveStreamOpen: false, cancellationToken);
            return new ParquetTableReader(path, reader);
        }
        catch (Exception e) when (e is IOException or ParquetException or InvalidOperationException or ArgumentException
                                       or IndexOutOfRangeException or OverflowException or NotSupportedException)
        {
            bool empty = stream.Length == 0;
            await stream.DisposeAsync();
            string name = System.IO.Path.GetFileName(path);
            string why = empty ? "the file is empty" : e.Message;
            throw new InvalidDataException($"{name}: not a readable Parquet file ({why})", e);
        }
    }

    /// <summary>The top-level column <paramref name="column"/>, which must exist and hold <paramref name="kind"/>.</summary>
    public DataField Require(string column, ColumnKind kind) =>
        Optional(column, kind) ?? throw new InvalidDataException(
            $"{Name}: column '{column}' missing (the file has: {string.Join(", ", Schema.Fields.Select(f => f.Name))})");

    /// <summary>The top-level column <paramref name="column"/> or null when absent; present with the wrong type is an error.</summary>
    public DataField? Optional(string column, ColumnKind kind)
    {
        Field? field = Schema.Fields.FirstOrDefault(f => f.Name == column);
        if (field == null) return null;
        if (field is not DataField df || df.IsArray)
            throw new InvalidDataException($"{Name}: column '{column}' is nested ({field.SchemaType}), expected {Describe(kind)}");
        if (!Accepts(kind, df.ClrType))
            throw new InvalidDataException($"{Name}: column '{column}' has type {df.ClrType.Name}, expected {Describe(kind)}");
        return df;
    }

    /// <summary>The first of <paramref name="columns"/> that exists (e.g. "id" or "segment_id"), or an error naming all.</summary>
    public DataField RequireAny(ColumnKind kind, params string[] columns)
    {
        foreach (string c in columns)
            if (Optional(c, kind) is { } f) return f;
        throw new InvalidDataException(
            $"{Name}: column '{string.Join("' or '", columns)}' missing (the file has: {string.Join(", ", Schema.Fields.Select(f => f.Name))})");
    }

    /// <summary>Row group <paramref name="index"/>; cheap (metadata only) until a column is read.</summary>
    public ParquetTableRowGroup OpenRowGroup(int index)
    {
        long first = 0;
        for (int i = 0; i < index; i++) first += _reader.RowGroups[i].RowCount;
        return new ParquetTableRowGroup(this, index, first, _reader.OpenRowGroupReader(index));
    }

    public ValueTask DisposeAsync() => _reader.DisposeAsync();

    internal static bool IsString(Type t) => t == typeof(string) || t == typeof(ReadOnlyMemory<char>);

    private static bool IsInteger(Type t) =>
        t == typeof(int) || t == typeof(long) || t == typeof(short) || t == typeof(sbyte) ||
        t == typeof(byte) || t == typeof(ushort) || t == typeof(uint) || t == typeof(ulong);

    private static bool IsReal(Type t) => t == typeof(double) || t == typeof(float);

    private static bool Accepts(ColumnKind kind, Type t) => kind switch
    {
        ColumnKind.String => IsString(t),
        ColumnKind.Integer => IsInteger(t) || IsReal(t),
        ColumnKind.Real => IsReal(t) || IsInteger(t),
        ColumnKind.Boolean => t == typeof(bool),
        _ => false,
    };

    private static string Describe(ColumnKind kind) => kind switch
    {
        ColumnKind.String => "a string",
        ColumnKind.Integer => "an integer",
        ColumnKind.Real => "a number",
        ColumnKind.Boolean => "a boolean",
        _ => kind.ToString(),
    };
}

/// <summary>One row group: typed column reads that convert physical types and name the place of any error.</summary>
public sealed class ParquetTableRowGroup
{
    private readonly ParquetTableReader _table;
    private readonly ParquetRowGroupReader _rg;

    private readonly long _firstRow;

    internal ParquetTableRowGroup(ParquetTableReader table, int index, long firstRow, ParquetRowGroupReader rg)
    {
        _table = table;
        Index = index;
        _firstRow = firstRow;
        _rg = rg;
    }

    public int Index { get; }
    public int RowCount => checked((int)_rg.RowCount);

    public async Task<string?[]> ReadStringsAsync(DataField field, CancellationToken cancellationToken = default)
    {
        var values = new string?[RowCount];
        await Guard(field, async () => await _rg.ReadAsync(field, values.AsMemory()!, null, cancellationToken));
        return values;
    }

    public async Task<long?[]> ReadIntegersAsync(DataField field, CancellationToken cancellationToken = default)
    {
        Type t = field.ClrType;
        if (t == typeof(long)) return await Read<long>(field, cancellationToken);
        if (t == typeof(int)) return Widen(await Read<int>(field, cancellationToken), v => v);
        if (t == typeof(short)) return Widen(await Read<short>(field, cancellationToken), v => v);
        if (t == typeof(sbyte)) return Widen(await Read<sbyte>(field, cancellationToken), v => v);
        if (t == typeof(byte)) return Widen(await Read<byte>(field, cancellationToken), v => v);
        if (t == typeof(ushort)) return Widen(await Read<ushort>(field, cancellationToken), v => v);
        if (t == typeof(uint)) return Widen(await Read<uint>(field, cancellationToken), v => v);
        if (t == typeof(ulong)) return Widen(await Read<ulong>(field, cancellationToken), v => checked((long)v));
        double?[] reals = await ReadRealsAsync(field, cancellationToken);
        var result = new long?[reals.Length];
        for (int i = 0; i < reals.Length; i++)
        {
            if (reals[i] is not double d) continue;
            if (d != Math.Floor(d) || double.IsInfinity(d))
                throw new InvalidDataException($"{_table.Name}: row {RowOf(i)}, column '{field.Name}': {d} is not an integer");
            result[i] = (long)d;
        }
        return result;
    }

    public async Task<double?[]> ReadRealsAsync(DataField field, CancellationToken cancellationToken = default)
    {
        Type t = field.ClrType;
        if (t == typeof(double)) return await Read<double>(field, cancellationToken);
        if (t == typeof(float)) return Widen(await Read<float>(field, cancellationToken), v => v);
        long?[] ints = await ReadIntegersAsync(field, cancellationToken);
        return ints.Select(v => v.HasValue ? (double?)v.Value : null).ToArray();
    }

    public Task<bool?[]> ReadBooleansAsync(DataField field, CancellationToken cancellationToken = default) =>
        Read<bool>(field, cancellationToken);

    /// <summary>The row number in the whole file (0-based) of row <paramref name="i"/> of this group, for messages.</summary>
    public long RowOf(int i) => _firstRow + i;

    private async Task<T?[]> Read<T>(DataField field, CancellationToken cancellationToken) where T : struct
    {
        var values = new T?[RowCount];
        await Guard(field, async () => await _rg.ReadAsync<T>(field, values.AsMemory(), null, cancellationToken));
        return values;
    }

    private static long?[] Widen<T>(T?[] values, Func<T, long> convert) where T : struct =>
        values.Select(v => v.HasValue ? (long?)convert(v.Value) : null).ToArray();

    private static double?[] Widen<T>(T?[] values, Func<T, double> convert) where T : struct =>
        values.Select(v => v.HasValue ? (double?)convert(v.Value) : null).ToArray();

    private async Task Guard(DataField field, Func<Task> read)
    {
        try
        {
            await read();
        }
        catch (Exception e) when (e is IOException or ParquetException or InvalidOperationException or ArgumentException
                                       or IndexOutOfRangeException or OverflowException or NotSupportedException
                                       or System.Text.DecoderFallbackException)
        {
            throw new InvalidDataException($"{_table.Name}: row group {Index}, column '{field.Name}': {e.Message}", e);
        }
    }
}
