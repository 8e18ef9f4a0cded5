using System.Runtime.CompilerServices;

namespace Humpback.Data;

/// <summary>A candidate with the instruction the backward model wrote for it and the seed model's rating:
/// the input of <see cref="Selector"/>. Scores are null when the rating could not be parsed.</summary>
/// <param name="P1">probability of rating 1 (P2…P5 likewise); null when the scorer gives no distribution</param>
public sealed record ScoredCandidate(
    string SegmentId,
    string Text,
    string? Url,
    string SourceId,
    string Instruction,
    double? ScoreExpected,
    int? ScoreArgmax,
    double? P1 = null,
    double? P2 = null,
    double? P3 = null,
    double? P4 = null,
    double? P5 = null);

/// <summary>Scored candidates (schema in docs/data.md): the candidates columns, then instruction,
/// score_expected, score_argmax, p1..p5. <see cref="Selector"/> also accepts files with only some of these
/// (id instead of segment_id, output instead of text, p1..p5 instead of the scores).</summary>
public static class ScoredCandidatesFile
{
    public const string Tag = "scored-candidates/1";

    public static readonly IReadOnlyList<ParquetColumn<ScoredCandidate>> Columns =
    [
        ParquetColumn.String<ScoredCandidate>("segment_id", c => c.SegmentId),
        ParquetColumn.String<ScoredCandidate>("text", c => c.Text),
        ParquetColumn.String<ScoredCandidate>("url", c => c.Url),
        ParquetColumn.String<ScoredCandidate>("source_id", c => c.SourceId),
        ParquetColumn.Int32<ScoredCandidate>("char_len", c => c.Text.Length),
        ParquetColumn.String<ScoredCandidate>("instruction", c => c.Instruction),
        ParquetColumn.NullableDouble<ScoredCandidate>("score_expected", c => c.ScoreExpected),
        ParquetColumn.NullableInt32<ScoredCandidate>("score_argmax", c => c.ScoreArgmax),
        ParquetColumn.NullableDouble<ScoredCandidate>("p1", c => c.P1),
        ParquetColumn.NullableDouble<ScoredCandidate>("p2", c => c.P2),
        ParquetColumn.NullableDouble<ScoredCandidate>("p3", c => c.P3),
        ParquetColumn.NullableDouble<ScoredCandidate>("p4", c => c.P4),
        ParquetColumn.NullableDouble<ScoredCandidate>("p5", c => c.P5),
    ];

    public static Task<ParquetTableWriter<ScoredCandidate>> CreateWriterAsync(Stream output, CancellationToken cancellationToken = default) =>
        ParquetTableWriter.CreateAsync(output, Columns, Tag, CandidatesFile.RowGroupSize, cancellationToken);

    public static Task<long> WriteAsync(string path, IEnumerable<ScoredCandidate> rows, CancellationToken cancellationToken = default) =>
        ParquetTable.WriteAsync(path, Columns, Tag, rows, CandidatesFile.RowGroupSize, cancellationToken);

    public static async IAsyncEnumerable<ScoredCandidate> ReadAsync(string path, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using ParquetTableReader table = await ParquetTableReader.OpenAsync(path, cancellationToken);
        var id = table.RequireAny(ColumnKind.String, "segment_id", "id");
        var text = table.RequireAny(ColumnKind.String, "text", "output");
        var url = table.Optional("url", ColumnKind.String);
        var source = table.Optional("source_id", ColumnKind.String);
        var instruction = table.Require("instruction", ColumnKind.String);
        var expected = table.Optional("score_expected", ColumnKind.Real);
        var argmax = table.Optional("score_argmax", ColumnKind.Integer);
        var p = Enumerable.Range(1, 5).Select(k => table.Optional($"p{k}", ColumnKind.Real)).ToArray();
        for (int g = 0; g < table.RowGroupCount; g++)
        {
            ParquetTableRowGroup rg = table.OpenRowGroup(g);
            string?[] ids = await rg.ReadStringsAsync(id, cancellationToken);
            string?[] texts = await rg.ReadStringsAsync(text, cancellationToken);
            string?[]? urls = url == null ? null : await rg.ReadStringsAsync(url, cancellationToken);
            string?[]? sources = source == null ? null : await rg.ReadStringsAsync(source, cancellationToken);
            string?[] instructions = await rg.ReadStringsAsync(instruction, cancellationToken);
            double?[]? e = expected == null ? null : await rg.ReadRealsAsync(expected, cancellationToken);
            long?[]? a = argmax == null ? null : await rg.ReadIntegersAsync(argmax, cancellationToken);
            var ps = new double?[5][];
            for (int k = 0; k < 5; k++) ps[k] = p[k] == null ? new double?[rg.RowCount] : await rg.ReadRealsAsync(p[k]!, cancellationToken);
            for (int i = 0; i < rg.RowCount; i++)
                yield return new ScoredCandidate(
                    ParquetTable.NotNull(ids[i], table, rg, i, id.Name),
                    ParquetTable.NotNull(texts[i], table, rg, i, text.Name),
                    urls?[i], sources?[i] ?? "",
                    instructions[i] ?? "",
                    e?[i], a?[i] is long v ? checked((int)v) : null,
                    ps[0][i], ps[1][i], ps[2][i], ps[3][i], ps[4][i]);
        }
    }

    public static async Task<List<ScoredCandidate>> ReadAllAsync(string path, CancellationToken cancellationToken = default)
    {
        var list = new List<ScoredCandidate>();
        await foreach (ScoredCandidate c in ReadAsync(path, cancellationToken)) list.Add(c);
        return list;
    }
}
