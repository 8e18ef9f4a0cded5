using System.Globalization;
using System.Runtime.CompilerServices;
using Parquet;
using Parquet.Schema;

namespace Humpback.Inference;

/// <summary>One input row: its index in the file, its id (the id column as text, or the index when the file has no
/// id column) and the values of the requested text columns (null where the file holds null).</summary>
public sealed record InputRow(long Index, string Id, string?[] Values);

/// <summary>Streams the columns a job needs from a Parquet file, one row group at a time, so memory is bounded by
/// one row group of those columns whatever the file's size. Every problem is reported with the file and column.</summary>
public sealed class ParquetInput : IAsyncDisposable
{
    private readonly ParquetReader _reader;
    private readonly DataField?[] _fields;
    private readonly DataField? _idField;

    private ParquetInput(string path, ParquetReader reader, DataField?[] fields, DataField? idField, long[] groupStarts, long rows)
    {
        Path = path;
        _reader = reader;
        _fields = fields;
        _idField = idField;
        RowGroupStarts = groupStarts;
        RowCount = rows;
    }

    public string Path { get; }
    public long RowCount { get; }
    /// <summary>First row index of each row group, plus the total at the end.</summary>
    public IReadOnlyList<long> RowGroupStarts { get; }
    /// <summary>The id column actually used, or null when ids are row indices.</summary>
    public string? IdColumn => _idField?.Name;

    /// <summary>Opens <paramref name="path"/> and checks the columns: each of <paramref name="columns"/> must be a
    /// string column; the id column may be a string or integer column and, unless <paramref name="idRequired"/>, may be
    /// absent (ids are then row indices).</summary>
    public static Task<ParquetInput> OpenAsync(string path, IReadOnlyList<string> columns, string? idColumn, bool idRequired,
                                               CancellationToken ct = default) =>
        OpenAsync(path, columns, [], idColumn, idRequired, ct);

