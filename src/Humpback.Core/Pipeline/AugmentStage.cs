using System.Text.Json.Nodes;
using Humpback.Data;
using Humpback.Inference;

using InferenceChat = Humpback.Inference.ChatFormat;
using PromptFormat = Humpback.Prompts.ChatFormat;

namespace Humpback.Pipeline;

/// <summary>Self-augmentation: Myx writes one instruction per web segment (the backward prompt), then the
/// generations become (instruction, output = segment) pairs. Rows whose generation failed or came out empty are
/// counted and dropped.</summary>
internal static class AugmentStage
{
    public const string RawGenerations = "data/augment-generations.parquet";

    public static Dictionary<string, JsonNode?> Run(RunFolder r, ReproduceConfig c, bool resume, IProgress<ProgressInfo>? progress, CancellationToken ct)
    {
        AugmentConfig a = c.Augment;
        var o = new GenerateJobOptions
        {
            ModelPath = r.PathOf(Reproduce.Gguf("myx")), InputPath = r.PathOf(Reproduce.Candidates), OutputPath = r.PathOf(RawGenerations),
            Template = "backward", Columns = new Dictionary<string, string> { ["output"] = "text" },
            IdColumn = "segment_id", IdColumnRequired = true, KeepColumns = ["text", "url"],
            ChatFormat = c.ChatFormat == "plain" ? InferenceChat.Plain : InferenceChat.Llama3,
            Generation = new GenerationSettings(Temperature: a.Temperature, TopP: a.TopP, MaxNewTokens: a.MaxNewTokens, Seed: a.Seed),
            EndTokens = c.ChatFormat == "plain" ? [] : ["<|eot_id|>"],
            Engine = new EngineOptions { ParallelSequences = a.Parallel, SequenceContext = a.ContextPerSequence },
            Overwrite = !resume,
        };
        JobStatistics st = GenerateJob.RunAsync(o, progress, ct).GetAwaiter().GetResult();

        var pairs = new List<PairRecord>();
        long dropped = 0;
        foreach (var row in GenerationRows.Read(r.PathOf(RawGenerations), "text"))
        {
            string instruction = row.Generation?.Trim() ?? "";
            if (row.Error != null || instruction.Length == 0)
            {
                dropped++;
                continue;
            }
            pairs.Add(new PairRecord(row.Id, instruction, row.Input ?? "", "augmented"));
        }
        PairsFile.WriteAsync(r.PathOf(Reproduce.Augmented), pairs, "augmented-pairs/1", ct).GetAwaiter().GetResult();
        Dictionary<string, JsonNode?> m = Reproduce.JobMetrics(st);
        m["pairs"] = pairs.Count;
        m["dropped_empty_or_error"] = dropped;
        return m;
    }
}

/// <summary>One row of a generate job's output: id, the input column kept beside it, the generation, the error.</summary>
internal sealed record GenerationRow(string Id, string? Input, string? Generation, string? Error);

internal static class GenerationRows
{
    /// <summary>Reads a generate job's output (columns id, generation, error, and <paramref name="inputColumn"/> when given).</summary>
    public static List<GenerationRow> Read(string path, string? inputColumn = null) => ReadAsync(path, inputColumn).GetAwaiter().GetResult();

    private static async Task<List<GenerationRow>> ReadAsync(string path, string? inputColumn)
    {
        var list = new List<GenerationRow>();
        await using ParquetTableReader t = await ParquetTableReader.OpenAsync(path);
        var id = t.Require("id", ColumnKind.String);
        var gen = t.Require("generation", ColumnKind.String);
        var err = t.Optional("error", ColumnKind.String);
        var inp = inputColumn == null ? null : t.Require(inputColumn, ColumnKind.String);
        for (int g = 0; g < t.RowGroupCount; g++)
        {
            ParquetTableRowGroup rg = t.OpenRowGroup(g);
            string?[] ids = await rg.ReadStringsAsync(id), gens = await rg.ReadStringsAsync(gen);
            string?[]? errs = err == null ? null : await rg.ReadStringsAsync(err);
            string?[]? inputs = inp == null ? null : await rg.ReadStringsAsync(inp);
            for (int i = 0; i < rg.RowCount; i++) list.Add(new GenerationRow(ids[i] ?? $"row-{rg.RowOf(i)}", inputs?[i], gens[i], errs?[i]));
        }
        return list;
    }
}
