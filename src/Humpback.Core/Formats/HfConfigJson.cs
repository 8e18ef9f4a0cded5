using System.Text.Json;
using Humpback.Model;

namespace Humpback.Formats;

/// <summary>HF config.json of a Llama model ↔ <see cref="LlamaConfig"/>, plus the stored dtype ("torch_dtype").</summary>
public static class HfConfigJson
{
    /// <summary>Reads config.json; every error names the file and the field.</summary>
    public static (LlamaConfig Config, StorageDType TorchDtype) Read(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (FileNotFoundException e)
        {
            throw new InvalidDataException($"{path}: missing (an HF model folder needs config.json)", e);
        }
        return Parse(text, path);
    }

    public static (LlamaConfig Config, StorageDType TorchDtype) Parse(string json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            var j = new JsonFields(doc.RootElement, source);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: expected a JSON object");

            string? modelType = j.OptString("model_type");
            if (modelType != null && modelType != "llama")
                throw new InvalidDataException($"{source}: model_type: '{modelType}' is not supported (expected 'llama')");
            if (doc.RootElement.TryGetProperty("architectures", out JsonElement arch) && arch.ValueKind == JsonValueKind.Array)
            {
                foreach (JsonElement a in arch.EnumerateArray())
                {
                    string? name = a.ValueKind == JsonValueKind.String ? a.GetString() : null;
                    if (name != "LlamaForCausalLM")
                        throw new InvalidDataException($"{source}: architectures: '{name ?? a.ToString()}' is not supported (expected 'LlamaForCausalLM')");
                }
            }
            else if (modelType == null)
            {
                throw new InvalidDataException($"{source}: architectures: missing (and no model_type), cannot tell that this is a Llama model");
            }
            string act = j.OptString("hidden_act") ?? "silu";
            if (act != "silu") throw new InvalidDataException($"{source}: hidden_act: '{act}' is not supported (Llama uses 'silu')");
            if (j.OptBool("attention_bias") == true) throw new InvalidDataException($"{source}: attention_bias: true is not supported");
            if (j.OptBool("mlp_bias") == true) throw new InvalidDataException($"{source}: mlp_bias: true is not supported");
            int tp = j.OptInt("pretraining_tp") ?? 1;
            if (tp != 1) throw new InvalidDataException($"{source}: pretraining_tp: {tp} is not supported (expected 1)");

            string dtypeName = j.OptString("torch_dtype") ?? j.OptString("dtype") ?? "float32";
            if (!FloatCodec.TryParseTorchName(dtypeName, out StorageDType dtype))
                throw new InvalidDataException($"{source}: torch_dtype: '{dtypeName}' is not supported (float32, float16, bfloat16)");

            int heads = j.ReqInt("num_attention_heads");
            var (eos, extraEos) = ReadEos(doc.RootElement, source);
            var config = new LlamaConfig
            {
                VocabSize = j.ReqInt("vocab_size"),
                HiddenSize = j.ReqInt("hidden_size"),
                IntermediateSize = j.ReqInt("intermediate_size"),
                NumLayers = j.ReqInt("num_hidden_layers"),
                NumHeads = heads,
                NumKvHeads = j.OptInt("num_key_value_heads") ?? heads,
                HeadDim = j.OptInt("head_dim") ?? 0,
                MaxPositionEmbeddings = j.OptInt("max_position_embeddings") ?? 2048,
                RmsNormEps = j.OptFloat("rms_norm_eps") ?? 1e-6f,
                RopeTheta = j.OptFloat("rope_theta") ?? 10000f,
                RopeScaling = ReadRopeScaling(doc.RootElement, source),
                TieWordEmbeddings = j.OptBool("tie_word_embeddings") ?? false,
                BosTokenId = j.OptInt("bos_token_id") ?? 1, // HF LlamaConfig defaults: bos 1, eos 2
                EosTokenId = eos,
                ExtraEosTokenIds = extraEos,
            };
            config.Validate(source);
            return (config, dtype);
        }
    }

    private static (int Eos, IReadOnlyList<int> Extra) ReadEos(JsonElement root, string source)
    {
        if (!root.TryGetProperty("eos_token_id", out JsonElement e) || e.ValueKind == JsonValueKind.Null) return (2, []);
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int one)) return (one, []);
        if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() > 0)
        {
            var ids = new List<int>();
            foreach (JsonElement x in e.EnumerateArray())
            {
                if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out int id))
                    throw new InvalidDataException($"{source}: eos_token_id: expected integers, got {x}");
                ids.Add(id);
            }
            return (ids[0], ids.Skip(1).ToArray());
        }
        throw new InvalidDataException($"{source}: eos_token_id: expected an integer or a non-empty list of integers");
    }

    private static RopeScaling? ReadRopeScaling(JsonElement root, string source)
    {
        if (!root.TryGetProperty("rope_scaling", out JsonElement s) || s.ValueKind == JsonValueKind.Null) return null;
        if (s.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: rope_scaling: expected an object or null");
        var j = new JsonFields(s, source, "rope_scaling.");
        string type = j.OptString("rope_type") ?? j.OptString("type") ?? "";
        if (type == "default") return null;
        if (type != "llama3")
            throw new InvalidDataException($"{source}: rope_scaling.rope_type: '{type}' is not supported (only 'llama3' or 'default')");
        return new RopeScaling(
            j.ReqFloat("factor"),
            j.ReqFloat("low_freq_factor"),
            j.ReqFloat("high_freq_factor"),
            j.ReqInt("original_max_position_embeddings"));
    }

    /// <summary>config.json text as HF transformers writes it for LlamaForCausalLM.</summary>
    public static string Serialize(LlamaConfig c, StorageDType torchDtype)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("architectures");
            w.WriteStringValue("LlamaForCausalLM");
            w.WriteEndArray();
            w.WriteBoolean("attention_bias", false);
            w.WriteNumber("attention_dropout", 0.0);
            w.WriteNumber("bos_token_id", c.BosTokenId);
            if (c.ExtraEosTokenIds.Count == 0)
            {
                w.WriteNumber("eos_token_id", c.EosTokenId);
            }
            else
            {
                w.WriteStartArray("eos_token_id");
                w.WriteNumberValue(c.EosTokenId);
                foreach (int id in c.ExtraEosTokenIds) w.WriteNumberValue(id);
                w.WriteEndArray();
            }
            w.WriteNumber("head_dim", c.ResolvedHeadDim);
            w.WriteString("hidden_act", "silu");
            w.WriteNumber("hidden_size", c.HiddenSize);
            w.WriteNumber("initializer_range", 0.02);
            w.WriteNumber("intermediate_size", c.IntermediateSize);
            w.WriteNumber("max_position_embeddings", c.MaxPositionEmbeddings);
            w.WriteBoolean("mlp_bias", false);
            w.WriteString("model_type", "llama");
            w.WriteNumber("num_attention_heads", c.NumHeads);
            w.WriteNumber("num_hidden_layers", c.NumLayers);
            w.WriteNumber("num_key_value_heads", c.NumKvHeads);
            w.WriteNumber("pretraining_tp", 1);
            w.WriteNumber("rms_norm_eps", c.RmsNormEps);
            if (c.RopeScaling is { } s)
            {
                w.WriteStartObject("rope_scaling");
                w.WriteNumber("factor", s.Factor);
                w.WriteNumber("high_freq_factor", s.HighFreqFactor);
                w.WriteNumber("low_freq_factor", s.LowFreqFactor);
                w.WriteNumber("original_max_position_embeddings", s.OriginalMaxPosition);
                w.WriteString("rope_type", "llama3");
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("rope_scaling");
            }
            w.WriteNumber("rope_theta", c.RopeTheta);
            w.WriteBoolean("tie_word_embeddings", c.TieWordEmbeddings);
            w.WriteString("torch_dtype", FloatCodec.TorchName(torchDtype));
            w.WriteString("transformers_version", "4.46.0");
            w.WriteBoolean("use_cache", true);
            w.WriteNumber("vocab_size", c.VocabSize);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}

