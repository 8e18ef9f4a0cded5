using Humpback.Cli;
using Humpback.Formats;
using Humpback.Model;
using Xunit;

namespace Humpback.Tests.Formats;

/// <summary>The format verbs end to end: files they write, exit codes, and no partial output on failure.
/// stdout is not captured (Console.SetOut is process-wide and other test classes capture it).</summary>
[Collection("llama.cpp")]
public class FormatVerbTests
{
    private static async Task<(int Code, string Err)> Run(params string[] args)
    {
        var err = new StringWriter();
        int code = await CliHost.RunAsync(args, typeof(CliHost).Assembly, TextWriter.Null, err);
        return (code, err.ToString());
    }

    private const string TinyConfigJson = """
        {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
         "rope_theta": 10000, "tie_word_embeddings": true,
         "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 64}}
        """;

    /// <summary>tokenizer train → init-model → export (plain, merged, adapter-only) → inspect.</summary>
    [Fact]
    public async Task TrainInitExportInspect()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["corpus.txt"], TestData.Corpus(2, 100_000));
        File.WriteAllText(dir["config.json"], TinyConfigJson);

        Assert.Equal((0, ""), await Run("tokenizer", "train", "--corpus", dir["corpus.txt"], "--vocab-size", "512", "--out", dir["tok"]));
        Assert.Equal(512, HumpbackTokenizer.Load(dir["tok"]).VocabSize);

        Assert.Equal((0, ""), await Run("init-model", "--config", dir["config.json"], "--tokenizer", dir["tok"], "--out", dir["m"], "--seed", "5"));
        Assert.Equal((0, ""), await Run("init-model", "--config", dir["config.json"], "--tokenizer", dir["tok"], "--out", dir["m2"], "--seed", "5"));
        Assert.Equal((0, ""), await Run("init-model", "--config", dir["config.json"], "--tokenizer", dir["tok"], "--out", dir["m3"], "--seed", "6", "--dtype", "bf16"));
        string weights(string m) => Path.Combine(dir[m], HfFolder.WeightsFile);
        Assert.Equal(File.ReadAllBytes(weights("m")), File.ReadAllBytes(weights("m2"))); // same seed, same bytes
        HfCheckpoint ck = HfFolder.Load(dir["m"]);
        Assert.Equal(512, ck.Config.VocabSize);
        Assert.Equal(ck.Tokenizer!.BosId, ck.Config.BosTokenId);
        Assert.Equal([ck.Tokenizer.EotTokenId], ck.Config.ExtraEosTokenIds);
        Assert.Equal(StorageDType.BF16, HfFolder.Load(dir["m3"]).TorchDtype);

        LoraAdapter adapter = LoraAdapter.CreateInitial(ck.Config, new LoraConfig { Rank = 2, Alpha = 4, TargetModules = ["q_proj", "v_proj"], BaseModel = dir["m"] }, 1);
        PeftFolder.Save(dir["peft"], adapter);

        Assert.Equal((0, ""), await Run("export", "--model", dir["m"], "--out", dir["m.q8.gguf"], "--type", "q8_0"));
        Assert.Equal((0, ""), await Run("export", "--model", dir["m"], "--adapter", dir["peft"], "--merge", "--out", dir["merged.gguf"], "--type", "f32"));
        Assert.Equal((0, ""), await Run("export", "--model", dir["m"], "--adapter", dir["peft"], "--adapter-only", "--out", dir["lora.gguf"], "--type", "f32"));
        Assert.Equal(GgmlType.Q8_0, GgufFile.Read(dir["m.q8.gguf"]).Tensor("blk.0.attn_q.weight").Type);
        GgufFile lora = GgufFile.Read(dir["lora.gguf"]);
        Assert.Equal("adapter", lora["general.type"]!.Value);
        Assert.Equal(4f, lora["adapter.lora.alpha"]!.Value);
        Assert.Equal([64L, 2], lora.Tensor("blk.1.attn_q.weight.lora_a").Ne);
        Assert.Equal([2L, 64], lora.Tensor("blk.1.attn_q.weight.lora_b").Ne);

        foreach (string p in new[] { dir["m.q8.gguf"], dir["m"], dir["peft"], dir["tok"], weights("m") })
            Assert.Equal((0, ""), await Run("inspect", p));
        Assert.Contains("check against config.json: ok", Inspector.Describe(dir["m"]), StringComparison.Ordinal);
        Assert.Matches(@"blk\.0\.attn_q\.weight +Q8_0", Inspector.Describe(dir["m.q8.gguf"]));
        Assert.DoesNotContain(dir.Entries(), e => e.Contains(".tmp-", StringComparison.Ordinal) || e.StartsWith('.'));
    }

    [Fact]
    public async Task MergeWritesTheMergedModel()
    {
        using var dir = new TempDir();
        SaveTinyModel(dir, "m");
        HfCheckpoint ck = HfFolder.Load(dir["m"]);
        LoraAdapter adapter = LoraAdapter.CreateInitial(ck.Config, new LoraConfig { Rank = 2, Alpha = 4, TargetModules = ["k_proj", "down_proj"] }, 3);
        foreach (var (_, p) in adapter.Weights) LlamaInit.FillNormal(p.B.Data, 0.1f, 7);
        PeftFolder.Save(dir["peft"], adapter);
        Assert.Equal((0, ""), await Run("merge-adapter", "--model", dir["m"], "--adapter", dir["peft"], "--out", dir["merged"]));
        HfCheckpoint merged = HfFolder.Load(dir["merged"]);
        var want = adapter.MergeInto(ck.Tensors);
        foreach (var (name, t) in want) Assert.Equal(t.Data, merged.Tensors[name].Data);
        Assert.NotEqual(ck.Tensors[LoraModules.WeightName(1, "down_proj")].Data, merged.Tensors[LoraModules.WeightName(1, "down_proj")].Data);
        Assert.NotNull(merged.Tokenizer);
    }

    private static HumpbackTokenizer SaveTinyModel(TempDir dir, string name)
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        LlamaConfig c = TestData.TinyConfig(tok);
        HfFolder.Save(dir[name], c, LlamaInit.Random(c, 1), tok);
        return tok;
    }

    [Fact]
    public async Task ExportOfACorruptModelFailsAndWritesNothing()
    {
        using var dir = new TempDir();
        SaveTinyModel(dir, "m");
        string st = Path.Combine(dir["m"], HfFolder.WeightsFile);
        byte[] b = File.ReadAllBytes(st);
        File.WriteAllBytes(st, b[..(b.Length / 2)]); // truncated download
        string[] before = dir.Entries();
        var (code, err) = await Run("export", "--model", dir["m"], "--out", dir["out.gguf"], "--type", "f16");
        Assert.Equal(CliHost.ExitFailure, code);
        Assert.Contains(st, err, StringComparison.Ordinal);
        Assert.Contains("data_offsets", err, StringComparison.Ordinal);
        Assert.Equal(before, dir.Entries());
    }

    [Fact]
    public async Task Q4KMOfAModelWithSmallRowsFailsAndWritesNothing()
    {
        using var dir = new TempDir();
        SaveTinyModel(dir, "m");
        string[] before = dir.Entries();
        var (code, err) = await Run("export", "--model", dir["m"], "--out", dir["out.gguf"], "--type", "q4_k_m");
        Assert.Equal(CliHost.ExitFailure, code);
        Assert.Contains("multiples of 256", err, StringComparison.Ordinal);
        Assert.Equal(before, dir.Entries());
    }

    [Fact]
    public async Task ExportOfAForeignArchitectureFails()
    {
        using var dir = new TempDir();
        SaveTinyModel(dir, "m");
        string cfg = Path.Combine(dir["m"], HfFolder.ConfigFile);
        File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("LlamaForCausalLM", "GPT2LMHeadModel", StringComparison.Ordinal));
        var (code, err) = await Run("export", "--model", dir["m"], "--out", dir["out.gguf"]);
        Assert.Equal(CliHost.ExitFailure, code);
        Assert.Contains(cfg, err, StringComparison.Ordinal);
        Assert.Contains("architectures", err, StringComparison.Ordinal);
        Assert.False(File.Exists(dir["out.gguf"]));
    }

    [Fact]
    public async Task InitModelWithABadConfigWritesNothing()
    {
        using var dir = new TempDir();
        Humpback.IO.AtomicFile.WriteDirectory(dir["tok"], TestData.Tokenizer.WriteFiles);
        File.WriteAllText(dir["config.json"], TinyConfigJson.Replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", StringComparison.Ordinal));
        var (code, err) = await Run("init-model", "--config", dir["config.json"], "--tokenizer", dir["tok"], "--out", dir["m"]);
        Assert.Equal(CliHost.ExitFailure, code);
        Assert.Contains("num_key_value_heads", err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir["m"]));

        File.WriteAllText(dir["config.json"], TinyConfigJson.Replace("\"hidden_size\": 64,", "\"vocab_size\": 100, \"hidden_size\": 64,", StringComparison.Ordinal));
        (code, err) = await Run("init-model", "--config", dir["config.json"], "--tokenizer", dir["tok"], "--out", dir["m"]);
        Assert.Equal(CliHost.ExitFailure, code);
        Assert.Contains("vocab_size 100", err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir["m"]));
    }

    [Fact]
    public async Task OutputFoldersWithForeignFilesAreNotReplaced()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["home"]);
        File.WriteAllText(Path.Combine(dir["home"], "precious.txt"), "keep me");
        File.WriteAllText(dir["corpus.txt"], "some text to train on");
        var (code, err) = await Run("tokenizer", "train", "--corpus", dir["corpus.txt"], "--vocab-size", "300", "--out", dir["home"]);
        Assert.Equal(CliHost.ExitUsage, code);
        Assert.Contains("--force", err, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dir["home"], "precious.txt")));
    }

    [Theory]
    [InlineData("tokenizer", "train", "--corpus", "/no/such/file.txt", "--out", "OUT")]
    [InlineData("tokenizer", "train", "--corpus", "CORPUS", "--vocab-size", "100", "--out", "OUT")]
    [InlineData("tokenizer", "frobnicate")]
    [InlineData("export", "--model", "MODEL", "--adapter", "MODEL", "--out", "OUT")]
    [InlineData("init-model", "--config", "llama-3.2-1b", "--tokenizer", "TOK", "--out", "OUT", "--dtype", "int4")]
    public async Task BadArgumentsAreUsageErrors(params string[] args)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["corpus.txt"], "text");
        Directory.CreateDirectory(dir["tok"]);
        string[] a = args.Select(x => x switch { "OUT" => dir["out"], "CORPUS" => dir["corpus.txt"], "MODEL" => dir["tok"], "TOK" => dir["tok"], _ => x }).ToArray();
        var (code, _) = await Run(a);
        Assert.Equal(CliHost.ExitUsage, code);
        Assert.False(Path.Exists(dir["out"]));
    }

    [Fact]
    public async Task InspectOfACorruptFileFails()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["x.gguf"], "GGUF\x03\0\0\0"u8.ToArray());
        var (code, err) = await Run("inspect", dir["x.gguf"]);
        Assert.Equal(CliHost.ExitFailure, code);
        Assert.Contains("tensor_count", err, StringComparison.Ordinal);
    }
}
