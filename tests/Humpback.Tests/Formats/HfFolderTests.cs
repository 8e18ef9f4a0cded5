using Humpback.Formats;
using Humpback.Model;
using Xunit;

namespace Humpback.Tests.Formats;

public class HfFolderTests
{
    private static LlamaConfig Small => new()
    {
        VocabSize = 300, HiddenSize = 32, IntermediateSize = 48, NumLayers = 2, NumHeads = 4, NumKvHeads = 2, HeadDim = 8,
        MaxPositionEmbeddings = 128, RopeScaling = new RopeScaling(32, 1, 4, 8192), TieWordEmbeddings = false,
        BosTokenId = 1, EosTokenId = 2, ExtraEosTokenIds = [3, 4],
    };

    private static void AssertSameConfig(LlamaConfig a, LlamaConfig b) =>
        Assert.Equal(HfConfigJson.Serialize(a, StorageDType.F32), HfConfigJson.Serialize(b, StorageDType.F32));

    [Theory]
    [InlineData(StorageDType.F32, long.MaxValue)]
    [InlineData(StorageDType.BF16, long.MaxValue)]
    [InlineData(StorageDType.F32, 20_000)] // forces model-0000i-of-0000n shards + index
    public void SaveThenLoadGivesTheSameModel(StorageDType dtype, long shardBytes)
    {
        using var dir = new TempDir();
        LlamaConfig c = Small;
        var w = LlamaInit.Random(c, 3);
        HfFolder.Save(dir["m"], c, w, null, new HfSaveOptions { DType = dtype, MaxShardBytes = shardBytes });
        HfCheckpoint ck = HfFolder.Load(dir["m"]);
        AssertSameConfig(c, ck.Config);
        Assert.Equal(dtype, ck.TorchDtype);
        foreach (var (name, t) in w)
        {
            float[] want = dtype == StorageDType.F32 ? t.Data : t.Data.Select(x => FloatCodec.FromBFloat16(FloatCodec.ToBFloat16(x))).ToArray();
            Assert.Equal(want, ck.Tensors[name].Data);
            Assert.Equal(t.Shape, ck.Tensors[name].Shape);
        }
        bool sharded = shardBytes < long.MaxValue;
        Assert.Equal(sharded, File.Exists(Path.Combine(dir["m"], HfFolder.IndexFile)));
        Assert.Equal(sharded, !File.Exists(Path.Combine(dir["m"], HfFolder.WeightsFile)));
        if (sharded) Assert.True(Directory.GetFiles(dir["m"], "model-*-of-*.safetensors").Length > 2);
        Assert.Equal(["m"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName)); // no temporary folders left
    }

    [Fact]
    public void SavesTheTokenizerAlongside()
    {
        using var dir = new TempDir();
        HumpbackTokenizer tok = TestData.Tokenizer;
        LlamaConfig c = TestData.TinyConfig(tok);
        HfFolder.Save(dir["m"], c, LlamaInit.Random(c, 1), tok);
        HfCheckpoint ck = HfFolder.Load(dir["m"]);
        Assert.NotNull(ck.Tokenizer);
        Assert.Equal(tok.Encode("Hello 🐋 world<|eot_id|>", true, true), ck.Tokenizer!.Encode("Hello 🐋 world<|eot_id|>", true, true));
    }

    /// <summary>config.json as published for meta-llama/Llama-3.2-3B-Instruct.</summary>
    private const string Llama32Config = """
        {
          "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
          "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "head_dim": 128, "hidden_act": "silu",
          "hidden_size": 3072, "initializer_range": 0.02, "intermediate_size": 8192, "max_position_embeddings": 131072,
          "mlp_bias": false, "model_type": "llama", "num_attention_heads": 24, "num_hidden_layers": 28,
          "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
          "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
          "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16", "transformers_version": "4.45.0.dev0",
          "use_cache": true, "vocab_size": 128256
        }
        """;

    [Fact]
    public void ParsesTheLlama32Config()
    {
        var (c, dtype) = HfConfigJson.Parse(Llama32Config, "config.json");
        Assert.Equal(StorageDType.BF16, dtype);
        AssertSameConfig(LlamaConfig.Llama32_3B with { ExtraEosTokenIds = [128008, 128009] }, c);
        Assert.Equal(128001, c.EosTokenId);
        Assert.Equal(new RopeScaling(32, 1, 4, 8192), c.RopeScaling);
        var (back, _) = HfConfigJson.Parse(HfConfigJson.Serialize(c, dtype), "again");
        AssertSameConfig(c, back);
    }

    [Theory]
    [InlineData("\"architectures\": [\"LlamaForCausalLM\"]", "\"architectures\": [\"MistralForCausalLM\"]", "architectures")]
    [InlineData("\"model_type\": \"llama\"", "\"model_type\": \"gpt2\"", "model_type")]
    [InlineData("\"rope_type\": \"llama3\"", "\"rope_type\": \"yarn\"", "rope_scaling.rope_type")]
    [InlineData("\"torch_dtype\": \"bfloat16\"", "\"torch_dtype\": \"int8\"", "torch_dtype")]
    [InlineData("\"hidden_size\": 3072", "\"hidden_size\": \"big\"", "hidden_size")]
    [InlineData("\"vocab_size\": 128256", "\"vocab_size\": 0", "vocab_size")]
    [InlineData("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 7", "num_key_value_heads")]
    [InlineData("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", "hidden_act")]
    [InlineData("\"eos_token_id\": [128001, 128008, 128009]", "\"eos_token_id\": \"x\"", "eos_token_id")]
    public void BadConfigsNameTheField(string from, string to, string field)
    {
        string json = Llama32Config.Replace(from, to, StringComparison.Ordinal);
        Assert.NotEqual(Llama32Config, json);
        var e = Assert.Throws<InvalidDataException>(() => HfConfigJson.Parse(json, "/m/config.json"));
        Assert.Contains("/m/config.json", e.Message, StringComparison.Ordinal);
        Assert.Contains(field, e.Message, StringComparison.Ordinal);
    }

