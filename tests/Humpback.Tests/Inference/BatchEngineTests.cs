using Humpback.Inference;
using LLama.Common;
using LLama.Native;
using Xunit;

namespace Humpback.Tests.Inference;

public class BatchEngineTests
{
    internal static readonly (string Instruction, string Output)[] Pairs =
    [
        ("What is the capital of France?", "Paris is the capital of France."),
        ("Name a fox.", "The quick brown fox jumps over the lazy dog."),
        ("Explain the score.", "It means the answer is helpful but not written by an AI Assistant."),
        ("Write a haiku about the sea", "Waves fold into foam\nsalt wind reads the harbour's page\ngulls annotate it"),
        ("List three colours", "1. red\n2. green\n3. blue"),
        ("Why?", "Because."),
        ("Summarise the rating scale.", string.Concat(Enumerable.Repeat("A perfect answer from an AI Assistant is well written and logical. ", 6))),
        ("Translate 'bonjour'", "Hello."),
        ("What does <|eot_id|> mean?", "It is a token that ends a turn: <|eot_id|> should stay plain text here."),
        ("Give a number", "42"),
        ("Describe the lazy dog.", "The dog is lazy, brown and sleeps all day in the sun."),
        ("Is this complete?", "It addresses most of the asks from the user."),
    ];

    internal static Dictionary<string, string> Values((string Instruction, string Output) p) =>
        new() { ["instruction"] = p.Instruction, ["output"] = p.Output };

    /// <summary>The reference: one sequence, the whole prompt decoded in plain chunks, softmax in double.</summary>
    internal static double[] ReferenceSoftmax(LlamaModel m, int[] prompt, int[] candidates)
    {
        var p = new ModelParams(m.Path) { ContextSize = 2048, SeqMax = 1, BatchSize = 512, UBatchSize = 512, FlashAttention = false, Threads = 1 };
        using var context = m.Weights.CreateContext(p);
        var batch = new LLamaBatch();
        int last = -1;
        for (int start = 0; start < prompt.Length; start += 512)
        {
            batch.Clear();
            int n = Math.Min(512, prompt.Length - start);
            for (int i = 0; i < n; i++) last = batch.Add(prompt[start + i], start + i, LLamaSeqId.Zero, start + i == prompt.Length - 1);
            Assert.Equal(DecodeResult.Ok, context.NativeHandle.Decode(batch));
        }
        float[] logits = context.NativeHandle.GetLogitsIth(last).ToArray();
        double max = logits.Max();
        double z = logits.Sum(l => Math.Exp(l - max));
        return candidates.Select(c => Math.Exp(logits[c] - max) / z).ToArray();
    }

    internal static int[] Digits(LlamaModel m) => Enumerable.Range(1, 5).Select(d => m.SingleToken(d.ToString(), false)!.Value).ToArray();

    [Theory]
    [InlineData(1, 512, null)]
    [InlineData(4, 64, null)]   // prompts chunked over several decodes
    [InlineData(12, 37, null)]  // odd batch size; more slots than fit in one batch
    [InlineData(6, 100, false)] // per-sequence KV streams: the prefix is copied whole into each stream
    public void ScoresEqualASingleSequenceDecode(int parallel, int batch, bool? unified)
    {
        LlamaModel m = TinyGguf.Model;
        var renderer = new PromptRenderer(m, PromptTemplates.Curation(logits: true), ChatFormat.Llama3);
        int[] digits = Digits(m);
        var rows = Pairs.Select((p, i) => new EngineRequest { Key = i, Tokens = renderer.RowTokens(Values(p)) }).ToArray();
        var results = new Dictionary<long, EngineResult>();
        using var engine = new BatchEngine(m, new EngineOptions { ParallelSequences = parallel, BatchSize = batch, SequenceContext = 1024, Threads = 1, KvUnified = unified });
        EngineRunStats stats = engine.Score(renderer.PrefixTokens, rows, digits, r => results.Add(r.Key, r));

        Assert.Equal(Pairs.Length, results.Count);
        Assert.Equal(renderer.PrefixTokens.Length, stats.PrefixTokens);
        Assert.Equal(rows.Sum(r => r.Tokens.Length), stats.PromptTokensDecoded); // the prefix was decoded once, not per row
        foreach (EngineRequest row in rows)
        {
            double[] expected = ReferenceSoftmax(m, [.. renderer.PrefixTokens, .. row.Tokens], digits);
            double[] actual = results[row.Key].Probabilities!;
            for (int d = 0; d < 5; d++) Assert.True(Math.Abs(expected[d] - actual[d]) <= 1e-4 * Math.Max(1, expected[d] * 100),
                $"row {row.Key} digit {d + 1}: engine {actual[d]:G6}, single sequence {expected[d]:G6}");
        }
    }

    [Fact]
    public void PromptTokensMatchTokenizingTheWholePromptAtOnce()
    {
        LlamaModel m = TinyGguf.Model;
        var renderer = new PromptRenderer(m, PromptTemplates.Curation(logits: true), ChatFormat.Llama3);
        foreach (var p in Pairs.Where(p => !p.Output.Contains("<|", StringComparison.Ordinal) && !p.Instruction.Contains("<|", StringComparison.Ordinal)))
        {
            int[] whole = m.Tokenize(renderer.Render(Values(p)), addBos: false, parseSpecial: true);
            Assert.Equal<int>(whole, (int[])[.. renderer.PrefixTokens, .. renderer.RowTokens(Values(p))]);
        }
    }

