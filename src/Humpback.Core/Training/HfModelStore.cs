using Humpback.Formats;
using Humpback.Model;

namespace Humpback.Training;

/// <summary>The model store over Hugging Face folders (config.json + safetensors + tokenizer.json) and PEFT adapters.</summary>
public sealed class HfModelStore : IModelStore
{
    public static readonly HfModelStore Instance = new();

    public (LlamaConfig Config, IReadOnlyDictionary<string, HostTensor> Weights) LoadBase(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: model folder not found");
        HfCheckpoint ckpt = HfFolder.Load(dir, loadTokenizer: false);
        return (ckpt.Config, ckpt.Tensors);
    }

    public ITextTokenizer LoadTokenizer(string dir) => new TokenizerAdapter(HumpbackTokenizer.Load(dir));

    public void SaveFull(string dir, LlamaConfig config, IReadOnlyDictionary<string, HostTensor> weights, string tokenizerSourceDir)
    {
        HumpbackTokenizer tok = HumpbackTokenizer.Load(tokenizerSourceDir);
        HfFolder.WriteInto(dir, config, weights, tok, new HfSaveOptions());
    }

    public void SaveAdapter(string dir, LoraSettings lora, IReadOnlyDictionary<string, HostTensor> tensors, string baseModelDir)
    {
        LoraConfig config = lora.ToPeftConfig(Path.GetFullPath(baseModelDir));
        var adapter = new LoraAdapter(config);
        LlamaConfig model = HfConfigJson.Read(Path.Combine(baseModelDir, HfFolder.ConfigFile)).Config;
        for (int l = 0; l < model.NumLayers; l++)
        {
            foreach (string m in config.TargetModules)
            {
                string a = LoraAdapter.TensorName(l, m, 'A'), b = LoraAdapter.TensorName(l, m, 'B');
                adapter.Set(l, m, tensors[a], tensors[b]);
            }
        }
        PeftFolder.WriteInto(dir, adapter, StorageDType.F32);
    }

    public (LoraSettings Settings, IReadOnlyDictionary<string, HostTensor> Tensors) LoadAdapter(string dir)
    {
        LoraAdapter adapter = PeftFolder.Load(dir);
        LoraConfig c = adapter.Config;
        LoraSettings settings = LoraSettings.FromPeftConfig(c);
        var tensors = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var ((layer, module), pair) in adapter.Weights)
        {
            tensors[LoraAdapter.TensorName(layer, module, 'A')] = pair.A;
            tensors[LoraAdapter.TensorName(layer, module, 'B')] = pair.B;
        }
        return (settings, tensors);
    }

    /// <summary>Training's view of the tokenizer: special tokens parsed, no implicit BOS.</summary>
    private sealed class TokenizerAdapter(HumpbackTokenizer tok) : ITextTokenizer
    {
        public int VocabSize => tok.VocabSize;
        public int BosId => tok.BosId;
        public int EosId => tok.EosId;
        public int[] Encode(string text) => tok.Encode(text, addBos: false, parseSpecial: true);
    }
}
