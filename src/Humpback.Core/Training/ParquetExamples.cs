using Humpback.Data;

namespace Humpback.Training;

/// <summary>Reads training examples from Parquet row group by row group, through the Data layer's typed table reader
/// (errors name the file, row and column).</summary>
internal static class ParquetExamples
{
    public static List<TrainingExample> Read(string path, Objective objective) => ReadAsync(path, objective).GetAwaiter().GetResult();

    private static async Task<List<TrainingExample>> ReadAsync(string path, Objective objective)
    {
        var list = new List<TrainingExample>();
        await using ParquetTableReader reader = await ParquetTableReader.OpenAsync(path);
        string[] required = objective == Objective.Lm ? ["text"] : ["instruction", "output"];
        string[] optional = objective == Objective.Lm ? ["id", "segment_id"] : ["system", "id", "segment_id"];
        var fields = required.ToDictionary(c => c, c => reader.Require(c, ColumnKind.String));
        foreach (string c in optional)
            if (reader.Optional(c, ColumnKind.String) is { } f) fields[c] = f;
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            ParquetTableRowGroup rg = reader.OpenRowGroup(g);
            var columns = new Dictionary<string, string?[]>();
            foreach (var (name, field) in fields) columns[name] = await rg.ReadStringsAsync(field);
            for (int r = 0; r < rg.RowCount; r++)
            {
                int row = r;
                list.Add(TrainingData.FromFields(path, $"row {rg.RowOf(r)}", objective, list.Count,
                    name => columns.TryGetValue(name, out var c) ? c[row] : null,
                    name => columns.ContainsKey(name)));
            }
        }
        return list;
    }
}