    /// <summary>The same, except that the columns in <paramref name="optional"/> may be absent (then read as null).</summary>
    public static async Task<ParquetInput> OpenAsync(string path, IReadOnlyList<string> columns, IReadOnlyCollection<string> optional,
                                                     string? idColumn, bool idRequired, CancellationToken ct = default)
    {
        string full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"input file not found: {full}", full);
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(full, cancellationToken: ct);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ArgumentException
                                      or InvalidOperationException or IndexOutOfRangeException or OverflowException)
        {
            throw new InvalidDataException($"{full}: not a readable Parquet file ({e.Message})", e);
        }
        try
        {
            DataField[] all = reader.Schema.GetDataFields();
            string available = string.Join(", ", all.Select(f => f.Name));
            DataField Find(string name) =>
                all.FirstOrDefault(f => f.Name == name)
                ?? throw new InvalidDataException($"{full}: no column '{name}' (columns: {available})");
            var fields = new DataField?[columns.Count];
            for (int i = 0; i < columns.Count; i++)
            {
                if (optional.Contains(columns[i]) && all.All(f => f.Name != columns[i])) continue;
                DataField f = Find(columns[i]);
                if (f.IsArray || !IsText(f))
                    throw new InvalidDataException($"{full}: column '{f.Name}' holds {Describe(f)}, expected text (string)");
                fields[i] = f;
            }
            DataField? id = null;
            if (idColumn != null)
            {
                id = all.FirstOrDefault(f => f.Name == idColumn);
                if (id == null && idRequired) throw new InvalidDataException($"{full}: no id column '{idColumn}' (columns: {available})");
                if (id != null)
                {
                    Type t = Nullable.GetUnderlyingType(id.ClrType) ?? id.ClrType;
                    bool usable = !id.IsArray && (IsText(id) || t == typeof(int) || t == typeof(long));
                    if (!usable && idRequired)
                        throw new InvalidDataException($"{full}: id column '{id.Name}' holds {Describe(id)}, expected text or integers");
                    if (!usable) id = null; // a default id column of another type: fall back to row indices
                }
            }
            var starts = new long[reader.RowGroupCount + 1];
            for (int g = 0; g < reader.RowGroupCount; g++) starts[g + 1] = starts[g] + reader.RowGroups[g].RowCount;
            return new ParquetInput(full, reader, fields, id, starts, starts[^1]);
        }
        catch
        {
            await reader.DisposeAsync();
            throw;
        }
    }

    /// <summary>Parquet.Net 6 reports string columns read from a file as ReadOnlyMemory&lt;char&gt; (its untyped form).</summary>
    internal static bool IsText(DataField f) => f.ClrType == typeof(string) || f.ClrType == typeof(ReadOnlyMemory<char>);

    private static string Describe(DataField f) => (f.IsArray ? "a list of " : "") + (IsText(f) ? "String" : (Nullable.GetUnderlyingType(f.ClrType) ?? f.ClrType).Name);

    /// <summary>Rows in file order, one row group read at a time; groups for which <paramref name="skipGroup"/>
    /// (first row, row count) returns true are not read at all.</summary>
    public async IAsyncEnumerable<InputRow> ReadAsync(Func<long, long, bool>? skipGroup = null,
                                                      [EnumeratorCancellation] CancellationToken ct = default)
    {
        for (int g = 0; g < _reader.RowGroupCount; g++)
        {
            long first = RowGroupStarts[g];
            long count = RowGroupStarts[g + 1] - first;
            if (count == 0 || (skipGroup?.Invoke(first, count) ?? false)) continue;
            int n = checked((int)count);
            var columns = new string[_fields.Length][];
            string[] ids;
            try
            {
                using ParquetRowGroupReader rg = _reader.OpenRowGroupReader(g);
                for (int c = 0; c < _fields.Length; c++)
                {
                    columns[c] = new string[n];
                    if (_fields[c] is DataField f) await rg.ReadAsync(f, columns[c], cancellationToken: ct);
                }
                ids = await ReadIdsAsync(rg, first, n, ct);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or InvalidOperationException
                                          or IndexOutOfRangeException or ArgumentException)
            {
                throw new InvalidDataException($"{Path}: row group {g} could not be read ({e.Message})", e);
            }
            for (int i = 0; i < n; i++)
            {
                var values = new string?[_fields.Length];
                for (int c = 0; c < values.Length; c++) values[c] = columns[c][i];
                yield return new InputRow(first + i, ids[i], values);
            }
        }
    }

    private async Task<string[]> ReadIdsAsync(ParquetRowGroupReader rg, long first, int n, CancellationToken ct)
    {
        var ids = new string[n];
        if (_idField == null)
        {
            for (int i = 0; i < n; i++) ids[i] = (first + i).ToString(CultureInfo.InvariantCulture);
            return ids;
        }
        Type t = Nullable.GetUnderlyingType(_idField.ClrType) ?? _idField.ClrType;
        if (IsText(_idField))
        {
            await rg.ReadAsync(_idField, ids, cancellationToken: ct);
        }
        else if (t == typeof(long))
        {
            var v = new long?[n];
            if (_idField.IsNullable) await rg.ReadAsync<long>(_idField, v, cancellationToken: ct);
            else
            {
                var nn = new long[n];
                await rg.ReadAsync<long>(_idField, nn, cancellationToken: ct);
                for (int i = 0; i < n; i++) v[i] = nn[i];
            }
            for (int i = 0; i < n; i++) ids[i] = v[i]?.ToString(CultureInfo.InvariantCulture)!;
        }
        else
        {
            var v = new int?[n];
            if (_idField.IsNullable) await rg.ReadAsync<int>(_idField, v, cancellationToken: ct);
            else
            {
                var nn = new int[n];
                await rg.ReadAsync<int>(_idField, nn, cancellationToken: ct);
                for (int i = 0; i < n; i++) v[i] = nn[i];
            }
            for (int i = 0; i < n; i++) ids[i] = v[i]?.ToString(CultureInfo.InvariantCulture)!;
        }
        // A null id falls back to the row index, so every row keeps a usable id.
        for (int i = 0; i < n; i++) ids[i] ??= (first + i).ToString(CultureInfo.InvariantCulture);
        return ids;
    }

    public ValueTask DisposeAsync() => _reader.DisposeAsync();
}
