using System.Text.Json.Nodes;
using Humpback.Model;

namespace Humpback.Formats;

/// <summary>What <c>humpback init-model</c> builds: a config (from a config.json or a preset) whose token ids come
/// from the tokenizer, and random weights.</summary>
public static class ModelInit
{
    public static readonly IReadOnlyDictionary<string, LlamaConfig> Presets = new Dictionary<string, LlamaConfig>(StringComparer.OrdinalIgnoreCase)
    {
        ["llama-3.2-1b"] = LlamaConfig.Llama32_1B,
        ["llama-3.2-3b"] = LlamaConfig.Llama32_3B,
    };

    /// <summary>Reads <paramref name="configArg"/> (a preset name or an HF-style config.json; model_type and vocab_size
    /// may be left out) and takes vocab_size (when absent or from a preset), bos, eos and eot from the tokenizer.</summary>
    public static LlamaConfig ResolveConfig(string configArg, HumpbackTokenizer tok)
    {
        LlamaConfig c;
        if (Presets.TryGetValue(configArg, out LlamaConfig? preset))
        {
            c = preset with { VocabSize = tok.VocabSize };
        }
        else
        {
            if (!File.Exists(configArg))
                throw new FileNotFoundException($"{configArg}: no such config file (or preset: {string.Join(", ", Presets.Keys)})", configArg);
            JsonNode? node;
            try
            {
                node = JsonNode.Parse(File.ReadAllText(configArg));
            }
            catch (System.Text.Json.JsonException e)
            {
                throw new InvalidDataException($"{configArg}: not valid JSON ({e.Message})", e);
            }
            if (node is not JsonObject o) throw new InvalidDataException($"{configArg}: expected a JSON object");
            o["vocab_size"] ??= tok.VocabSize;
            if (o["architectures"] == null) o["model_type"] ??= "llama";
            c = HfConfigJson.Parse(o.ToJsonString(), configArg).Config;
        }
        if (tok.BosId < 0 || tok.EosId < 0) throw new InvalidDataException("tokenizer: needs bos and eos tokens (<|begin_of_text|>, <|end_of_text|>)");
        if (c.VocabSize < tok.VocabSize)
            throw new InvalidDataException($"{configArg}: vocab_size {c.VocabSize} is smaller than the tokenizer's {tok.VocabSize} ids");
        c = c with
        {
            BosTokenId = tok.BosId,
            EosTokenId = tok.EosId,
            ExtraEosTokenIds = tok.EotTokenId >= 0 && tok.EotTokenId != tok.EosId ? [tok.EotTokenId] : [],
        };
        c.Validate(configArg);
        return c;
    }
}
