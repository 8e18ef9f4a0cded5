using Humpback.Inference;
using Humpback.Inference.Profiling;

namespace Humpback.Tests.Inference;

/// <summary>The tiny random Llama GGUF the inference tests run on (dim 64, 2 layers, 4 heads, 2 KV heads, train ctx
/// 512, a ~700-token Llama-3-style BPE vocabulary with merges learned from our prompts), written once per test run.
/// Random weights are enough for what these tests check: determinism, batching equivalence, shards, resume.</summary>
internal static class TinyGguf
{
    private static readonly Lazy<string> LazyPath = new(Create);
    private static readonly Lazy<LlamaModel> LazyModel = new(() => LlamaModel.Load(Path));

    public static readonly RandomLlamaSpec Spec = new(
        Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, FeedForward: 128, ContextLength: 512, VocabSize: 700,
        MergeCorpus: Corpus, Seed: 7, WeightStd: 0.2f, EmbeddingStd: 1f);

    /// <summary>Path of the model file (created on first use).</summary>
    public static string Path => LazyPath.Value;

    /// <summary>One shared loaded model (loading is cheap, but contexts are what tests create per case).</summary>
    public static LlamaModel Model => LazyModel.Value;

    private static string Corpus =>
        string.Concat(Enumerable.Repeat(PromptTemplates.CurationPrompt + "\n" + PromptTemplates.BackwardHeader + "\n" + PromptTemplates.SeedTag
            + "\nThe quick brown fox jumps over the lazy dog. What is the capital of France? Paris is the capital of France.\n", 2));

    private static string Create()
    {
        string dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "humpback-tests");
        Directory.CreateDirectory(dir);
        string path = System.IO.Path.Combine(dir, $"tiny-{Environment.ProcessId}.gguf");
        RandomLlamaGguf.Write(path, Spec);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { File.Delete(path); } catch (IOException) { } };
        return path;
    }
}
