using System.Globalization;
using System.Text.Json;
using Humpback.IO;
using Humpback.Model;

namespace Humpback.Formats;

/// <summary>A Llama checkpoint loaded from an HF folder: the shape, the fp32 tensors by canonical HF name,
/// the dtype the weights were stored in, and the tokenizer when the folder has one.</summary>
public sealed record HfCheckpoint(LlamaConfig Config, IReadOnlyDictionary<string, HostTensor> Tensors, StorageDType TorchDtype, HumpbackTokenizer? Tokenizer);

/// <summary>How <see cref="HfFolder.Save"/> stores the weights.</summary>
public sealed record HfSaveOptions
{
    public StorageDType DType { get; init; } = StorageDType.F32;
    /// <summary>Shards above this size are split into model-0000i-of-0000n.safetensors plus an index (HF's default is 5 GB).</summary>
    public long MaxShardBytes { get; init; } = 5_000_000_000;
}

/// <summary>HF model folders (config.json, model.safetensors or shards + model.safetensors.index.json, tokenizer files).</summary>
public static class HfFolder
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    public static bool Looks(string dir) => File.Exists(Path.Combine(dir, ConfigFile));

    /// <summary>Loads config, weights (validated against the config) and the tokenizer if present.</summary>
    public static HfCheckpoint Load(string dir, bool loadTokenizer = true)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: no such model folder");
        var (config, dtype) = HfConfigJson.Read(Path.Combine(dir, ConfigFile));
        Dictionary<string, HostTensor> tensors = LoadTensors(dir, config);
        HumpbackTokenizer? tok = loadTokenizer && File.Exists(Path.Combine(dir, HumpbackTokenizer.TokenizerFile)) ? HumpbackTokenizer.Load(dir) : null;
        return new HfCheckpoint(config, tensors, dtype, tok);
    }

    /// <summary>The safetensors files of a folder and, for each tensor name, the file that holds it.</summary>
    public static IReadOnlyDictionary<string, string> WeightMap(string dir)
    {
        string index = Path.Combine(dir, IndexFile);
        string single = Path.Combine(dir, WeightsFile);
        if (File.Exists(index)) return ReadIndex(index, dir);
        if (!File.Exists(single)) throw new InvalidDataException($"{dir}: no {WeightsFile} and no {IndexFile}");
        using var f = SafetensorsFile.Open(single);
        return f.Entries.ToDictionary(e => e.Name, _ => single, StringComparer.Ordinal);
    }

    private static Dictionary<string, string> ReadIndex(string index, string dir)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllText(index));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{index}: not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{index}: weight_map: missing or not an object");
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (JsonProperty p in map.EnumerateObject())
            {
                string? file = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : null;
                if (string.IsNullOrEmpty(file) || Path.GetFileName(file) != file)
                    throw new InvalidDataException($"{index}: weight_map.{p.Name}: expected a file name in the folder, got {p.Value}");
                string path = Path.Combine(dir, file);
                if (!File.Exists(path)) throw new InvalidDataException($"{index}: weight_map.{p.Name}: shard {file} does not exist");
                result[p.Name] = path;
            }
            return result;
        }
    }

    /// <summary>Reads every tensor the config expects, checks names and shapes, and converts to fp32.</summary>
    public static Dictionary<string, HostTensor> LoadTensors(string dir, LlamaConfig config)
    {
        IReadOnlyDictionary<string, string> map = WeightMap(dir);
        var files = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (string path in map.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)) files[path] = SafetensorsFile.Open(path);
            // A tensor in one shard but mapped to another, or present in two shards, means a broken folder.
            var seen = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (path, f) in files)
            {
                foreach (SafetensorsEntry e in f.Entries)
                {
                    if (seen.TryGetValue(e.Name, out string? other))
                        throw new InvalidDataException($"{path}: {e.Name}: also present in {Path.GetFileName(other)}");
                    seen[e.Name] = path;
                }
            }
            foreach (var (name, path) in map)
            {
                if (!files[path].Contains(name))
                    throw new InvalidDataException($"{Path.Combine(dir, IndexFile)}: weight_map.{name}: not found in {Path.GetFileName(path)}");
            }

            var expected = LlamaTensorNames.Expected(config).ToList();
            var expectedNames = expected.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
            var unexpected = seen.Keys.Where(n => !expectedNames.Contains(n) && !IsIgnorable(n, config)).Order(StringComparer.Ordinal).ToList();
            if (unexpected.Count > 0)
                throw new InvalidDataException($"{seen[unexpected[0]]}: {unexpected[0]}: not a tensor of this config (num_hidden_layers={config.NumLayers}, tie_word_embeddings={config.TieWordEmbeddings.ToString().ToLowerInvariant()})" +
                    (unexpected.Count > 1 ? $" (and {unexpected.Count - 1} more)" : ""));

            var tensors = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
            foreach (var (name, shape) in expected)
            {
                if (!seen.TryGetValue(name, out string? path))
                    throw new InvalidDataException($"{dir}: {name}: missing (expected shape [{string.Join(", ", shape)}] from config.json)");
                SafetensorsEntry e = files[path].Entry(name);
                if (!e.Shape.SequenceEqual(shape))
                    throw new InvalidDataException($"{path}: {name}.shape: [{string.Join(", ", e.Shape)}] but config.json implies [{string.Join(", ", shape)}]");
                tensors[name] = files[path].ReadTensor(name);
            }
            return tensors;
        }
        finally
        {
            foreach (SafetensorsFile f in files.Values) f.Dispose();
        }
    }

    /// <summary>Tensors that real checkpoints carry but that hold nothing we need.</summary>
    private static bool IsIgnorable(string name, LlamaConfig c) =>
        name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) || (c.TieWordEmbeddings && name == LlamaTensorNames.LmHead);

    /// <summary>Checks that <paramref name="tensors"/> are exactly the parameters of <paramref name="config"/>.</summary>
    public static void CheckTensors(LlamaConfig config, IReadOnlyDictionary<string, HostTensor> tensors, string source = "tensors")
    {
        var expected = LlamaTensorNames.Expected(config).ToList();
        foreach (var (name, shape) in expected)
        {
            if (!tensors.TryGetValue(name, out HostTensor? t)) throw new InvalidDataException($"{source}: {name}: missing");
            if (!t.Shape.SequenceEqual(shape))
                throw new InvalidDataException($"{source}: {name}.shape: [{string.Join(", ", t.Shape)}] but the config implies [{string.Join(", ", shape)}]");
        }
        var names = expected.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        string? extra = tensors.Keys.Where(n => !names.Contains(n) && !IsIgnorable(n, config)).Order(StringComparer.Ordinal).FirstOrDefault();
        if (extra != null) throw new InvalidDataException($"{source}: {extra}: not a tensor of this config");
    }

    /// <summary>Writes an HF folder atomically (a temporary sibling folder renamed into place).</summary>
    public static void Save(string dir, LlamaConfig config, IReadOnlyDictionary<string, HostTensor> tensors, HumpbackTokenizer? tokenizer = null, HfSaveOptions? options = null)
    {
        config.Validate("config");
        CheckTensors(config, tensors);
        AtomicFile.WriteDirectory(dir, tmp => WriteInto(tmp, config, tensors, tokenizer, options ?? new HfSaveOptions()));
    }

    /// <summary>Writes the folder's files into an existing (empty, temporary) folder.</summary>
    public static void WriteInto(string dir, LlamaConfig config, IReadOnlyDictionary<string, HostTensor> tensors, HumpbackTokenizer? tokenizer, HfSaveOptions options)
    {
        File.WriteAllText(Path.Combine(dir, ConfigFile), HfConfigJson.Serialize(config, options.DType));
        File.WriteAllText(Path.Combine(dir, "generation_config.json"), GenerationConfig(config));
        List<HostTensor> ordered = LlamaTensorNames.Expected(config).Select(e => tensors[e.Name]).ToList();
        List<List<HostTensor>> shards = Shard(ordered, options);
        if (shards.Count == 1)
        {
            WriteFile(Path.Combine(dir, WeightsFile), s => SafetensorsWriter.Write(s, shards[0], options.DType));
        }
        else
        {
            var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
            for (int i = 0; i < shards.Count; i++)
            {
                string file = string.Create(CultureInfo.InvariantCulture, $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors");
                WriteFile(Path.Combine(dir, file), s => SafetensorsWriter.Write(s, shards[i], options.DType));
                foreach (HostTensor t in shards[i]) map[t.Name] = file;
            }
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteStartObject("metadata");
                w.WriteNumber("total_size", SafetensorsWriter.DataBytes(ordered, options.DType));
                w.WriteEndObject();
                w.WriteStartObject("weight_map");
                foreach (var (k, v) in map) w.WriteString(k, v);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            File.WriteAllBytes(Path.Combine(dir, IndexFile), ms.ToArray());
        }
        tokenizer?.WriteFiles(dir);
    }

    private static List<List<HostTensor>> Shard(List<HostTensor> ordered, HfSaveOptions options)
    {
        var shards = new List<List<HostTensor>> { new() };
        long size = 0;
        foreach (HostTensor t in ordered)
        {
            long bytes = t.Count * FloatCodec.SizeOf(options.DType);
            if (size > 0 && size + bytes > options.MaxShardBytes)
            {
                shards.Add([]);
                size = 0;
            }
            shards[^1].Add(t);
            size += bytes;
        }
        return shards;
    }

    private static void WriteFile(string path, Action<Stream> write)
    {
        using var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        write(fs);
        fs.Flush(flushToDisk: true);
    }

    private static string GenerationConfig(LlamaConfig c)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("bos_token_id", c.BosTokenId);
            if (c.ExtraEosTokenIds.Count == 0) w.WriteNumber("eos_token_id", c.EosTokenId);
            else
            {
                w.WriteStartArray("eos_token_id");
                w.WriteNumberValue(c.EosTokenId);
                foreach (int id in c.ExtraEosTokenIds) w.WriteNumberValue(id);
                w.WriteEndArray();
            }
            w.WriteString("transformers_version", "4.46.0");
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}
