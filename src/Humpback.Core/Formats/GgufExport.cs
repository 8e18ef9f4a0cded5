using Humpback.IO;
using Humpback.Model;
using LLama;
using LLamaFtype = LLama.Native.LLamaFtype;
using NativeApi = LLama.Native.NativeApi;

namespace Humpback.Formats;

/// <summary>What <c>humpback export --type</c> writes.</summary>
public enum GgufExportType
{
    F32,
    F16,
    Q8_0,
    Q4_0,
    Q4_K_M,
}

/// <summary>One export: an HF folder (optionally with a PEFT adapter) to a GGUF file.</summary>
public sealed record GgufExportRequest
{
    public required string ModelDir { get; init; }
    public required string OutPath { get; init; }
    public GgufExportType Type { get; init; } = GgufExportType.F16;
    public string? AdapterDir { get; init; }
    /// <summary>Fold W += (alpha/r)·B·A into the weights before export.</summary>
    public bool Merge { get; init; }
    /// <summary>Write only the adapter, as a GGUF LoRA adapter for llama.cpp.</summary>
    public bool AdapterOnly { get; init; }
}

/// <summary>Llama → GGUF for llama.cpp / LLamaSharp: names, metadata with llama.cpp's exact key types, the q/k
/// row permutation, rope_freqs for llama3 scaling, tokenizer metadata, and F16/Q8_0/Q4_0 written by us
/// (Q4_K_M through llama.cpp's quantizer). LoRA adapters become GGUF adapters.</summary>
public static class GgufExport
{
    /// <summary>HF parameter name → GGUF tensor name (llama.cpp LLM_TENSOR_NAMES for LLM_ARCH_LLAMA).</summary>
    public static string TensorName(string hf)
    {
        if (hf == LlamaTensorNames.Embedding) return "token_embd.weight";
        if (hf == LlamaTensorNames.FinalNorm) return "output_norm.weight";
        if (hf == LlamaTensorNames.LmHead) return "output.weight";
        const string p = "model.layers.";
        if (hf.StartsWith(p, StringComparison.Ordinal))
        {
            int dot = hf.IndexOf('.', p.Length);
            string layer = hf[p.Length..dot];
            string rest = hf[(dot + 1)..];
            string? g = rest switch
            {
                "input_layernorm.weight" => "attn_norm",
                "self_attn.q_proj.weight" => "attn_q",
                "self_attn.k_proj.weight" => "attn_k",
                "self_attn.v_proj.weight" => "attn_v",
                "self_attn.o_proj.weight" => "attn_output",
                "post_attention_layernorm.weight" => "ffn_norm",
                "mlp.gate_proj.weight" => "ffn_gate",
                "mlp.up_proj.weight" => "ffn_up",
                "mlp.down_proj.weight" => "ffn_down",
                _ => null,
            };
            if (g != null) return $"blk.{layer}.{g}.weight";
        }
        throw new ArgumentException($"no GGUF name for tensor '{hf}'", nameof(hf));
    }

    /// <summary>Heads whose rows must be permuted for a weight (q: n_head, k: n_kv_head), or 0 for none.</summary>
    private static int PermuteHeads(LlamaConfig c, string hf) =>
        hf.EndsWith(".self_attn.q_proj.weight", StringComparison.Ordinal) ? c.NumHeads
        : hf.EndsWith(".self_attn.k_proj.weight", StringComparison.Ordinal) ? c.NumKvHeads
        : 0;

    /// <summary>HF rotates halves (i, i + d/2), llama.cpp adjacent pairs (2i, 2i+1): within each head of
    /// <paramref name="rows"/>/<paramref name="nHead"/> rows, output row 2i + j takes input row j·(d/2) + i
    /// (convert_hf_to_gguf.py LlamaModel.permute). <paramref name="w"/> is row-major [rows, cols].</summary>
    public static float[] PermuteRows(ReadOnlySpan<float> w, int rows, int cols, int nHead)
    {
        if (rows % nHead != 0 || (rows / nHead) % 2 != 0) throw new ArgumentException($"{rows} rows do not split into {nHead} heads of even size", nameof(rows));
        int d = rows / nHead, half = d / 2;
        var dst = new float[(long)rows * cols];
        for (int h = 0; h < nHead; h++)
        {
            for (int i = 0; i < half; i++)
            {
                for (int j = 0; j < 2; j++)
                {
                    int src = h * d + j * half + i, to = h * d + 2 * i + j;
                    w.Slice(src * cols, cols).CopyTo(dst.AsSpan(to * cols, cols));
                }
            }
        }
        return dst;
    }