/// <summary>Typed access to JSON object fields with errors that name the source file and the field.</summary>
internal readonly struct JsonFields(JsonElement obj, string source, string prefix = "")
{
    private bool TryGet(string name, out JsonElement v)
    {
        if (obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out v) && v.ValueKind != JsonValueKind.Null) return true;
        v = default;
        return false;
    }

    private InvalidDataException Bad(string name, string want, JsonElement v) =>
        new($"{source}: {prefix}{name}: expected {want}, got {(v.ValueKind == JsonValueKind.String ? $"\"{v.GetString()}\"" : v.ToString())}");

    public int? OptInt(string name)
    {
        if (!TryGet(name, out JsonElement v)) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i)) return i;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue) return (int)d;
        throw Bad(name, "an integer", v);
    }

    public float? OptFloat(string name)
    {
        if (!TryGet(name, out JsonElement v)) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d)) return (float)d;
        throw Bad(name, "a number", v);
    }

    public bool? OptBool(string name)
    {
        if (!TryGet(name, out JsonElement v)) return null;
        if (v.ValueKind is JsonValueKind.True or JsonValueKind.False) return v.GetBoolean();
        throw Bad(name, "true or false", v);
    }

    public string? OptString(string name)
    {
        if (!TryGet(name, out JsonElement v)) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        throw Bad(name, "a string", v);
    }

    public int ReqInt(string name) => OptInt(name) ?? throw new InvalidDataException($"{source}: {prefix}{name}: missing");
    public float ReqFloat(string name) => OptFloat(name) ?? throw new InvalidDataException($"{source}: {prefix}{name}: missing");
    public string ReqString(string name) => OptString(name) ?? throw new InvalidDataException($"{source}: {prefix}{name}: missing");
}
