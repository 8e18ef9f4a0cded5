using Humpback.Formats;
using Humpback.Model;
using Xunit;
using Xunit.Abstractions;

namespace Humpback.Tests.Formats;

/// <summary>The proof that our files mean what we think: a GGUF we export, run by llama.cpp (LLamaSharp), gives
/// the logits of <see cref="ReferenceLlama"/> on the same weights, and llama.cpp's tokenizer gives our ids.</summary>
[Collection("llama.cpp")]
public class LlamaCppParityTests(ITestOutputHelper output)
{
    /// <summary>max |a − ref| / max |ref| over every position and vocabulary entry.</summary>
    internal static double RelError(float[][] actual, double[][] reference)
    {
        double maxDiff = 0, maxRef = 0;
        for (int t = 0; t < reference.Length; t++)
        {
            for (int i = 0; i < reference[t].Length; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(actual[t][i] - reference[t][i]));
                maxRef = Math.Max(maxRef, Math.Abs(reference[t][i]));
            }
        }
        return maxDiff / maxRef;
    }

    [Fact]
    public void F32LogitsMatchTheReferenceForward()
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        LlamaConfig c = TestData.TinyConfig(tok);
        var w = TestData.RandomWeights(c, 7);
        int[] prompt = TestData.Prompt(tok);
        using var dir = new TempDir();
        GgufExport.WriteModel(dir["m.gguf"], c, w, tok, GgufExportType.F32);

        float[][] got = LlamaSharpRunner.Logits(dir["m.gguf"], prompt);
        double[][] want = ReferenceLlama.Forward(c, w, prompt);
        double err = RelError(got, want);
        output.WriteLine($"f32: {prompt.Length} tokens, relative logit error {err:E2}");
        Assert.True(err <= 1e-4, $"f32 relative logit error {err:E2} > 1e-4");
    }

    [Fact]
    public void TokenizationMatchesLlamaCpp()
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        LlamaConfig c = TestData.TinyConfig(tok);
        using var dir = new TempDir();
        GgufExport.WriteModel(dir["m.gguf"], c, TestData.RandomWeights(c, 1), tok, GgufExportType.F32);
        using var vocab = new LlamaSharpRunner.Vocab(dir["m.gguf"]);
        int n = 0, mismatches = 0;
        foreach (string s in TestData.Strings(42, 3000))
        {
            foreach (bool special in new[] { false, true })
            {
                bool bos = (n++ & 2) == 0;
                int[] ours = tok.Encode(s, bos, special);
                int[] theirs = vocab.Tokenize(s, bos, special);
                if (!ours.SequenceEqual(theirs) && mismatches++ < 10)
                    output.WriteLine($"MISMATCH special={special} bos={bos} {System.Text.Json.JsonSerializer.Serialize(s)}\n ours   {string.Join(",", ours)}\n theirs {string.Join(",", theirs)}");
            }
        }
        output.WriteLine($"{n} encodings compared, {mismatches} mismatches");
        Assert.Equal(0, mismatches);
    }

    /// <summary>Per block of 32: |x − dequantized| ≤ amax·bound (amax = the block's largest magnitude).</summary>
    private static double WorstBlockError(float[] x, float[] y)
    {
        double worst = 0;
        for (int b = 0; b < x.Length / 32; b++)
        {
            double amax = 0, err = 0;
            for (int i = b * 32; i < b * 32 + 32; i++)
            {
                amax = Math.Max(amax, Math.Abs(x[i]));
                err = Math.Max(err, Math.Abs(x[i] - y[i]));
            }
            if (amax > 0) worst = Math.Max(worst, err / amax);
        }
        return worst;
    }

    /// <summary>F16/Q8_0/Q4_0 written by us: the weights llama.cpp uses are ours within the format's step, and its logits
    /// match a reference that runs on the dequantized weights and rounds activations as ggml's CPU matmul does (F16 for
    /// F16 weights, Q8_0 for quantized ones) — so what remains is summation order, and a wrong block layout or scale
    /// shows. The distance to the fp32 model is the quantization itself, reported and bounded loosely.</summary>
    [Theory]
    [InlineData(GgufExportType.F16, false, 1.0 / 2048, 1e-3, 1e-2)]
    [InlineData(GgufExportType.Q8_0, false, 1.0 / 254 * 1.1, 1e-4, 0.1)]
    [InlineData(GgufExportType.Q4_0, true, 1.0 / 8 * 1.05, 1e-4, 1.0)]
    public void QuantizedLogitsMatchTheReferenceOnDequantizedWeights(GgufExportType type, bool tied, double weightBound, double tolEmulated, double tolVsF32)
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        LlamaConfig c = TestData.TinyConfig(tok, tied);
        var w = TestData.RandomWeights(c, 11);
        int[] prompt = TestData.Prompt(tok);
        using var dir = new TempDir();
        GgufExport.WriteModel(dir["m.gguf"], c, w, tok, type);

        GgufFile f = GgufFile.Read(dir["m.gguf"]);
        var deq = GgufExport.ReadTensors(f, c);
        double worst = 0;
        foreach (var (name, t) in w.Where(kv => kv.Value.Shape.Length == 2))
        {
            Assert.Equal(type switch { GgufExportType.F16 => GgmlType.F16, GgufExportType.Q8_0 => GgmlType.Q8_0, _ => GgmlType.Q4_0 },
                f.Tensor(GgufExport.TensorName(name)).Type);
            worst = Math.Max(worst, WorstBlockError(t.Data, deq[name].Data));
        }
        Assert.All(w.Where(kv => kv.Value.Shape.Length == 1), kv => Assert.Equal(kv.Value.Data, deq[kv.Key].Data)); // norms stay f32

        float[][] got = LlamaSharpRunner.Logits(dir["m.gguf"], prompt);
        Func<double[], double[]> act = type == GgufExportType.F16 ? ReferenceLlama.RoundToF16 : ReferenceLlama.RoundToQ8_0;
        double errEmulated = RelError(got, ReferenceLlama.Forward(c, deq, prompt, act));
        double errDeq = RelError(got, ReferenceLlama.Forward(c, deq, prompt));
        double errF32 = RelError(got, ReferenceLlama.Forward(c, w, prompt));
        output.WriteLine($"{type}: worst block weight error {worst:E2} of the block's amax; logits vs reference on dequantized weights with " +
                         $"ggml's activation rounding {errEmulated:E2}, without it {errDeq:E2}, vs the f32 model {errF32:E2}");
        Assert.True(worst <= weightBound, $"{type} weight error {worst:E2} > {weightBound:E2}");
        Assert.True(errEmulated <= tolEmulated, $"{type}: logits vs emulated reference {errEmulated:E2} > {tolEmulated:E2}");
        Assert.True(errF32 <= tolVsF32, $"{type}: logits vs f32 reference {errF32:E2} > {tolVsF32:E2}");
    }

    [Fact]
    public void F32GgufReadsBackBitExact()
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        LlamaConfig c = TestData.TinyConfig(tok, tied: false);
        var w = TestData.RandomWeights(c, 3);
        using var dir = new TempDir();
        GgufExport.WriteModel(dir["m.gguf"], c, w, tok, GgufExportType.F32);
        GgufFile f = GgufFile.Read(dir["m.gguf"]);
        var back = GgufExport.ReadTensors(f, c);
        foreach (var (name, t) in w) Assert.Equal(t.Data, back[name].Data);
        Assert.Equal(GgufExport.RopeFreqFactors(c), f.ReadFloat32("rope_freqs.weight"));
        Assert.Equal("llama", f["general.architecture"]!.Value);
        Assert.Equal(GgufValueType.UInt32, f["llama.attention.head_count_kv"]!.Type);
        Assert.Equal(GgufValueType.Float32, f["llama.attention.layer_norm_rms_epsilon"]!.Type);
        Assert.Equal(GgufValueType.Float32, f["llama.rope.freq_base"]!.Type);
        Assert.Equal("llama-bpe", f["tokenizer.ggml.pre"]!.Value);
        Assert.Equal((uint)tok.EotTokenId, f["tokenizer.ggml.eot_token_id"]!.Value);
        Assert.Equal(tok.ChatTemplate, f["tokenizer.chat_template"]!.Value);
        Assert.Equal(c.VocabSize, f["tokenizer.ggml.tokens"]!.ArrayLength);
    }

    /// <summary>A PEFT adapter, saved and loaded, as a GGUF adapter on the base GGUF in llama.cpp gives the logits of
    /// the merged model; both match the reference on the merged weights.</summary>
    [Fact]
    public void LoraAdapterGgufMatchesMergedModel()
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        LlamaConfig c = TestData.TinyConfig(tok);
        var w = TestData.RandomWeights(c, 5);
        var lc = new LoraConfig { Rank = 4, Alpha = 8, TargetModules = LoraModules.All, BaseModel = "tiny" };
        LoraAdapter adapter = LoraAdapter.CreateInitial(c, lc, 9);
        foreach (var (_, p) in adapter.Weights) LlamaInit.FillNormal(p.B.Data, 0.1f, (ulong)p.B.Name.Length * 31 + (ulong)p.B.Data.Length);
        int[] prompt = TestData.Prompt(tok);
        using var dir = new TempDir();

        PeftFolder.Save(dir["peft"], adapter);
        LoraAdapter loaded = PeftFolder.Load(dir["peft"], c);
        Assert.Equal(adapter.Weights.Keys, loaded.Weights.Keys);
        foreach (var (k, p) in adapter.Weights)
        {
            Assert.Equal(p.A.Data, loaded.Weights[k].A.Data);
            Assert.Equal(p.B.Data, loaded.Weights[k].B.Data);
        }
        Assert.Equal(lc.Alpha, loaded.Config.Alpha);
        Assert.Equal(lc.Rank, loaded.Config.Rank);

        var merged = loaded.MergeInto(w);
        GgufExport.WriteModel(dir["base.gguf"], c, w, tok, GgufExportType.F32);
        GgufExport.WriteModel(dir["merged.gguf"], c, merged, tok, GgufExportType.F32);
        GgufExport.WriteLoraAdapter(dir["lora.gguf"], c, loaded);

        float[][] withAdapter = LlamaSharpRunner.Logits(dir["base.gguf"], prompt, (dir["lora.gguf"], 1f));
        float[][] mergedLogits = LlamaSharpRunner.Logits(dir["merged.gguf"], prompt);
        float[][] baseLogits = LlamaSharpRunner.Logits(dir["base.gguf"], prompt);
        double[][] reference = ReferenceLlama.Forward(c, merged, prompt);
        double errAdapter = RelError(withAdapter, reference), errMerged = RelError(mergedLogits, reference), effect = RelError(baseLogits, reference);
        output.WriteLine($"LoRA r=4: base+adapter vs reference {errAdapter:E2}, merged vs reference {errMerged:E2}, base vs reference {effect:E2} (the adapter's effect)");
        Assert.True(effect > 0.05, "the adapter should change the logits");
        Assert.True(errMerged <= 1e-4, $"merged: {errMerged:E2}");
        Assert.True(errAdapter <= 1e-4, $"base + adapter: {errAdapter:E2}");
    }

    /// <summary>Q4_K_M goes through llama.cpp's quantizer (rows must be multiples of 256). We cannot dequantize K-quants,
    /// so the check is relative: on the same model its logits are closer to the fp32 reference than our Q4_0's.</summary>
    [Fact]
    public void Q4KMExportRunsAndBeatsQ4_0()
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        LlamaConfig c = TestData.TinyConfig(tok) with { HiddenSize = 256, IntermediateSize = 256, NumLayers = 1, NumHeads = 4, NumKvHeads = 2, HeadDim = 64 };
        var w = TestData.RandomWeights(c, 13, std: 0.06f);
        int[] prompt = TestData.Prompt(tok);
        using var dir = new TempDir();
        GgufExport.WriteModel(dir["k.gguf"], c, w, tok, GgufExportType.Q4_K_M);
        Assert.Equal(["k.gguf"], dir.Entries()); // no scratch file left behind
        GgufExport.WriteModel(dir["q4.gguf"], c, w, tok, GgufExportType.Q4_0);
        GgufFile f = GgufFile.Read(dir["k.gguf"]);
        Assert.Equal(15u, f["general.file_type"]!.Value);
        Assert.Contains(f.Tensors, t => t.Type == GgmlType.Q4_K);
        Assert.All(f.Tensors.Where(t => t.Ne.Length == 1), t => Assert.Equal(GgmlType.F32, t.Type));

        double[][] reference = ReferenceLlama.Forward(c, w, prompt);
        double errK = RelError(LlamaSharpRunner.Logits(dir["k.gguf"], prompt), reference);
        double err4 = RelError(LlamaSharpRunner.Logits(dir["q4.gguf"], prompt), reference);
        output.WriteLine($"Q4_K_M: logits vs f32 reference {errK:E2} (Q4_0: {err4:E2}); types {string.Join(", ", f.Tensors.GroupBy(t => t.Type).Select(g => $"{g.Key}x{g.Count()}"))}");
        Assert.True(errK < err4, $"Q4_K_M ({errK:E2}) should be closer to f32 than Q4_0 ({err4:E2})");
        Assert.True(errK <= 0.35, $"Q4_K_M logits vs f32 reference {errK:E2}");
    }

    /// <summary>A config vocab larger than the tokenizer (padded embeddings) gets [PADn] tokens of type unused.</summary>
    [Fact]
    public void PaddedVocabularyLoadsAndMatches()
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        LlamaConfig c = TestData.TinyConfig(tok) with { VocabSize = tok.VocabSize + 13 };
        var w = TestData.RandomWeights(c, 17);
        int[] prompt = TestData.Prompt(tok);
        using var dir = new TempDir();
        GgufExport.WriteModel(dir["m.gguf"], c, w, tok, GgufExportType.F32);
        GgufFile f = GgufFile.Read(dir["m.gguf"]);
        var tokens = (string[])f["tokenizer.ggml.tokens"]!.Value;
        var types = (int[])f["tokenizer.ggml.token_type"]!.Value;
        Assert.Equal($"[PAD{c.VocabSize - 1}]", tokens[^1]);
        Assert.Equal((int)TokenType.Unused, types[^1]);
        double err = RelError(LlamaSharpRunner.Logits(dir["m.gguf"], prompt), ReferenceLlama.Forward(c, w, prompt));
        Assert.True(err <= 1e-4, $"padded vocab: {err:E2}");
        using var vocab = new LlamaSharpRunner.Vocab(dir["m.gguf"]);
        Assert.Equal(prompt, vocab.Tokenize("<|start_header_id|>user<|end_header_id|>\n\nWrite a poem about the ocean, naïve 🐋 whale: 1234567!<|eot_id|>", true, true));
    }

    [Fact]
    public void Q4KMRefusesRowsThatAreNotMultiplesOf256()
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        LlamaConfig c = TestData.TinyConfig(tok);
        using var dir = new TempDir();
        var e = Assert.Throws<InvalidDataException>(() => GgufExport.WriteModel(dir["m.gguf"], c, TestData.RandomWeights(c, 1), tok, GgufExportType.Q4_K_M));
        Assert.Contains("256", e.Message, StringComparison.Ordinal);
        Assert.Empty(dir.Entries());
    }
}