    /// <summary>The inverse of <see cref="PermuteRows"/>: llama.cpp's row layout back to HF's.</summary>
    public static float[] UnpermuteRows(ReadOnlySpan<float> w, int rows, int cols, int nHead)
    {
        if (rows % nHead != 0 || (rows / nHead) % 2 != 0) throw new ArgumentException($"{rows} rows do not split into {nHead} heads of even size", nameof(rows));
        int d = rows / nHead, half = d / 2;
        var dst = new float[(long)rows * cols];
        for (int h = 0; h < nHead; h++)
        {
            for (int i = 0; i < half; i++)
            {
                for (int j = 0; j < 2; j++)
                {
                    int from = h * d + 2 * i + j, to = h * d + j * half + i;
                    w.Slice(from * cols, cols).CopyTo(dst.AsSpan(to * cols, cols));
                }
            }
        }
        return dst;
    }

    /// <summary>Reads the weights of a Llama GGUF back into HF names and layout (dequantized to fp32, q/k rows un-permuted).
    /// Only F32, F16, BF16, Q8_0 and Q4_0 tensors can be read.</summary>
    public static Dictionary<string, HostTensor> ReadTensors(GgufFile f, LlamaConfig c)
    {
        var result = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var (hf, shape) in LlamaTensorNames.Expected(c))
        {
            string g = TensorName(hf);
            GgufTensorInfo info = f.Tensor(g);
            if (!info.Shape.SequenceEqual(shape))
                throw new InvalidDataException($"{f.Path}: {g}: shape [{string.Join(", ", info.Shape)}] but the config implies [{string.Join(", ", shape)}]");
            float[] data = f.ReadFloat32(g);
            int heads = PermuteHeads(c, hf);
            if (heads > 0) data = UnpermuteRows(data, (int)shape[0], (int)shape[1], heads);
            result[hf] = new HostTensor(hf, shape, data);
        }
        return result;
    }

    /// <summary>llama3 RoPE frequency divisors (d/2 values; llama.cpp divides each θ_i by rope_freqs[i]):
    /// 1 for high frequencies, factor for low ones, 1/((1−s)/factor + s) in between (HF _compute_llama3_parameters).</summary>
    public static float[] RopeFreqFactors(LlamaConfig c)
    {
        RopeScaling s = c.RopeScaling ?? throw new ArgumentException("the config has no llama3 rope_scaling", nameof(c));
        int d = c.ResolvedHeadDim;
        var f = new float[d / 2];
        double lowWavelen = s.OriginalMaxPosition / (double)s.LowFreqFactor;
        double highWavelen = s.OriginalMaxPosition / (double)s.HighFreqFactor;
        for (int i = 0; i < d / 2; i++)
        {
            double freq = Math.Pow(c.RopeTheta, -2.0 * i / d);
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < highWavelen) f[i] = 1f;
            else if (wavelen > lowWavelen) f[i] = s.Factor;
            else
            {
                double smooth = (s.OriginalMaxPosition / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                f[i] = (float)(1.0 / ((1 - smooth) / s.Factor + smooth));
            }
        }
        return f;
    }

    /// <summary>general.file_type (llama_ftype) of a GGUF we write.</summary>
    public static uint FileType(GgufExportType t) => t switch
    {
        GgufExportType.F32 => 0,
        GgufExportType.F16 => 1,
        GgufExportType.Q4_0 => 2,
        GgufExportType.Q8_0 => 7,
        _ => 15,
    };

    /// <summary>Storage type of one tensor: 1-D tensors (norms) stay F32; a quantized type needs rows that are a
    /// multiple of 32, else the tensor falls back to F16.</summary>
    public static GgmlType TensorType(GgufExportType t, long[] shape)
    {
        if (shape.Length == 1) return GgmlType.F32;
        long row = shape[^1];
        return t switch
        {
            GgufExportType.F32 or GgufExportType.Q4_K_M => GgmlType.F32,
            GgufExportType.F16 => GgmlType.F16,
            GgufExportType.Q8_0 => row % 32 == 0 ? GgmlType.Q8_0 : GgmlType.F16,
            _ => row % 32 == 0 ? GgmlType.Q4_0 : GgmlType.F16,
        };
    }

    /// <summary>The metadata and tensors of a Llama model GGUF (types F32/F16/Q8_0/Q4_0).</summary>
    public static GgufWriter BuildModel(LlamaConfig c, IReadOnlyDictionary<string, HostTensor> tensors, HumpbackTokenizer tok, GgufExportType type, string name = "humpback")
    {
        c.Validate("config");
        HfFolder.CheckTensors(c, tensors);
        if (type == GgufExportType.Q4_K_M) throw new ArgumentException("Q4_K_M is written through llama.cpp's quantizer: use Export", nameof(type));
        if (tok.VocabSize > c.VocabSize)
            throw new InvalidDataException($"tokenizer has {tok.VocabSize} tokens but config.json vocab_size is {c.VocabSize}");
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.Str("llama"));
        w.Add("general.type", GgufValue.Str("model"));
        w.Add("general.name", GgufValue.Str(name));
        w.Add("general.file_type", GgufValue.U32(FileType(type)));
        if (type is GgufExportType.Q8_0 or GgufExportType.Q4_0) w.Add("general.quantization_version", GgufValue.U32(2));
        w.Add("llama.vocab_size", GgufValue.U32((uint)c.VocabSize));
        w.Add("llama.context_length", GgufValue.U32((uint)c.MaxPositionEmbeddings));
        w.Add("llama.embedding_length", GgufValue.U32((uint)c.HiddenSize));
        w.Add("llama.block_count", GgufValue.U32((uint)c.NumLayers));
        w.Add("llama.feed_forward_length", GgufValue.U32((uint)c.IntermediateSize));
        w.Add("llama.rope.dimension_count", GgufValue.U32((uint)c.ResolvedHeadDim));
        w.Add("llama.rope.freq_base", GgufValue.F32(c.RopeTheta));
        w.Add("llama.attention.head_count", GgufValue.U32((uint)c.NumHeads));
        w.Add("llama.attention.head_count_kv", GgufValue.U32((uint)c.NumKvHeads));
        w.Add("llama.attention.key_length", GgufValue.U32((uint)c.ResolvedHeadDim));
        w.Add("llama.attention.value_length", GgufValue.U32((uint)c.ResolvedHeadDim));
        w.Add("llama.attention.layer_norm_rms_epsilon", GgufValue.F32(c.RmsNormEps));
        AddTokenizer(w, c, tok);

        void Add(string hf)
        {
            HostTensor t = tensors[hf];
            GgmlType gt = TensorType(type, t.Shape);
            int heads = PermuteHeads(c, hf);
            if (heads == 0)
            {
                w.AddTensor(TensorName(hf), t.Shape, t.Data, gt);
                return;
            }
            // Permute at write time so only one permuted copy exists at once.
            long[] ne = [t.Shape[1], t.Shape[0]];
            w.AddTensor(TensorName(hf), ne, gt, s =>
            {
                float[] p = PermuteRows(t.Data, (int)t.Shape[0], (int)t.Shape[1], heads);
                WriteRows(s, p, t.Shape[1], gt);
            });
        }

        Add(LlamaTensorNames.Embedding);
        if (c.RopeScaling != null) w.AddTensor("rope_freqs.weight", [c.ResolvedHeadDim / 2], RopeFreqFactors(c), GgmlType.F32);
        for (int l = 0; l < c.NumLayers; l++)
        {
            foreach (string suffix in LlamaTensorNames.LayerSuffixes) Add(LlamaTensorNames.Layer(l, suffix));
        }
        Add(LlamaTensorNames.FinalNorm);
        if (!c.TieWordEmbeddings) Add(LlamaTensorNames.LmHead);
        return w;
    }

    private static void WriteRows(Stream s, float[] data, long row, GgmlType type)
    {
        int rowBytes = (int)GgmlTypes.RowBytes(type, row);
        byte[] buf = new byte[rowBytes];
        for (long r = 0; r < data.LongLength / row; r++)
        {
            GgmlTypes.Quantize(type, data.AsSpan((int)(r * row), (int)row), buf);
            s.Write(buf);
        }
    }

    /// <summary>Tokenizer metadata as convert_hf_to_gguf.py writes it for Llama 3 (gpt2 model, llama-bpe pre-tokenizer).</summary>
    private static void AddTokenizer(GgufWriter w, LlamaConfig c, HumpbackTokenizer tok)
    {
        var tokens = new string[c.VocabSize];
        var types = new int[c.VocabSize];
        for (int id = 0; id < c.VocabSize; id++)
        {
            string? text = id < tok.VocabSize ? tok.TokenText(id) : null;
            tokens[id] = text ?? $"[PAD{id}]";
            types[id] = text == null ? (int)TokenType.Unused : (int)tok.Type(id);
        }
        w.Add("tokenizer.ggml.model", GgufValue.Str("gpt2"));
        w.Add("tokenizer.ggml.pre", GgufValue.Str("llama-bpe"));
        w.Add("tokenizer.ggml.tokens", GgufValue.Strings(tokens));
        w.Add("tokenizer.ggml.token_type", GgufValue.I32s(types));
        w.Add("tokenizer.ggml.merges", GgufValue.Strings(tok.Merges.Select(m => m.Left + " " + m.Right).ToArray()));
        w.Add("tokenizer.ggml.bos_token_id", GgufValue.U32((uint)c.BosTokenId));
        w.Add("tokenizer.ggml.eos_token_id", GgufValue.U32((uint)c.EosTokenId));
        if (tok.EotTokenId >= 0) w.Add("tokenizer.ggml.eot_token_id", GgufValue.U32((uint)tok.EotTokenId));
        if (tok.PadId >= 0) w.Add("tokenizer.ggml.padding_token_id", GgufValue.U32((uint)tok.PadId));
        w.Add("tokenizer.ggml.add_bos_token", GgufValue.Bool(true));
        w.Add("tokenizer.ggml.add_eos_token", GgufValue.Bool(false));
        if (tok.ChatTemplate != null) w.Add("tokenizer.chat_template", GgufValue.Str(tok.ChatTemplate));
    }

    /// <summary>Writes a model GGUF atomically; Q4_K_M goes through an F32 scratch file and llama.cpp's quantizer.</summary>
    public static void WriteModel(string outPath, LlamaConfig c, IReadOnlyDictionary<string, HostTensor> tensors, HumpbackTokenizer tok, GgufExportType type, string name = "humpback")
    {
        if (type != GgufExportType.Q4_K_M)
        {
            GgufWriter w = BuildModel(c, tensors, tok, type, name);
            AtomicFile.Write(outPath, w.WriteTo);
            return;
        }
        foreach (var (hf, shape) in LlamaTensorNames.Expected(c))
        {
            if (shape.Length == 2 && shape[1] % 256 != 0)
                throw new InvalidDataException($"q4_k_m: {hf} has rows of {shape[1]} elements; K-quants need multiples of 256 (hidden_size, intermediate_size and heads×head_dim must be multiples of 256) — use q8_0 or q4_0");
        }
        GgufWriter f32 = BuildModel(c, tensors, tok, GgufExportType.F32, name);
        string scratch = AtomicFile.ScratchPathBeside(outPath, "f32");
        try
        {
            using (var fs = new FileStream(scratch, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20)) f32.WriteTo(fs);
            NativeApi.llama_empty_call(); // installs LLamaSharp's native library resolver
            AtomicFile.WriteViaPath(outPath, tmp =>
            {
                if (!LLamaQuantizer.Quantize(scratch, tmp, LLamaFtype.MOSTLY_Q4_K_M, Math.Max(1, Environment.ProcessorCount)))
                    throw new InvalidOperationException($"{outPath}: llama.cpp's quantizer failed for Q4_K_M");
            });
        }
        finally
        {
            File.Delete(scratch);
        }
    }

    /// <summary>A GGUF LoRA adapter for llama.cpp (llama_adapter_lora_init): general.type=adapter, adapter.type=lora,
    /// adapter.lora.alpha; "&lt;base&gt;.lora_a" with ne {in, r} and "&lt;base&gt;.lora_b" with ne {r, out}; q/k B rows
    /// permuted like the base weights. llama.cpp applies W·x + scale·(alpha/r)·B·A·x.</summary>
    public static GgufWriter BuildLoraAdapter(LlamaConfig c, LoraAdapter adapter, GgmlType type = GgmlType.F32)
    {
        if (type is not (GgmlType.F32 or GgmlType.F16)) throw new ArgumentException($"adapter tensors are written as F32 or F16, not {type}", nameof(type));
        adapter.Validate(c);
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.Str("llama"));
        w.Add("general.type", GgufValue.Str("adapter"));
        w.Add("general.name", GgufValue.Str(string.IsNullOrEmpty(adapter.Config.BaseModel) ? "lora" : Path.GetFileName(adapter.Config.BaseModel.TrimEnd('/')) + "-lora"));
        w.Add("adapter.type", GgufValue.Str("lora"));
        w.Add("adapter.lora.alpha", GgufValue.F32(adapter.Config.Alpha));
        foreach (var ((layer, module), p) in adapter.Weights)
        {
            string hf = LoraModules.WeightName(layer, module);
            string g = TensorName(hf);
            w.AddTensor(g + ".lora_a", p.A.Shape, p.A.Data, type);
            int heads = PermuteHeads(c, hf);
            float[] b = heads == 0 ? p.B.Data : PermuteRows(p.B.Data, (int)p.B.Shape[0], (int)p.B.Shape[1], heads);
            w.AddTensor(g + ".lora_b", p.B.Shape, b, type);
        }
        return w;
    }

    public static void WriteLoraAdapter(string outPath, LlamaConfig c, LoraAdapter adapter, GgmlType type = GgmlType.F32)
    {
        GgufWriter w = BuildLoraAdapter(c, adapter, type);
        AtomicFile.Write(outPath, w.WriteTo);
    }

    /// <summary>The <c>humpback export</c> entry point. Returns a one-line summary.</summary>
    public static string Export(GgufExportRequest r)
    {
        if (r.AdapterDir != null && !r.Merge && !r.AdapterOnly)
            throw new ArgumentException("--adapter needs --merge (fold it into the weights) or --adapter-only (write a GGUF LoRA adapter)");
        if ((r.Merge || r.AdapterOnly) && r.AdapterDir == null) throw new ArgumentException("--merge and --adapter-only need --adapter <peft-dir>");
        if (r.Merge && r.AdapterOnly) throw new ArgumentException("--merge and --adapter-only exclude each other");
        if (!Directory.Exists(r.ModelDir)) throw new DirectoryNotFoundException($"{r.ModelDir}: no such model folder");

        if (r.AdapterOnly)
        {
            GgmlType t = r.Type switch
            {
                GgufExportType.F32 => GgmlType.F32,
                GgufExportType.F16 => GgmlType.F16,
                _ => throw new ArgumentException($"--adapter-only writes f32 or f16, not {r.Type.ToString().ToLowerInvariant()}"),
            };
            var (cfg, _) = HfConfigJson.Read(Path.Combine(r.ModelDir, HfFolder.ConfigFile));
            LoraAdapter adapter = PeftFolder.Load(r.AdapterDir!, cfg);
            WriteLoraAdapter(r.OutPath, cfg, adapter, t);
            return $"{r.OutPath}: LoRA adapter, r={adapter.Config.Rank}, alpha={adapter.Config.Alpha}, {adapter.Weights.Count} modules, {t}";
        }

        HfCheckpoint ck = HfFolder.Load(r.ModelDir);
        HumpbackTokenizer tok = ck.Tokenizer ?? throw new InvalidDataException($"{Path.Combine(r.ModelDir, HumpbackTokenizer.TokenizerFile)}: missing (GGUF export needs the tokenizer)");
        IReadOnlyDictionary<string, HostTensor> tensors = ck.Tensors;
        string what = "";
        if (r.Merge)
        {
            LoraAdapter adapter = PeftFolder.Load(r.AdapterDir!, ck.Config);
            tensors = adapter.MergeInto(tensors);
            what = $" + merged LoRA (r={adapter.Config.Rank}, alpha={adapter.Config.Alpha})";
        }
        string name = Path.GetFileName(Path.GetFullPath(r.ModelDir).TrimEnd(Path.DirectorySeparatorChar));
        WriteModel(r.OutPath, ck.Config, tensors, tok, r.Type, name);
        return $"{r.OutPath}: {r.Type.ToString().ToLowerInvariant()}, {ck.Config.ParameterCount:N0} parameters{what}";
    }
}
