using System.Runtime.CompilerServices;

namespace Humpback.Data;

/// <summary>A web-text segment that the backward model will write an instruction for.</summary>
/// <param name="SegmentId">"&lt;source_id&gt;/&lt;k&gt;": the k-th segment (0-based) cut from the document</param>
/// <param name="SourceId">"&lt;file name&gt;:&lt;line&gt;" (1-based line of a json-lines file) or "&lt;file name&gt;:&lt;row&gt;" (0-based Parquet row)</param>
public sealed record Candidate(string SegmentId, string Text, string? Url, string SourceId)
{
    /// <summary>Length in UTF-16 code units (string.Length), the unit of --min-chars/--max-chars.</summary>
    public int CharLen => Text.Length;
}

/// <summary>Candidates set (schema in docs/data.md): segment_id, text, url, source_id, char_len.</summary>
public static class CandidatesFile
{
    public const string Tag = "candidates/1";

    /// <summary>Segments are up to a few KB, so row groups are smaller than for pairs (bounded memory when streaming).</summary>
    public const int RowGroupSize = 4_096;

    public static readonly IReadOnlyList<ParquetColumn<Candidate>> Columns =
    [
        ParquetColumn.String<Candidate>("segment_id", c => c.SegmentId),
        ParquetColumn.String<Candidate>("text", c => c.Text),
        ParquetColumn.String<Candidate>("url", c => c.Url),
        ParquetColumn.String<Candidate>("source_id", c => c.SourceId),
        ParquetColumn.Int32<Candidate>("char_len", c => c.CharLen),
    ];

    public static Task<ParquetTableWriter<Candidate>> CreateWriterAsync(Stream output, CancellationToken cancellationToken = default) =>
        ParquetTableWriter.CreateAsync(output, Columns, Tag, RowGroupSize, cancellationToken);

    public static Task<long> WriteAsync(string path, IEnumerable<Candidate> rows, CancellationToken cancellationToken = default) =>
        ParquetTable.WriteAsync(path, Columns, Tag, rows, RowGroupSize, cancellationToken);

    public static async IAsyncEnumerable<Candidate> ReadAsync(string path, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using ParquetTableReader table = await ParquetTableReader.OpenAsync(path, cancellationToken);
        var id = table.Require("segment_id", ColumnKind.String);
        var text = table.Require("text", ColumnKind.String);
        var url = table.Optional("url", ColumnKind.String);
        var source = table.Optional("source_id", ColumnKind.String);
        for (int g = 0; g < table.RowGroupCount; g++)
        {
            ParquetTableRowGroup rg = table.OpenRowGroup(g);
            string?[] ids = await rg.ReadStringsAsync(id, cancellationToken);
            string?[] texts = await rg.ReadStringsAsync(text, cancellationToken);
            string?[]? urls = url == null ? null : await rg.ReadStringsAsync(url, cancellationToken);
            string?[]? sources = source == null ? null : await rg.ReadStringsAsync(source, cancellationToken);
            for (int i = 0; i < rg.RowCount; i++)
                yield return new Candidate(
                    ParquetTable.NotNull(ids[i], table, rg, i, "segment_id"),
                    ParquetTable.NotNull(texts[i], table, rg, i, "text"),
                    urls?[i], sources?[i] ?? "");
        }
    }

    public static async Task<List<Candidate>> ReadAllAsync(string path, CancellationToken cancellationToken = default)
    {
        var list = new List<Candidate>();
        await foreach (Candidate c in ReadAsync(path, cancellationToken)) list.Add(c);
        return list;
    }
}