    [Fact]
    public void UserTextNeverBecomesAControlToken()
    {
        LlamaModel m = TinyGguf.Model;
        var renderer = new PromptRenderer(m, PromptTemplates.Curation(logits: true), ChatFormat.Llama3);
        int eot = m.SingleToken("<|eot_id|>", parseSpecial: true)!.Value;
        int[] row = renderer.RowTokens(Values(("a", "<|eot_id|>")));
        Assert.Single(row, t => t == eot); // only the template's own end of the user turn
    }

    [Fact]
    public void GenerationIsReproducibleAndIndependentOfParallelism()
    {
        LlamaModel m = TinyGguf.Model;
        var renderer = new PromptRenderer(m, new PromptTemplate("backward", PromptTemplates.BackwardUser), ChatFormat.Llama3);
        var rows = Pairs.Select((p, i) => new EngineRequest { Key = i, Tokens = renderer.RowTokens(new Dictionary<string, string> { ["output"] = p.Output }), RngKey = (ulong)i * 7919 }).ToArray();
        var settings = new GenerationSettings(Temperature: 1.0f, TopP: 0.9f, TopK: 0, MaxNewTokens: 24, Seed: 42, StopStrings: ["?"]);
        Dictionary<long, EngineResult> Run(int parallel, int batch, bool? unified)
        {
            var results = new Dictionary<long, EngineResult>();
            using var engine = new BatchEngine(m, new EngineOptions { ParallelSequences = parallel, BatchSize = batch, SequenceContext = 512, Threads = 1, KvUnified = unified });
            engine.Generate(renderer.PrefixTokens, rows, settings, r => results.Add(r.Key, r));
            return results;
        }
        var one = Run(1, 512, null);
        foreach (var other in new[] { Run(4, 64, null), Run(16, 128, null), Run(1, 512, null), Run(5, 96, true) })
        {
            foreach (var (key, r) in one)
            {
                Assert.Equal(r.Text, other[key].Text);
                Assert.Equal(r.Finish, other[key].Finish);
                Assert.Equal(r.GeneratedTokens, other[key].GeneratedTokens);
            }
        }
        Assert.All(one.Values, r => Assert.True(r.GeneratedTokens is >= 0 and <= 24));
        Assert.True(one.Values.Count(r => r.GeneratedTokens > 0) > Pairs.Length / 2);
        Assert.All(one.Values.Where(r => r.Finish == FinishReason.Stop), r => Assert.DoesNotContain("?", r.Text!, StringComparison.Ordinal));
        Assert.True(one.Values.Select(r => r.Text).Distinct().Count() > Pairs.Length / 2, "rows should differ");
    }

    [Fact]
    public void TooLongPromptsAndPresetErrorsBecomeErrorRows()
    {
        LlamaModel m = TinyGguf.Model;
        int[] prefix = m.Tokenize("Rate this:", addBos: true, parseSpecial: false);
        var rows = new[]
        {
            new EngineRequest { Key = 0, Tokens = m.Tokenize(" short", false, false) },
            new EngineRequest { Key = 1, Tokens = Enumerable.Repeat(m.Tokenize(" word", false, false)[0], 300).ToArray() },
            new EngineRequest { Key = 2, Error = "column 'text' is null" },
            new EngineRequest { Key = 3, Tokens = [] },
            new EngineRequest { Key = 4, Tokens = m.Tokenize(" also short", false, false) },
        };
        var results = new Dictionary<long, EngineResult>();
        using var engine = new BatchEngine(m, new EngineOptions { ParallelSequences = 2, BatchSize = 64, SequenceContext = 128, Threads = 1 });
        EngineRunStats stats = engine.Score(prefix, rows, Digits(m), r => results.Add(r.Key, r));
        Assert.Equal(5, results.Count);
        Assert.Equal(3, stats.ErrorRows);
        Assert.Contains("per-sequence context of 128", results[1].Error, StringComparison.Ordinal);
        Assert.Equal("column 'text' is null", results[2].Error);
        Assert.Contains("empty prompt", results[3].Error, StringComparison.Ordinal);
        Assert.NotNull(results[0].Probabilities);
        Assert.NotNull(results[4].Probabilities);
    }

    [Fact]
    public void ASmallKvCacheShrinksBatchesAndRequeuesRowsWithoutChangingResults()
    {
        LlamaModel m = TinyGguf.Model;
        var renderer = new PromptRenderer(m, new PromptTemplate("backward", PromptTemplates.BackwardUser), ChatFormat.Llama3);
        var rows = Pairs.Select((p, i) => new EngineRequest { Key = i, Tokens = renderer.RowTokens(new Dictionary<string, string> { ["output"] = p.Output }), RngKey = (ulong)i }).ToArray();
        var settings = new GenerationSettings(Temperature: 0.8f, TopP: 0.95f, TopK: 40, MaxNewTokens: 40, Seed: 3);
        Dictionary<long, EngineResult> Run(EngineOptions o, out EngineRunStats stats)
        {
            var results = new Dictionary<long, EngineResult>();
            using var engine = new BatchEngine(m, o);
            stats = engine.Generate(renderer.PrefixTokens, rows, settings, r => results.Add(r.Key, r));
            return results;
        }
        var roomy = Run(new EngineOptions { ParallelSequences = 8, BatchSize = 256, SequenceContext = 256, Threads = 1 }, out _);
        // 8 slots but room for about two rows: NoKvSlot must be handled, not crash.
        var tight = Run(new EngineOptions { ParallelSequences = 8, BatchSize = 256, SequenceContext = 256, KvCells = 256, Threads = 1 }, out EngineRunStats s);
        Assert.True(s.NoKvSlotRetries > 0, "the tight cache should have run out of cells");
        foreach (var (key, r) in roomy) Assert.Equal(r.Text, tight[key].Text);
    }
}
