using System.Text;
using LLama;
using LLama.Common;
using LLama.Native;
using Xunit;

namespace Humpback.Tests.Formats;

/// <summary>Loads a GGUF in LLamaSharp with settings that make logits reproducible: CPU, 1 thread, flash attention
/// off, an F32 KV cache, a small context, and the whole prompt in one batch.</summary>
internal static class LlamaSharpRunner
{
    static LlamaSharpRunner()
    {
        // llama.cpp logs every tensor it loads; keep warnings and errors only.
        NativeApi.llama_empty_call();
        NativeLogConfig.llama_log_set((level, message) =>
        {
            if (level is LLamaLogLevel.Warning or LLamaLogLevel.Error) Console.Error.Write(message);
        });
    }

    private static ModelParams Params(string gguf, bool vocabOnly = false) => new(gguf)
    {
        ContextSize = 256,
        BatchSize = 256,
        UBatchSize = 256,
        Threads = 1,
        BatchThreads = 1,
        GpuLayerCount = 0,
        FlashAttention = false,
        TypeK = GGMLType.GGML_TYPE_F32,
        TypeV = GGMLType.GGML_TYPE_F32,
        VocabOnly = vocabOnly,
    };

    /// <summary>Logits [T][vocab] for every position of <paramref name="tokens"/>, optionally with LoRA adapters applied.</summary>
    public static float[][] Logits(string gguf, int[] tokens, params (string Path, float Scale)[] loras)
    {
        ModelParams p = Params(gguf);
        using LLamaWeights weights = LLamaWeights.LoadFromFile(p);
        using LLamaContext ctx = weights.CreateContext(p);
        if (loras.Length > 0)
        {
            var adapters = loras.Select(l => (weights.NativeHandle.LoadLoraFromFile(l.Path), l.Scale)).ToArray();
            ctx.NativeHandle.SetLoraAdapters(adapters);
        }
        var batch = new LLamaBatch();
        var rows = new int[tokens.Length];
        for (int i = 0; i < tokens.Length; i++) rows[i] = batch.Add((LLamaToken)tokens[i], (LLamaPos)i, LLamaSeqId.Zero, true);
        DecodeResult r = ctx.NativeHandle.Decode(batch);
        Assert.Equal(DecodeResult.Ok, r);
        return rows.Select(row => ctx.NativeHandle.GetLogitsIth(row).ToArray()).ToArray();
    }

    /// <summary>llama.cpp's tokenizer over a loaded model.</summary>
    public sealed class Vocab : IDisposable
    {
        private readonly LLamaWeights _weights;

        public Vocab(string gguf) => _weights = LLamaWeights.LoadFromFile(Params(gguf, vocabOnly: true));

        public int[] Tokenize(string text, bool addBos, bool special) =>
            _weights.Tokenize(text, addBos, special, Encoding.UTF8).Select(t => (int)t).ToArray();

        public LLamaWeights Weights => _weights;

        public void Dispose() => _weights.Dispose();
    }
}

/// <summary>Tests that load llama.cpp run one at a time (it decodes under one global lock anyway).</summary>
[CollectionDefinition("llama.cpp", DisableParallelization = true)]
public sealed class LlamaCppCollection;
