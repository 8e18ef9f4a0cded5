using System.Runtime.CompilerServices;

namespace Humpback.Data;

/// <summary>The Humpback system tags (Li et al. 2023, §2.3 "tagging"): seed examples and augmented examples get
/// different system sentences so the model can tell the two styles apart; at inference both are used together.</summary>
public static class HumpbackTags
{
    public const string Seed = Prompts.HumpbackPrompts.SeedSystem;
    public const string Augmented = Prompts.HumpbackPrompts.AugmentedSystem;

    /// <summary>Values of the <c>source</c> column of a training set.</summary>
    public const string SeedSource = "seed";
    public const string AugmentedSource = "augmented";
}

/// <summary>One row of a fine-tuning set.</summary>
/// <param name="Source">"seed" or "augmented"</param>
public sealed record TrainingExample(string Id, string System, string Instruction, string Output, string Source);

/// <summary>Training set (schema in docs/data.md): id, system, instruction, output, source.</summary>
public static class TrainingSetFile
{
    public const string Tag = "training-set/1";

    public static readonly IReadOnlyList<ParquetColumn<TrainingExample>> Columns =
    [
        ParquetColumn.String<TrainingExample>("id", e => e.Id),
        ParquetColumn.String<TrainingExample>("system", e => e.System),
        ParquetColumn.String<TrainingExample>("instruction", e => e.Instruction),
        ParquetColumn.String<TrainingExample>("output", e => e.Output),
        ParquetColumn.String<TrainingExample>("source", e => e.Source),
    ];

    public static Task<long> WriteAsync(string path, IEnumerable<TrainingExample> rows, CancellationToken cancellationToken = default) =>
        ParquetTable.WriteAsync(path, Columns, Tag, rows, ParquetTable.DefaultRowGroupSize, cancellationToken);

    public static async IAsyncEnumerable<TrainingExample> ReadAsync(string path, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using ParquetTableReader table = await ParquetTableReader.OpenAsync(path, cancellationToken);
        var id = table.Require("id", ColumnKind.String);
        var system = table.Require("system", ColumnKind.String);
        var instruction = table.Require("instruction", ColumnKind.String);
        var output = table.Require("output", ColumnKind.String);
        var source = table.Require("source", ColumnKind.String);
        for (int g = 0; g < table.RowGroupCount; g++)
        {
            ParquetTableRowGroup rg = table.OpenRowGroup(g);
            string?[] ids = await rg.ReadStringsAsync(id, cancellationToken);
            string?[] systems = await rg.ReadStringsAsync(system, cancellationToken);
            string?[] ins = await rg.ReadStringsAsync(instruction, cancellationToken);
            string?[] outs = await rg.ReadStringsAsync(output, cancellationToken);
            string?[] sources = await rg.ReadStringsAsync(source, cancellationToken);
            for (int i = 0; i < rg.RowCount; i++)
                yield return new TrainingExample(
                    ParquetTable.NotNull(ids[i], table, rg, i, "id"),
                    systems[i] ?? "",
                    ParquetTable.NotNull(ins[i], table, rg, i, "instruction"),
                    ParquetTable.NotNull(outs[i], table, rg, i, "output"),
                    sources[i] ?? "");
        }
    }

    public static async Task<List<TrainingExample>> ReadAllAsync(string path, CancellationToken cancellationToken = default)
    {
        var list = new List<TrainingExample>();
        await foreach (TrainingExample e in ReadAsync(path, cancellationToken)) list.Add(e);
        return list;
    }
}
