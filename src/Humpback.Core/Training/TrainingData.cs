using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace Humpback.Training;

/// <summary>Reads training examples: JSONL (optionally .gz) or Parquet with `instruction`, `output` and optional
/// `system` / `id` columns (SFT), or a `text` column / plain .txt documents separated by blank lines (LM).</summary>
public static class TrainingData
{
    public static IReadOnlyList<TrainingExample> Load(string path, Objective objective)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: data file not found", path);
        if (new FileInfo(path).Length == 0) throw new InvalidDataException($"{path}: the data file is empty");
        string lower = path.ToLowerInvariant();
        List<TrainingExample> list;
        if (lower.EndsWith(".parquet", StringComparison.Ordinal)) list = ParquetExamples.Read(path, objective);
        else if (lower.EndsWith(".txt", StringComparison.Ordinal)) list = ReadText(path);
        else list = ReadJsonl(path, objective);
        if (list.Count == 0) throw new InvalidDataException($"{path}: no examples in the data file");
        return list;
    }

    private static List<TrainingExample> ReadText(string path)
    {
        var list = new List<TrainingExample>();
        var sb = new StringBuilder();
        void Flush()
        {
            string doc = sb.ToString().Trim();
            if (doc.Length > 0) list.Add(new TrainingExample($"doc-{list.Count}", null, "", doc));
            sb.Clear();
        }
        foreach (string line in File.ReadLines(path, Encoding.UTF8))
        {
            if (line.Trim().Length == 0) Flush();
            else sb.AppendLine(line);
        }
        Flush();
        return list;
    }

    private static List<TrainingExample> ReadJsonl(string path, Objective objective)
    {
        var list = new List<TrainingExample>();
        using Stream raw = File.OpenRead(path);
        using Stream s = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(raw, CompressionMode.Decompress) : raw;
        using var reader = new StreamReader(s, new UTF8Encoding(false, throwOnInvalidBytes: true));
        long lineNo = 0;
        string? line;
        while (true)
        {
            try
            {
                line = reader.ReadLine();
            }
            catch (DecoderFallbackException e)
            {
                throw new InvalidDataException($"{path}: line {lineNo + 1}: not valid UTF-8 ({e.Message})", e);
            }
            if (line == null) break;
            lineNo++;
            if (line.Trim().Length == 0) continue;
            JsonElement root;
            try
            {
                using var doc = JsonDocument.Parse(line);
                root = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}: line {lineNo}: malformed JSON ({e.Message})", e);
            }
            list.Add(FromFields(path, $"line {lineNo}", objective, list.Count, name =>
                root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null,
                name => root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out JsonElement v) && v.ValueKind != JsonValueKind.Null));
        }
        return list;
    }

    /// <summary>Builds one example from named string fields, with errors that name the file, row and column.</summary>
    internal static TrainingExample FromFields(string path, string where, Objective objective, int index,
        Func<string, string?> get, Func<string, bool> present)
    {
        string id = get("id") ?? get("segment_id") ?? $"row-{index}";
        if (objective == Objective.Lm)
        {
            string text = get("text") ?? throw new InvalidDataException($"{path}: {where}: column 'text' is missing or not a string");
            return new TrainingExample(id, null, "", text);
        }
        string instruction = get("instruction") ?? throw new InvalidDataException(
            $"{path}: {where}: column 'instruction' is {(present("instruction") ? "not a string" : "missing")}");
        string output = get("output") ?? throw new InvalidDataException(
            $"{path}: {where}: column 'output' is {(present("output") ? "not a string" : "missing")}");
        return new TrainingExample(id, get("system"), instruction, output);
    }
}
