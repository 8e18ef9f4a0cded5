using System.Text;
using System.Text.Json;
using Humpback.IO;

namespace Humpback.Data;

/// <summary>Counters of one data step (rows read, rows dropped by each filter, rows written) plus a few
/// examples of skipped input ("file:line: reason"). Printed by the verbs and saved as JSON beside the output,
/// so no row is ever lost silently. Counters keep the order in which they were first declared or added.</summary>
public sealed class DataStats
{
    /// <summary>How many skip examples are kept (the counters are always complete).</summary>
    public const int MaxExamples = 20;

    private readonly List<string> _order = new();
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);
    private readonly List<string> _examples = new();
    private readonly List<KeyValuePair<string, string>> _info = new();

    public DataStats(string step, params string[] counters)
    {
        Step = step;
        foreach (string c in counters) Declare(c);
    }

    /// <summary>The step these counters describe: "seed", "segment", "select", …</summary>
    public string Step { get; }

    public IReadOnlyList<KeyValuePair<string, long>> Counters => _order.Select(k => new KeyValuePair<string, long>(k, _counts[k])).ToList();
    public IReadOnlyList<string> Examples => _examples;

    /// <summary>Extra facts that are not counts: input files, timings, the options used.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Info => _info;

    public long this[string counter] => _counts.TryGetValue(counter, out long v) ? v : 0;

    public void Declare(string counter)
    {
        if (_counts.TryAdd(counter, 0)) _order.Add(counter);
    }

    public void Add(string counter, long n = 1)
    {
        if (_counts.TryGetValue(counter, out long v)) _counts[counter] = v + n;
        else
        {
            _counts[counter] = n;
            _order.Add(counter);
        }
    }

    /// <summary>Counts a skipped input and keeps <paramref name="where"/> as an example while there is room.</summary>
    public void Skip(string counter, string where)
    {
        Add(counter);
        if (_examples.Count < MaxExamples) _examples.Add($"{where}: {counter}");
    }

    public void SetInfo(string key, string value)
    {
        int i = _info.FindIndex(kv => kv.Key == key);
        if (i >= 0) _info[i] = new(key, value);
        else _info.Add(new(key, value));
    }

    /// <summary>Adds <paramref name="other"/>'s counters and examples to this one.</summary>
    public void Merge(DataStats other)
    {
        foreach (string k in other._order) Add(k, other._counts[k]);
        foreach (string e in other._examples)
            if (_examples.Count < MaxExamples) _examples.Add(e);
    }

    public string ToText()
    {
        var sb = new StringBuilder();
        sb.Append(Step).Append(':').AppendLine();
        int width = _order.Count == 0 ? 0 : _order.Max(k => k.Length);
        foreach (string k in _order) sb.Append("  ").Append(k.PadRight(width)).Append("  ").AppendLine(_counts[k].ToString("N0", System.Globalization.CultureInfo.InvariantCulture));
        foreach (var kv in _info) sb.Append("  ").Append(kv.Key).Append(": ").AppendLine(kv.Value);
        if (_examples.Count > 0)
        {
            sb.AppendLine("  skipped (first examples):");
            foreach (string e in _examples) sb.Append("    ").AppendLine(e);
        }
        return sb.ToString();
    }

    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("step", Step);
            w.WriteStartObject("counters");
            foreach (string k in _order) w.WriteNumber(k, _counts[k]);
            w.WriteEndObject();
            w.WriteStartObject("info");
            foreach (var kv in _info) w.WriteString(kv.Key, kv.Value);
            w.WriteEndObject();
            w.WriteStartArray("examples");
            foreach (string e in _examples) w.WriteStringValue(e);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    /// <summary>Writes the JSON next to <paramref name="output"/> (see <see cref="PathBeside"/>) and returns its path.</summary>
    public string SaveBeside(string output)
    {
        string path = PathBeside(output);
        AtomicFile.WriteAllText(path, ToJson());
        return path;
    }

    /// <summary>"dir/candidates.parquet" → "dir/candidates.stats.json".</summary>
    public static string PathBeside(string output) => Path.ChangeExtension(output, ".stats.json");
}
