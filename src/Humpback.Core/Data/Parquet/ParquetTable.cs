using Humpback.IO;

namespace Humpback.Data;

/// <summary>Whole-file helpers on top of <see cref="ParquetTableWriter{TRow}"/>: write rows to a path atomically.</summary>
public static class ParquetTable
{
    public const int DefaultRowGroupSize = 10_000;

    /// <summary>Writes <paramref name="rows"/> to <paramref name="path"/> through <see cref="AtomicFile"/> (nothing is
    /// left behind when enumerating or writing fails) and returns the row count.</summary>
    public static async Task<long> WriteAsync<TRow>(string path, IReadOnlyList<ParquetColumn<TRow>> columns, string schemaTag,
        IEnumerable<TRow> rows, int rowGroupSize = DefaultRowGroupSize, CancellationToken cancellationToken = default)
    {
        long count = 0;
        await AtomicFile.WriteAsync(path, async stream =>
        {
            await using var writer = await ParquetTableWriter.CreateAsync(stream, columns, schemaTag, rowGroupSize, cancellationToken);
            await writer.WriteAllAsync(rows, cancellationToken);
            await writer.CompleteAsync(cancellationToken);
            count = writer.RowCount;
        });
        return count;
    }

    /// <summary>The value of a required string cell; null is corruption in a set this project wrote, so it is an
    /// error naming the file, row and column.</summary>
    internal static string NotNull(string? value, ParquetTableReader table, ParquetTableRowGroup rg, int i, string column) =>
        value ?? throw new InvalidDataException($"{table.Name}: row {rg.RowOf(i)}, column '{column}' is null");
}
