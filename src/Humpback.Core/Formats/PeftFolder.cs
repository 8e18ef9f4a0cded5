using System.Text.Json;
using System.Text.RegularExpressions;
using Humpback.IO;
using Humpback.Model;

namespace Humpback.Formats;

/// <summary>PEFT LoRA adapter folders: adapter_config.json + adapter_model.safetensors with tensors named
/// base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight ([r, in]) and .lora_B.weight ([out, r]).</summary>
public static partial class PeftFolder
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    public const string Prefix = "base_model.model.";

    public static bool Looks(string dir) => File.Exists(Path.Combine(dir, ConfigFile));

    [GeneratedRegex(@"^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+_proj)\.lora_([AB])\.weight$")]
    private static partial Regex PeftName();

    public static LoraConfig ReadConfig(string dir)
    {
        string path = Path.Combine(dir, ConfigFile);
        if (!File.Exists(path)) throw new InvalidDataException($"{path}: missing (a PEFT adapter folder needs adapter_config.json)");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            JsonElement r = doc.RootElement;
            if (r.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: expected a JSON object");
            var j = new JsonFields(r, path);
            string peft = j.OptString("peft_type") ?? "";
            if (peft != "LORA") throw new InvalidDataException($"{path}: peft_type: '{peft}' is not supported (expected LORA)");
            if (j.OptBool("use_dora") == true) throw new InvalidDataException($"{path}: use_dora: DoRA is not supported");
            if (j.OptBool("use_rslora") == true) throw new InvalidDataException($"{path}: use_rslora: rank-stabilised LoRA is not supported");
            if (j.OptBool("fan_in_fan_out") == true) throw new InvalidDataException($"{path}: fan_in_fan_out: true is not supported (Llama uses nn.Linear)");
            string bias = j.OptString("bias") ?? "none";
            if (bias != "none") throw new InvalidDataException($"{path}: bias: '{bias}' is not supported (expected none)");
            foreach (string pattern in new[] { "rank_pattern", "alpha_pattern" })
            {
                if (r.TryGetProperty(pattern, out JsonElement p) && p.ValueKind == JsonValueKind.Object && p.EnumerateObject().Any())
                    throw new InvalidDataException($"{path}: {pattern}: per-module ranks/alphas are not supported");
            }
            var targets = new List<string>();
            if (!r.TryGetProperty("target_modules", out JsonElement tm)) throw new InvalidDataException($"{path}: target_modules: missing");
            if (tm.ValueKind == JsonValueKind.Array)
            {
                foreach (JsonElement t in tm.EnumerateArray())
                {
                    string? m = t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                    if (m == null || !LoraModules.IsKnown(m))
                        throw new InvalidDataException($"{path}: target_modules: '{t}' is not a Llama linear module ({string.Join(", ", LoraModules.All)})");
                    targets.Add(m);
                }
            }
            else
            {
                throw new InvalidDataException($"{path}: target_modules: expected a list of module names (a regex string is not supported)");
            }
            var config = new LoraConfig
            {
                Rank = j.ReqInt("r"),
                Alpha = j.OptFloat("lora_alpha") ?? 8f,
                TargetModules = LoraModules.All.Where(targets.Contains).ToArray(),
                Dropout = j.OptFloat("lora_dropout") ?? 0f,
                BaseModel = j.OptString("base_model_name_or_path") ?? "",
            };
            config.Validate(path);
            return config;
        }
    }

    /// <summary>Loads an adapter; with <paramref name="model"/> the shapes are checked against the base model.</summary>
    public static LoraAdapter Load(string dir, LlamaConfig? model = null)
    {
        LoraConfig config = ReadConfig(dir);
        string path = Path.Combine(dir, WeightsFile);
        if (!File.Exists(path)) throw new InvalidDataException($"{path}: missing");
        var adapter = new LoraAdapter(config);
        using SafetensorsFile f = SafetensorsFile.Open(path);
        var pairs = new Dictionary<(int, string), (SafetensorsEntry? A, SafetensorsEntry? B)>();
        foreach (SafetensorsEntry e in f.Entries)
        {
            Match m = PeftName().Match(e.Name);
            if (!m.Success) throw new InvalidDataException($"{path}: {e.Name}: not a PEFT LoRA tensor name (base_model.model.model.layers.N.<module>.lora_A|B.weight)");
            int layer = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            string module = m.Groups[3].Value;
            if (!LoraModules.IsKnown(module) || LoraModules.Path(module) != $"{m.Groups[2].Value}.{module}")
                throw new InvalidDataException($"{path}: {e.Name}: unknown module '{m.Groups[2].Value}.{module}'");
            if (!config.TargetModules.Contains(module))
                throw new InvalidDataException($"{path}: {e.Name}: module {module} is not in target_modules of {ConfigFile}");
            if (e.Shape.Length != 2) throw new InvalidDataException($"{path}: {e.Name}.shape: expected 2 dimensions");
            pairs.TryGetValue((layer, module), out var p);
            pairs[(layer, module)] = m.Groups[4].Value == "A" ? (e, p.B) : (p.A, e);
        }
        if (pairs.Count == 0) throw new InvalidDataException($"{path}: no LoRA tensors");
        foreach (var ((layer, module), (a, b)) in pairs.OrderBy(p => p.Key))
        {
            if (a == null || b == null)
                throw new InvalidDataException($"{path}: {(a ?? b)!.Name}: has no matching lora_{(a == null ? 'A' : 'B')}");
            if (a.Shape[0] != config.Rank) throw new InvalidDataException($"{path}: {a.Name}.shape: [{string.Join(", ", a.Shape)}] but r = {config.Rank}");
            if (b.Shape[1] != config.Rank) throw new InvalidDataException($"{path}: {b.Name}.shape: [{string.Join(", ", b.Shape)}] but r = {config.Rank}");
            HostTensor ta = Rename(f.ReadTensor(a.Name), LoraAdapter.TensorName(layer, module, 'A'));
            HostTensor tb = Rename(f.ReadTensor(b.Name), LoraAdapter.TensorName(layer, module, 'B'));
            adapter.Set(layer, module, ta, tb);
        }
        if (model != null) adapter.Validate(model, path);
        return adapter;
    }

    private static HostTensor Rename(HostTensor t, string name) => new(name, t.Shape, t.Data);

    /// <summary>Writes a PEFT adapter folder atomically.</summary>
    public static void Save(string dir, LoraAdapter adapter, StorageDType dtype = StorageDType.F32) =>
        AtomicFile.WriteDirectory(dir, tmp => WriteInto(tmp, adapter, dtype));

    public static void WriteInto(string dir, LoraAdapter adapter, StorageDType dtype)
    {
        if (adapter.Weights.Count == 0) throw new ArgumentException("the adapter has no tensors", nameof(adapter));
        LoraConfig c = adapter.Config;
        using (var ms = new MemoryStream())
        {
            using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteStartObject("alpha_pattern");
                w.WriteEndObject();
                w.WriteNull("auto_mapping");
                w.WriteString("base_model_name_or_path", c.BaseModel);
                w.WriteString("bias", "none");
                w.WriteBoolean("fan_in_fan_out", false);
                w.WriteBoolean("inference_mode", true);
                w.WriteBoolean("init_lora_weights", true);
                w.WriteNull("layers_pattern");
                w.WriteNull("layers_to_transform");
                w.WriteNumber("lora_alpha", c.Alpha);
                w.WriteNumber("lora_dropout", c.Dropout);
                w.WriteNull("modules_to_save");
                w.WriteString("peft_type", "LORA");
                w.WriteNumber("r", c.Rank);
                w.WriteStartObject("rank_pattern");
                w.WriteEndObject();
                w.WriteNull("revision");
                w.WriteStartArray("target_modules");
                foreach (string m in c.TargetModules) w.WriteStringValue(m);
                w.WriteEndArray();
                w.WriteString("task_type", "CAUSAL_LM");
                w.WriteBoolean("use_dora", false);
                w.WriteBoolean("use_rslora", false);
                w.WriteEndObject();
            }
            ms.WriteByte((byte)'\n');
            File.WriteAllBytes(Path.Combine(dir, ConfigFile), ms.ToArray());
        }
        var tensors = new List<HostTensor>();
        foreach (var ((layer, module), p) in adapter.Weights)
        {
            tensors.Add(new HostTensor(Prefix + LoraAdapter.TensorName(layer, module, 'A'), p.A.Shape, p.A.Data));
            tensors.Add(new HostTensor(Prefix + LoraAdapter.TensorName(layer, module, 'B'), p.B.Shape, p.B.Data));
        }
        using var fs = new FileStream(Path.Combine(dir, WeightsFile), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        SafetensorsWriter.Write(fs, tensors, dtype);
        fs.Flush(flushToDisk: true);
    }
}