    private static string SaveSmall(TempDir dir, LlamaConfig c, Action<Dictionary<string, HostTensor>>? edit = null)
    {
        var w = LlamaInit.Random(c, 1);
        edit?.Invoke(w);
        string m = dir["m"];
        Directory.CreateDirectory(m);
        File.WriteAllText(Path.Combine(m, HfFolder.ConfigFile), HfConfigJson.Serialize(c, StorageDType.F32));
        using var fs = File.Create(Path.Combine(m, HfFolder.WeightsFile));
        SafetensorsWriter.Write(fs, w.Values, StorageDType.F32);
        return m;
    }

    [Fact]
    public void TensorsThatDisagreeWithTheConfigAreRejected()
    {
        using var dir = new TempDir();
        LlamaConfig c = Small;
        string missing = LlamaTensorNames.Layer(1, "mlp.up_proj.weight");
        var e = Assert.Throws<InvalidDataException>(() => HfFolder.Load(SaveSmall(dir, c, w => w.Remove(missing))));
        Assert.Contains(missing, e.Message, StringComparison.Ordinal);
        Assert.Contains("missing", e.Message, StringComparison.Ordinal);

        using var dir2 = new TempDir();
        string q = LlamaTensorNames.Layer(0, "self_attn.q_proj.weight");
        e = Assert.Throws<InvalidDataException>(() => HfFolder.Load(SaveSmall(dir2, c, w => w[q] = new HostTensor(q, [16, 32]))));
        Assert.Contains(q + ".shape", e.Message, StringComparison.Ordinal);
        Assert.Contains("model.safetensors", e.Message, StringComparison.Ordinal);

        using var dir3 = new TempDir();
        string extra = LlamaTensorNames.Layer(2, "input_layernorm.weight");
        e = Assert.Throws<InvalidDataException>(() => HfFolder.Load(SaveSmall(dir3, c, w => w[extra] = new HostTensor(extra, [32]))));
        Assert.Contains(extra, e.Message, StringComparison.Ordinal);
        Assert.Contains("num_hidden_layers=2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TiedCheckpointsMayCarryAnLmHead()
    {
        using var dir = new TempDir();
        LlamaConfig c = Small with { TieWordEmbeddings = true };
        string m = SaveSmall(dir, c, w => w[LlamaTensorNames.LmHead] = new HostTensor(LlamaTensorNames.LmHead, [300, 32]));
        Assert.DoesNotContain(LlamaTensorNames.LmHead, HfFolder.Load(m).Tensors.Keys);
    }

    [Fact]
    public void BrokenShardIndexesAreRejected()
    {
        using var dir = new TempDir();
        LlamaConfig c = Small;
        HfFolder.Save(dir["m"], c, LlamaInit.Random(c, 3), null, new HfSaveOptions { MaxShardBytes = 20_000 });
        string index = Path.Combine(dir["m"], HfFolder.IndexFile);
        string text = File.ReadAllText(index);
        File.WriteAllText(index, text.Replace("model-00001-of-", "model-00009-of-", StringComparison.Ordinal));
        var e = Assert.Throws<InvalidDataException>(() => HfFolder.Load(dir["m"]));
        Assert.Contains(HfFolder.IndexFile, e.Message, StringComparison.Ordinal);
        Assert.Contains("weight_map", e.Message, StringComparison.Ordinal);

        File.WriteAllText(index, text.Replace("\"model.norm.weight\": \"model-0000", "\"model.norm.weight\": \"../model-0000", StringComparison.Ordinal));
        e = Assert.Throws<InvalidDataException>(() => HfFolder.Load(dir["m"]));
        Assert.Contains("weight_map.model.norm.weight", e.Message, StringComparison.Ordinal);

        File.WriteAllText(index, "{\"weight_map\": [");
        e = Assert.Throws<InvalidDataException>(() => HfFolder.Load(dir["m"]));
        Assert.Contains(index, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingConfigOrWeightsAreNamed()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["m"]);
        var e = Assert.Throws<InvalidDataException>(() => HfFolder.Load(dir["m"]));
        Assert.Contains("config.json", e.Message, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(dir["m"], "config.json"), HfConfigJson.Serialize(Small, StorageDType.F32));
        e = Assert.Throws<InvalidDataException>(() => HfFolder.Load(dir["m"]));
        Assert.Contains("model.safetensors", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RandomInitIsDeterministicAndFollowsHf()
    {
        LlamaConfig c = Small;
        var a = LlamaInit.Random(c, 42);
        var b = LlamaInit.Random(c, 42);
        var other = LlamaInit.Random(c, 43);
        foreach (var (name, t) in a)
        {
            Assert.Equal(t.Data, b[name].Data);
            if (t.Shape.Length == 1) Assert.All(t.Data, x => Assert.Equal(1f, x));
            else Assert.NotEqual(t.Data, other[name].Data);
        }
        float[] all = a.Values.Where(t => t.Shape.Length == 2).SelectMany(t => t.Data).ToArray();
        double mean = all.Average(x => (double)x), std = Math.Sqrt(all.Average(x => (double)x * x) - mean * mean);
        Assert.InRange(mean, -1e-3, 1e-3);
        Assert.InRange(std, 0.0195, 0.0205);
    }
}
