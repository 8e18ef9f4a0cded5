using Parquet;
using Parquet.Schema;

namespace Humpback.Training;

/// <summary>Reads training examples from Parquet, row group by row group (string columns by name).</summary>
internal static class ParquetExamples
{
    public static List<TrainingExample> Read(string path, Objective objective) => ReadAsync(path, objective).GetAwaiter().GetResult();

    private static async Task<List<TrainingExample>> ReadAsync(string path, Objective objective)
    {
        var list = new List<TrainingExample>();
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(path);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: not a readable Parquet file ({e.Message})", e);
        }
        await using (reader)
        {
            DataField[] fields = reader.Schema.GetDataFields();
            string[] wanted = objective == Objective.Lm ? new[] { "text", "id", "segment_id" } : new[] { "instruction", "output", "system", "id", "segment_id" };
            foreach (string required in objective == Objective.Lm ? new[] { "text" } : new[] { "instruction", "output" })
            {
                DataField? f = fields.FirstOrDefault(x => x.Name == required);
                if (f == null) throw new InvalidDataException($"{path}: column '{required}' is missing (columns: {string.Join(", ", fields.Select(x => x.Name))})");
                if (f.ClrType != typeof(string)) throw new InvalidDataException($"{path}: column '{required}' has type {f.ClrType.Name}, expected string");
            }
            long rowBase = 0;
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                using ParquetRowGroupReader rg = reader.OpenRowGroupReader(g);
                int rows = checked((int)rg.RowCount);
                var columns = new Dictionary<string, string?[]>();
                foreach (string name in wanted)
                {
                    DataField? f = fields.FirstOrDefault(x => x.Name == name && x.ClrType == typeof(string));
                    if (f == null) continue;
                    var buf = new string?[rows];
                    await rg.ReadAsync(f, buf.AsMemory()!);
                    columns[name] = buf;
                }
                for (int r = 0; r < rows; r++)
                {
                    int row = r;
                    list.Add(TrainingData.FromFields(path, $"row {rowBase + r}", objective, list.Count,
                        name => columns.TryGetValue(name, out var c) ? c[row] : null,
                        name => columns.ContainsKey(name)));
                }
                rowBase += rows;
            }
        }
        return list;
    }
}
