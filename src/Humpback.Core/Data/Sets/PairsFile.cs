using System.Runtime.CompilerServices;

namespace Humpback.Data;

/// <summary>An (instruction, output) pair with its provenance. Seed pairs are oasst1 first turns; backward pairs
/// are the same rows reversed (instruction = the reply, output = the prompt) for training the backward model Myx.</summary>
/// <param name="Id">stable id, "oasst1/&lt;message_tree_id&gt;" for oasst1</param>
/// <param name="Source">where the pair comes from ("oasst1")</param>
public sealed record PairRecord(
    string Id,
    string Instruction,
    string Output,
    string Source,
    string? MessageTreeId = null,
    string? PromptMessageId = null,
    string? ReplyMessageId = null,
    string? Lang = null)
{
    /// <summary>The backward-model pair: output → instruction. The system prompt and template are the training layer's.</summary>
    public PairRecord Reversed() => this with { Instruction = Output, Output = Instruction };
}

/// <summary>Reads and writes pair sets (schema in docs/data.md): id, instruction, output, source, message_tree_id,
/// prompt_message_id, reply_message_id, lang.</summary>
public static class PairsFile
{
    public const string SeedTag = "seed-pairs/1";
    public const string BackwardTag = "backward-pairs/1";

    public static readonly IReadOnlyList<ParquetColumn<PairRecord>> Columns =
    [
        ParquetColumn.String<PairRecord>("id", p => p.Id),
        ParquetColumn.String<PairRecord>("instruction", p => p.Instruction),
        ParquetColumn.String<PairRecord>("output", p => p.Output),
        ParquetColumn.String<PairRecord>("source", p => p.Source),
        ParquetColumn.String<PairRecord>("message_tree_id", p => p.MessageTreeId),
        ParquetColumn.String<PairRecord>("prompt_message_id", p => p.PromptMessageId),
        ParquetColumn.String<PairRecord>("reply_message_id", p => p.ReplyMessageId),
        ParquetColumn.String<PairRecord>("lang", p => p.Lang),
    ];

    public static Task<long> WriteAsync(string path, IEnumerable<PairRecord> pairs, string schemaTag = SeedTag, CancellationToken cancellationToken = default) =>
        ParquetTable.WriteAsync(path, Columns, schemaTag, pairs, ParquetTable.DefaultRowGroupSize, cancellationToken);

    /// <summary>Streams the pairs of <paramref name="path"/> row group by row group. Needs id, instruction and output;
    /// source and the oasst ids are read when present (a training set, for example, has none of them).</summary>
    public static async IAsyncEnumerable<PairRecord> ReadAsync(string path, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using ParquetTableReader table = await ParquetTableReader.OpenAsync(path, cancellationToken);
        var id = table.Require("id", ColumnKind.String);
        var instruction = table.Require("instruction", ColumnKind.String);
        var output = table.Require("output", ColumnKind.String);
        var source = table.Optional("source", ColumnKind.String);
        var tree = table.Optional("message_tree_id", ColumnKind.String);
        var prompt = table.Optional("prompt_message_id", ColumnKind.String);
        var reply = table.Optional("reply_message_id", ColumnKind.String);
        var lang = table.Optional("lang", ColumnKind.String);
        for (int g = 0; g < table.RowGroupCount; g++)
        {
            ParquetTableRowGroup rg = table.OpenRowGroup(g);
            string?[] ids = await rg.ReadStringsAsync(id, cancellationToken);
            string?[] ins = await rg.ReadStringsAsync(instruction, cancellationToken);
            string?[] outs = await rg.ReadStringsAsync(output, cancellationToken);
            string?[]? sources = source == null ? null : await rg.ReadStringsAsync(source, cancellationToken);
            string?[]? trees = tree == null ? null : await rg.ReadStringsAsync(tree, cancellationToken);
            string?[]? prompts = prompt == null ? null : await rg.ReadStringsAsync(prompt, cancellationToken);
            string?[]? replies = reply == null ? null : await rg.ReadStringsAsync(reply, cancellationToken);
            string?[]? langs = lang == null ? null : await rg.ReadStringsAsync(lang, cancellationToken);
            for (int i = 0; i < rg.RowCount; i++)
            {
                yield return new PairRecord(
                    ParquetTable.NotNull(ids[i], table, rg, i, "id"),
                    ParquetTable.NotNull(ins[i], table, rg, i, "instruction"),
                    ParquetTable.NotNull(outs[i], table, rg, i, "output"),
                    sources?[i] ?? "",
                    trees?[i], prompts?[i], replies?[i], langs?[i]);
            }
        }
    }

    public static async Task<List<PairRecord>> ReadAllAsync(string path, CancellationToken cancellationToken = default)
    {
        var list = new List<PairRecord>();
        await foreach (PairRecord p in ReadAsync(path, cancellationToken)) list.Add(p);
        return list;
    }
}
