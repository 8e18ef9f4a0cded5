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
}
