using System.Text;
using LLama;
using LLama.Common;
using LLama.Exceptions;
using LLama.Native;

namespace Humpback.Inference;

/// <summary>How to load a GGUF model.</summary>
/// <param name="LoraPath">optional LoRA adapter GGUF applied on top of the model</param>
/// <param name="LoraScale">adapter scale (llama.cpp multiplies it with the adapter's alpha / r)</param>
/// <param name="GpuLayers">layers offloaded to the GPU (-1: all); only meaningful with a CUDA backend</param>
/// <param name="Backend">native library choice, applied before the first load (null: environment, else CPU)</param>
public sealed record ModelLoadOptions(string? LoraPath = null, float LoraScale = 1f, int GpuLayers = 0, LlamaBackend? Backend = null);

/// <summary>A GGUF model loaded by LLamaSharp (weights, optional LoRA adapter, vocabulary) plus the token helpers the
/// engine needs: tokenizing template pieces, byte pieces for detokenizing, end-of-generation tokens.
/// Immutable after loading and safe to tokenize with from several threads (llama.cpp's vocabulary is read-only).</summary>
public sealed class LlamaModel : IDisposable
{
    private readonly byte[][] _pieces;
    private readonly bool[] _endOfGeneration;

    private LlamaModel(string path, LLamaWeights weights, LoraAdapter? lora, float loraScale, int gpuLayers)
    {
        Path = path;
        Weights = weights;
        Lora = lora;
        LoraScale = loraScale;
        GpuLayers = gpuLayers;
        SafeLlamaModelHandle.Vocabulary vocab = weights.Vocab;
        VocabSize = vocab.Count;
        _pieces = new byte[VocabSize][];
        _endOfGeneration = new bool[VocabSize];
        Span<byte> buf = stackalloc byte[256];
        for (int t = 0; t < VocabSize; t++)
        {
            // special: false renders control tokens as nothing, which is what a generation's text should hold.
            uint n = weights.NativeHandle.TokenToSpan(t, buf, 0, false);
            _pieces[t] = n <= buf.Length ? buf[..(int)n].ToArray() : LongPiece(weights.NativeHandle, t, (int)n);
            _endOfGeneration[t] = ((LLamaToken)t).IsEndOfGeneration(vocab);
        }
        Bos = vocab.BOS is LLamaToken bos ? (int)bos : null;
        AddBos = vocab.ShouldAddBOS;
    }

    public string Path { get; }
    internal LLamaWeights Weights { get; }
    internal LoraAdapter? Lora { get; }
    internal float LoraScale { get; }
    internal int GpuLayers { get; }
    public int VocabSize { get; }
    public int? Bos { get; }
    /// <summary>Whether the model's tokenizer asks for BOS at the start of a prompt (tokenizer.ggml.add_bos_token).</summary>
    public bool AddBos { get; }
    public int TrainContext => Weights.ContextSize;
    public long ParameterCount => (long)Weights.ParameterCount;
    public string? LoraPath => Lora?.Path;

    /// <summary>Loads a GGUF file; errors name the file.</summary>
    public static LlamaModel Load(string path, ModelLoadOptions? options = null)
    {
        options ??= new ModelLoadOptions();
        string full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"model file not found: {full}", full);
        if (options.LoraPath is string lp && !File.Exists(lp)) throw new FileNotFoundException($"LoRA adapter not found: {System.IO.Path.GetFullPath(lp)}", lp);
        LlamaRuntime.Configure(options.Backend);
        var p = new ModelParams(full) { GpuLayerCount = options.GpuLayers < 0 ? 999 : options.GpuLayers };
        LLamaWeights weights;
        try
        {
            weights = LLamaWeights.LoadFromFile(p);
        }
        catch (LoadWeightsFailedException e)
        {
            throw new InvalidDataException($"{full}: llama.cpp could not load this GGUF model ({e.Message})", e);
        }
        LoraAdapter? lora = null;
        try
        {
            if (options.LoraPath is string loraPath)
            {
                string loraFull = System.IO.Path.GetFullPath(loraPath);
                try
                {
                    lora = weights.NativeHandle.LoadLoraFromFile(loraFull);
                }
                catch (Exception e) when (e is InvalidOperationException or RuntimeError)
                {
                    throw new InvalidDataException($"{loraFull}: llama.cpp could not load this LoRA adapter for {full} ({e.Message})", e);
                }
                // LLamaSharp 0.30.0 wraps a failed llama_adapter_lora_init (null) without checking it, and applying a
                // null adapter would crash the process: check the handle it keeps internally.
                if (AdapterPointer(lora) == IntPtr.Zero)
                {
                    lora = null;
                    throw new InvalidDataException($"{loraFull}: llama.cpp could not load this LoRA adapter for {full} " +
                                                   "(not a GGUF LoRA adapter for this model: general.type=adapter, adapter.type=lora, matching shapes)");
                }
            }
            return new LlamaModel(full, weights, lora, options.LoraScale, options.GpuLayers);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>Tokenizes <paramref name="text"/>. With <paramref name="parseSpecial"/> control-token spellings such as
    /// "&lt;|eot_id|&gt;" become their ids (only for template text: user text must never be parsed that way).</summary>
    public int[] Tokenize(string text, bool addBos, bool parseSpecial)
    {
        if (text.Length == 0) return addBos && Bos is int b ? [b] : [];
        LLamaToken[] tokens = Weights.NativeHandle.Tokenize(text, addBos, parseSpecial, Encoding.UTF8);
        var ids = new int[tokens.Length];
        for (int i = 0; i < ids.Length; i++) ids[i] = (int)tokens[i];
        return ids;
    }

    /// <summary>The id of <paramref name="text"/> if it is exactly one token, else null.</summary>
    public int? SingleToken(string text, bool parseSpecial)
    {
        int[] t = Tokenize(text, addBos: false, parseSpecial);
        return t.Length == 1 ? t[0] : null;
    }

    /// <summary>The bytes a token contributes to generated text (control tokens contribute none).</summary>
    public ReadOnlySpan<byte> Piece(int token) => _pieces[token];

    /// <summary>True for end-of-generation tokens (EOS, EOT and the like, as llama.cpp marks them).</summary>
    public bool IsEndOfGeneration(int token) => (uint)token < (uint)_endOfGeneration.Length && _endOfGeneration[token];

    /// <summary>Joins the pieces of <paramref name="tokens"/> into text (invalid UTF-8 becomes U+FFFD).</summary>
    public string Detokenize(ReadOnlySpan<int> tokens)
    {
        var bytes = new List<byte>();
        foreach (int t in tokens) bytes.AddRange(_pieces[t]);
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    public string Describe() =>
        $"{System.IO.Path.GetFileName(Path)}: {ParameterCount / 1e6:0.#}M params, vocab {VocabSize}, train ctx {TrainContext}" +
        (Lora != null ? $", LoRA {System.IO.Path.GetFileName(Lora.Path)} ×{LoraScale}" : "");

    private static readonly System.Reflection.PropertyInfo? PointerProperty =
        typeof(LoraAdapter).GetProperty("Pointer", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public);

    /// <summary>The native adapter handle, or −1 (unknown, assumed valid) if a LLamaSharp version hides it differently.</summary>
    private static IntPtr AdapterPointer(LoraAdapter adapter) => PointerProperty?.GetValue(adapter) is IntPtr p ? p : -1;

    private static byte[] LongPiece(SafeLlamaModelHandle model, int token, int n)
    {
        var buf = new byte[n];
        model.TokenToSpan(token, buf, 0, false);
        return buf;
    }

    public void Dispose()
    {
        Lora?.Unload();
        Weights.Dispose();
    }
}
