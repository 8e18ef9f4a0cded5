using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace Humpback.Inference.Profiling;

/// <summary>The shape of a random Llama model written by <see cref="RandomLlamaGguf"/>.</summary>
/// <param name="VocabSize">total tokens: 256 byte tokens + learned merges + special tokens, padded with reserved
/// control tokens up to this size (must leave room for the byte and special tokens)</param>
/// <param name="MergeCorpus">text the BPE merges are learned from (so prompts in that style tokenize compactly)</param>
public sealed record RandomLlamaSpec(
    int Dim = 64,
    int Layers = 2,
    int Heads = 4,
    int KvHeads = 2,
    int FeedForward = 128,
    int ContextLength = 512,
    int VocabSize = 1024,
    string? MergeCorpus = null,
    int Seed = 1,
    float WeightStd = 0.05f,
    float EmbeddingStd = 1.0f)
{
    /// <summary>Parameters in the file (embedding and output counted separately; they are not tied).</summary>
    public long ParameterCount
    {
        get
        {
            long kv = (long)Dim / Heads * KvHeads;
            long layer = 2L * Dim + 2L * Dim * Dim + 2L * Dim * kv + 3L * Dim * FeedForward;
            return 2L * VocabSize * Dim + Dim + Layers * layer;
        }
    }

    /// <summary>A short name of the shape, e.g. "d512-l8-h8-k4-f1536-v4096" (the inverse of <see cref="WithShape"/>).</summary>
    public string ShapeName => $"d{Dim}-l{Layers}-h{Heads}-k{KvHeads}-f{FeedForward}-v{VocabSize}";

    /// <summary>This spec with the fields named in <paramref name="shape"/> replaced: dash-separated letter + number
    /// pairs, d (dim), l (layers), h (heads), k (KV heads), f (feed-forward), v (vocab), e.g. "d192-l4-f512-v1536".</summary>
    public RandomLlamaSpec WithShape(string shape)
    {
        RandomLlamaSpec s = this;
        foreach (string part in shape.Split('-', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part.Length < 2 || !int.TryParse(part.AsSpan(1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) || n < 1)
                throw new ArgumentException($"random model shape '{shape}': '{part}' is not a letter (d, l, h, k, f, v) followed by a positive number");
            s = char.ToLowerInvariant(part[0]) switch
            {
                'd' => s with { Dim = n },
                'l' => s with { Layers = n },
                'h' => s with { Heads = n },
                'k' => s with { KvHeads = n },
                'f' => s with { FeedForward = n },
                'v' => s with { VocabSize = n },
                _ => throw new ArgumentException($"random model shape '{shape}': unknown field '{part[0]}' (d dim, l layers, h heads, k KV heads, f feed-forward, v vocab)"),
            };
        }
        if (s.Dim % s.Heads != 0 || s.Heads % s.KvHeads != 0 || (s.Dim / s.Heads) % 2 != 0)
            throw new ArgumentException($"random model shape '{shape}': dim {s.Dim} must split into {s.Heads} heads of even size, and heads into {s.KvHeads} KV heads");
        if (s.Dim % 32 != 0 || s.FeedForward % 32 != 0)
            throw new ArgumentException($"random model shape '{shape}': dim and feed-forward must be multiples of 32 (Q8_0 blocks)");
        return s;
    }
}

/// <summary>Writes a Llama-architecture GGUF v3 file with random f32 weights and a small Llama-3-style BPE vocabulary,
/// for engine tests and benchmarks that need a real model file but not real weights.
/// Layout facts (key types, ggml dimension order, alignment): docs/notes "GGUF v3" — llama.cpp checks key types
/// exactly, so counts and ids are u32 and eps / rope base are f32.</summary>
public static partial class RandomLlamaGguf
{
    /// <summary>Control tokens in Llama-3 spelling, placed after the byte and merge tokens (as Llama-3 does).</summary>
    public static readonly string[] SpecialTokens =
        ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"];

    private const uint TypeU32 = 4, TypeI32 = 5, TypeF32 = 6, TypeBool = 7, TypeString = 8, TypeArray = 9;
    private const int Alignment = 32;

    public static void Write(string path, RandomLlamaSpec spec)
    {
        if (spec.Dim % spec.Heads != 0 || spec.Heads % spec.KvHeads != 0)
            throw new ArgumentException($"dim {spec.Dim} must divide into {spec.Heads} heads, and heads into {spec.KvHeads} KV heads");
        (List<string> tokens, List<int> types, List<string> merges) = BuildVocabulary(spec);
        int headDim = spec.Dim / spec.Heads;
        int kvDim = headDim * spec.KvHeads;
        var f = new GgufFile();
        f.Str("general.architecture", "llama");
        f.Str("general.name", $"humpback-random-d{spec.Dim}-l{spec.Layers}-v{spec.VocabSize}");
        f.U32("general.file_type", 0); // ALL_F32
        f.U32("general.alignment", Alignment);
        f.U32("llama.context_length", (uint)spec.ContextLength);
        f.U32("llama.embedding_length", (uint)spec.Dim);
        f.U32("llama.block_count", (uint)spec.Layers);
        f.U32("llama.feed_forward_length", (uint)spec.FeedForward);
        f.U32("llama.attention.head_count", (uint)spec.Heads);
        f.U32("llama.attention.head_count_kv", (uint)spec.KvHeads);
        f.F32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        f.F32("llama.rope.freq_base", 500000f);
        f.U32("llama.rope.dimension_count", (uint)headDim);
        f.U32("llama.vocab_size", (uint)spec.VocabSize);
        f.Str("tokenizer.ggml.model", "gpt2");
        f.Str("tokenizer.ggml.pre", "llama-bpe");
        f.StrArray("tokenizer.ggml.tokens", tokens);
        f.I32Array("tokenizer.ggml.token_type", types);
        f.StrArray("tokenizer.ggml.merges", merges);
        f.U32("tokenizer.ggml.bos_token_id", (uint)tokens.IndexOf("<|begin_of_text|>"));
        f.U32("tokenizer.ggml.eos_token_id", (uint)tokens.IndexOf("<|end_of_text|>"));
        f.U32("tokenizer.ggml.eot_token_id", (uint)tokens.IndexOf("<|eot_id|>"));
        f.Bool("tokenizer.ggml.add_bos_token", true);

        // ggml order: ne0 is the contiguous row length, so a row-major W[out, in] is {in, out}. Norm weights are 1.
        f.Tensor("token_embd.weight", [spec.Dim, spec.VocabSize], spec.EmbeddingStd);
        f.Tensor("output_norm.weight", [spec.Dim], 0, constant: 1f);
        f.Tensor("output.weight", [spec.Dim, spec.VocabSize], spec.WeightStd);
        for (int l = 0; l < spec.Layers; l++)
        {
            string b = $"blk.{l}.";
            f.Tensor(b + "attn_norm.weight", [spec.Dim], 0, constant: 1f);
            f.Tensor(b + "attn_q.weight", [spec.Dim, spec.Dim], spec.WeightStd);
            f.Tensor(b + "attn_k.weight", [spec.Dim, kvDim], spec.WeightStd);
            f.Tensor(b + "attn_v.weight", [spec.Dim, kvDim], spec.WeightStd);
            f.Tensor(b + "attn_output.weight", [spec.Dim, spec.Dim], spec.WeightStd);
            f.Tensor(b + "ffn_norm.weight", [spec.Dim], 0, constant: 1f);
            f.Tensor(b + "ffn_gate.weight", [spec.Dim, spec.FeedForward], spec.WeightStd);
            f.Tensor(b + "ffn_up.weight", [spec.Dim, spec.FeedForward], spec.WeightStd);
            f.Tensor(b + "ffn_down.weight", [spec.FeedForward, spec.Dim], spec.WeightStd);
        }
        f.Save(path, spec.Seed);
    }

    /// <summary>A random LoRA adapter for a model written with <paramref name="spec"/>, on every layer's attn_q and
    /// attn_v: tensors "&lt;weight&gt;.lora_a" {in, r} and ".lora_b" {r, out}; llama.cpp adds scale·alpha/r·B·A.
    /// <paramref name="bStd"/> 0 makes B zero (an adapter that changes nothing, as PEFT initialises one).</summary>
    public static void WriteLora(string path, RandomLlamaSpec spec, int rank = 4, float alpha = 8f, float bStd = 0.5f, int seed = 2)
    {
        int kvDim = spec.Dim / spec.Heads * spec.KvHeads;
        var f = new GgufFile();
        f.Str("general.architecture", "llama");
        f.Str("general.type", "adapter");
        f.Str("adapter.type", "lora");
        f.F32("adapter.lora.alpha", alpha);
        f.U32("general.alignment", Alignment);
        for (int l = 0; l < spec.Layers; l++)
        {
            foreach (var (name, outDim) in new[] { ("attn_q", spec.Dim), ("attn_v", kvDim) })
            {
                string b = $"blk.{l}.{name}.weight";
                f.Tensor(b + ".lora_a", [spec.Dim, rank], 0.2f);
                f.Tensor(b + ".lora_b", [rank, outDim], bStd, constant: bStd == 0 ? 0f : null);
            }
        }
        f.Save(path, seed);
    }

    /// <summary>The GGUF v3 container: typed key-values, tensor infos, then f32 data at 32-byte alignment.</summary>
    private sealed class GgufFile
    {
        private readonly List<Action<BinaryWriter>> _kvs = [];
        private readonly List<(string Name, long[] Ne, float Std, float? Constant)> _tensors = [];

        public void Str(string key, string v) => _kvs.Add(w => { WriteString(w, key); w.Write(TypeString); WriteString(w, v); });
        public void U32(string key, uint v) => _kvs.Add(w => { WriteString(w, key); w.Write(TypeU32); w.Write(v); });
        public void F32(string key, float v) => _kvs.Add(w => { WriteString(w, key); w.Write(TypeF32); w.Write(v); });
        public void Bool(string key, bool v) => _kvs.Add(w => { WriteString(w, key); w.Write(TypeBool); w.Write((byte)(v ? 1 : 0)); });

        public void StrArray(string key, List<string> v) => _kvs.Add(w =>
        {
            WriteString(w, key); w.Write(TypeArray); w.Write(TypeString); w.Write((ulong)v.Count);
            foreach (string s in v) WriteString(w, s);
        });

        public void I32Array(string key, List<int> v) => _kvs.Add(w =>
        {
            WriteString(w, key); w.Write(TypeArray); w.Write(TypeI32); w.Write((ulong)v.Count);
            foreach (int x in v) w.Write(x);
        });

        /// <summary>An f32 tensor: uniform random with standard deviation <paramref name="std"/>, or a constant.</summary>
        public void Tensor(string name, long[] ne, float std, float? constant = null) => _tensors.Add((name, ne, std, constant));

        public void Save(string path, int seed)
        {
            using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
            using var w = new BinaryWriter(fs, Encoding.UTF8, leaveOpen: true);
            w.Write("GGUF"u8);
            w.Write(3u);
            w.Write((ulong)_tensors.Count);
            w.Write((ulong)_kvs.Count);
            foreach (Action<BinaryWriter> kv in _kvs) kv(w);
            long offset = 0;
            foreach (var t in _tensors)
            {
                WriteString(w, t.Name);
                w.Write((uint)t.Ne.Length);
                foreach (long n in t.Ne) w.Write((ulong)n);
                w.Write(0u); // GGML_TYPE_F32
                w.Write((ulong)offset);
                offset += Pad(Elements(t.Ne) * 4);
            }
            w.Flush();
            PadTo(fs, Alignment);

            var rng = new Random(seed);
            byte[] buffer = new byte[1 << 16];
            foreach (var t in _tensors)
            {
                long n = Elements(t.Ne);
                float a = t.Std * MathF.Sqrt(3f); // uniform on [−a, a] has standard deviation a/√3
                for (long done = 0; done < n;)
                {
                    int chunk = (int)Math.Min(buffer.Length / 4, n - done);
                    for (int i = 0; i < chunk; i++)
                    {
                        float v = t.Constant ?? (float)(rng.NextDouble() * 2 - 1) * a;
                        BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(i * 4), v);
                    }
                    fs.Write(buffer, 0, chunk * 4);
                    done += chunk;
                }
                PadTo(fs, Alignment);
            }
        }
    }

    /// <summary>The vocabulary: the 256 GPT-2 byte tokens, merges learned from the corpus, the special tokens and
    /// reserved control tokens up to the requested size. Token types: 1 normal, 3 control.</summary>
    internal static (List<string> Tokens, List<int> Types, List<string> Merges) BuildVocabulary(RandomLlamaSpec spec)
    {
        string[] byteToUnicode = ByteToUnicode();
        var tokens = new List<string>(byteToUnicode);
        var known = new HashSet<string>(tokens, StringComparer.Ordinal);
        int mergeBudget = spec.VocabSize - 256 - SpecialTokens.Length;
        if (mergeBudget < 0) throw new ArgumentException($"vocab size {spec.VocabSize} leaves no room for 256 byte and {SpecialTokens.Length} special tokens");
        var merges = LearnMerges(spec.MergeCorpus ?? "", byteToUnicode, mergeBudget);
        foreach (string m in merges)
        {
            string merged = m.Replace(" ", "", StringComparison.Ordinal);
            if (known.Add(merged)) tokens.Add(merged);
        }
        var types = Enumerable.Repeat(1, tokens.Count).ToList();
        foreach (string s in SpecialTokens) { tokens.Add(s); types.Add(3); }
        for (int i = 0; tokens.Count < spec.VocabSize; i++) { tokens.Add($"<|reserved_special_token_{i}|>"); types.Add(3); }
        return (tokens, types, merges);
    }

    /// <summary>Byte-pair merges learned greedily on the corpus, pre-split like Llama-3 (words with their leading
    /// space, digits, punctuation runs, whitespace). Ties go to the ordinally smallest pair, so the result is stable.</summary>
    private static List<string> LearnMerges(string corpus, string[] byteToUnicode, int max)
    {
        var words = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (Match m in PreSplit().Matches(corpus))
        {
            string mapped = string.Concat(Encoding.UTF8.GetBytes(m.Value).Select(b => byteToUnicode[b]));
            words[mapped] = words.GetValueOrDefault(mapped) + 1;
        }
        var seqs = words.Select(kv => (Symbols: kv.Key.Select(c => c.ToString()).ToList(), Count: kv.Value)).ToList();
        var merges = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (merges.Count < max)
        {
            var pairs = new Dictionary<(string, string), int>();
            foreach (var (symbols, count) in seqs)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    pairs[(symbols[i], symbols[i + 1])] = pairs.GetValueOrDefault((symbols[i], symbols[i + 1])) + count;
            var best = pairs.Where(p => p.Value >= 2)
                .OrderByDescending(p => p.Value)
                .ThenBy(p => p.Key.Item1, StringComparer.Ordinal)
                .ThenBy(p => p.Key.Item2, StringComparer.Ordinal)
                .Select(p => p.Key).FirstOrDefault();
            if (best == default) break;
            string merge = best.Item1 + " " + best.Item2;
            if (!seen.Add(merge)) break;
            merges.Add(merge);
            foreach (var (symbols, _) in seqs)
            {
                for (int i = 0; i + 1 < symbols.Count; i++)
                {
                    if (symbols[i] == best.Item1 && symbols[i + 1] == best.Item2)
                    {
                        symbols[i] = best.Item1 + best.Item2;
                        symbols.RemoveAt(i + 1);
                    }
                }
            }
        }
        return merges;
    }

    [GeneratedRegex(@"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+")]
    private static partial Regex PreSplit();

    /// <summary>GPT-2's reversible byte → printable character map (printable Latin-1 bytes map to themselves).</summary>
    internal static string[] ByteToUnicode()
    {
        var map = new string[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? ((char)b).ToString() : ((char)(256 + extra++)).ToString();
        }
        return map;
    }

    private static long Elements(long[] ne) => ne.Aggregate(1L, (a, b) => a * b);

    private static long Pad(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void WriteString(BinaryWriter w, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void PadTo(Stream s, int alignment)
    {
        long pad = Pad(s.Position) - s.Position;
        for (long i = 0; i < pad; i++) s.WriteByte(0);
    }
}
