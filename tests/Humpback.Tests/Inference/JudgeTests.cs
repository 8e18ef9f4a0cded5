using Humpback.Inference;
using Humpback.Inference.Profiling;
using Humpback.Prompts;
using Parquet;
using Parquet.Schema;
using Xunit;

namespace Humpback.Tests.Inference;

/// <summary>The pairwise judge: the both-orders arithmetic on hand-made probabilities, then the job end to end on a tiny
/// random judge (join, both orders, resume, shards + merge, bad inputs).</summary>
public sealed class JudgeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("humpback-judge-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    // ------------------------------------------------------------------ the verdict rule

    /// <summary>Both orders of one id: p_first when a is shown first, p_first when b is shown first.</summary>
    private static IEnumerable<JudgeRow> Pair(string id, double firstAb, double firstBa) =>
        [new JudgeRow(id, "ab", firstAb, 0.9), new JudgeRow(id, "ba", firstBa, 0.9)];

    [Fact]
    public void AJudgeThatAlwaysPrefersTheFirstPositionGivesTiesAndHalfTheWins()
    {
        var rows = Enumerable.Range(0, 6).SelectMany(i => Pair($"q{i}", 0.9, 0.9));
        JudgeSummary s = JudgeVerdicts.Summarize(rows);
        Assert.Equal(6, s.Judged);
        Assert.Equal(6, s.Ties);
        Assert.Equal(0, s.WinsA + s.WinsB);
        Assert.Equal(6, s.OrdersDisagree);
        Assert.Equal(0.5, s.WinRateA!.Value, 12);
        Assert.Equal(0.5, s.MeanPreferenceA!.Value, 12);
        Assert.Equal(0.9, s.FirstPositionPreference!.Value, 12);
        Assert.All(s.Verdicts, v => Assert.Equal(JudgeVerdict.Tie, v.Verdict));
    }

    [Fact]
    public void AConsistentPreferenceWinsEvenUnderAPositionBias()
    {
        // The judge likes the first position (+0.2) but likes model a's answers more: a is preferred in both orders.
        var forA = Enumerable.Range(0, 4).SelectMany(i => Pair($"a{i}", 0.95, 0.35));
        JudgeSummary s = JudgeVerdicts.Summarize(forA);
        Assert.Equal(4, s.WinsA);
        Assert.Equal(1.0, s.WinRateA!.Value, 12);
        Assert.Equal(0.8, s.MeanPreferenceA!.Value, 12);

        // The same judge preferring b: b shown second still gets P(B) = 0.6, and shown first P(A) = 0.9.
        JudgeSummary sb = JudgeVerdicts.Summarize(Enumerable.Range(0, 4).SelectMany(i => Pair($"b{i}", 0.4, 0.9)));
        Assert.Equal(4, sb.WinsB);
        Assert.Equal(0.0, sb.WinRateA!.Value, 12);

        // Mixed: 2 wins for a, 1 for b, 1 tie → (2 + 0.5) / 4.
        var mixed = Pair("x0", 0.9, 0.1).Concat(Pair("x1", 0.8, 0.2)).Concat(Pair("x2", 0.2, 0.8)).Concat(Pair("x3", 0.7, 0.7));
        JudgeSummary m = JudgeVerdicts.Summarize(mixed);
        Assert.Equal((2, 1, 1), (m.WinsA, m.WinsB, m.Ties));
        Assert.Equal(2.5 / 4, m.WinRateA!.Value, 12);
    }

    [Theory]
    [InlineData(0.56, 0.56, 0.05, JudgeVerdict.A)]
    [InlineData(0.54, 0.54, 0.05, JudgeVerdict.Tie)]     // both orders agree, but within the margin
    [InlineData(0.54, 0.54, 0.0, JudgeVerdict.A)]
    [InlineData(0.99, 0.45, 0.05, JudgeVerdict.Tie)]     // mean 0.72, but the orders disagree
    [InlineData(0.30, 0.40, 0.05, JudgeVerdict.B)]
    [InlineData(0.50, 0.50, 0.0, JudgeVerdict.Tie)]
    public void DecideNeedsBothOrdersAndTheMargin(double pAb, double pBa, double margin, JudgeVerdict expected)
    {
        (JudgeVerdict v, double pa) = JudgeVerdicts.Decide(pAb, pBa, margin);
        Assert.Equal(expected, v);
        Assert.Equal((pAb + pBa) / 2, pa, 12);
    }

    [Fact]
    public void SkippedIdsAreCountedByReasonAndLeaveTheWinRateAlone()
    {
        var rows = Pair("ok", 0.9, 0.1)
            .Append(new JudgeRow("left", "ab", null, Error: "column 'response_b' is null", Skipped: "only in a"))
            .Append(new JudgeRow("left", "ba", null, Error: "column 'response_a' is null", Skipped: "only in a"))
            .Append(new JudgeRow("right", "ab", null, Skipped: "only in b"))
            .Append(new JudgeRow("blank", "ab", null, Skipped: "no answer from b"))
            .Append(new JudgeRow("long", "ab", null, Error: "prompt of 3000 tokens is more than the per-sequence context"))
            .Append(new JudgeRow("long", "ba", 0.7))
            .Append(new JudgeRow("half", "ab", 0.7)); // its other order is in another shard
        JudgeSummary s = JudgeVerdicts.Summarize(rows);
        Assert.Equal(6, s.Ids);
        Assert.Equal(1, s.Judged);
        Assert.Equal((1, 1, 1, 1, 1), (s.OnlyInA, s.OnlyInB, s.MissingAnswer, s.Errors, s.Incomplete));
        Assert.Equal(5, s.Skipped);
        Assert.Equal(1.0, s.WinRateA!.Value, 12);
        Assert.StartsWith("failed: prompt", s.Verdicts.Single(v => v.Id == "long").Skipped, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ the job on a tiny random judge

    /// <summary>A tiny random judge whose merges were learned on the judge prompt, so " A" and " B" are single tokens.</summary>
    internal static readonly Lazy<string> JudgeModel = new(() => WriteModel("judge",
        string.Concat(Enumerable.Repeat(HumpbackPrompts.JudgeRubric + "\nResponse A:\nResponse B:\n" + HumpbackPrompts.JudgeLeadIn + " A\n", 4)) + TinyGguf.Spec.MergeCorpus));

    /// <summary>A model of <see cref="TinyGguf"/>'s shape whose BPE merges are learned on <paramref name="corpus"/>.</summary>
    internal static string WriteModel(string name, string corpus)
    {
        string dir = Path.Combine(Path.GetTempPath(), "humpback-tests");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"tiny-{name}-{Environment.ProcessId}.gguf");
        RandomLlamaGguf.Write(path, TinyGguf.Spec with { MergeCorpus = corpus });
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { File.Delete(path); } catch (IOException) { } };
        return path;
    }

    internal sealed record AnswerRow(string Id, string? Instruction, string? Generation, string? Error = null);

    /// <summary>A `humpback generate` output as the judge reads it: id, instruction, generation, error.</summary>
    internal static async Task WriteAnswersAsync(string path, IEnumerable<AnswerRow> rows, bool withGeneration = true)
    {
        var list = rows.ToList();
        var id = new DataField<string>("id");
        var instruction = new DataField<string>("instruction");
        var generation = new DataField<string>("generation");
        var error = new DataField<string>("error");
        var schema = withGeneration ? new ParquetSchema(id, instruction, generation, error) : new ParquetSchema(id, instruction, error);
        await using var fs = File.Create(path);
        await using ParquetWriter w = await ParquetWriter.CreateAsync(schema, fs);
        using ParquetRowGroupWriter g = w.CreateRowGroup();
        await g.WriteAsync(id, list.Select(r => r.Id).ToArray());
        await g.WriteAsync(instruction, list.Select(r => r.Instruction).ToArray()!);
        if (withGeneration) await g.WriteAsync(generation, list.Select(r => r.Generation).ToArray()!);
        await g.WriteAsync(error, list.Select(r => r.Error).ToArray()!);
    }

    internal static (string Instruction, string Output) Q(int i) => BatchEngineTests.Pairs[i % BatchEngineTests.Pairs.Length];

    /// <summary>Model a answers q0..q9 well; model b answers q1..q10 with something else; a's q4 failed.</summary>
    private async Task WriteTwoModelsAsync(int questions = 10)
    {
        await WriteAnswersAsync(P("a.parquet"), Enumerable.Range(0, questions).Select(i =>
            new AnswerRow($"q{i}", $"{Q(i).Instruction} ({i})", i == 4 ? null : Q(i).Output, i == 4 ? "prompt too long" : null)));
        await WriteAnswersAsync(P("b.parquet"), Enumerable.Range(1, questions).Select(i =>
            new AnswerRow($"q{i}", $"{Q(i).Instruction} ({i})", Q(i + 5).Output)));
    }

    private JudgeJobOptions Options(string output, int parallel = 6) => new()
    {
        ModelPath = JudgeModel.Value,
        AnswersA = P("a.parquet"),
        AnswersB = P("b.parquet"),
        OutputPath = output,
        NameA = "m1",
        NameB = "m0",
        Engine = new EngineOptions { ParallelSequences = parallel, BatchSize = 256, SequenceContext = 1024, Threads = 1 },
        PartRows = 6,
    };

    [Fact]
    public async Task TheJobScoresBothOrdersOfEveryPairAndCountsWhatItSkips()
    {
        await WriteTwoModelsAsync();
        JudgeResult result = await JudgeJob.RunAsync(Options(P("v.parquet")));
        var rows = await JobTests.ReadOutputAsync(P("v.parquet"));

        // 11 ids (q0 only in a, q10 only in b), two rows each, in the join's order.
        Assert.Equal(22, rows.Count);
        Assert.Equal(Enumerable.Range(0, 22).Select(i => (long)i), rows.Select(r => (long)r["row_index"]!));
        Assert.Equal(["row_index", "id", "order", "instruction", "response_a", "response_b", "skipped", "prompt_tokens", "p_first", "p_letters_mass", "error"],
                     rows[0].Keys.ToArray());
        foreach (var g in rows.GroupBy(r => (string)r["id"]!))
            Assert.Equal(["ab", "ba"], g.Select(r => (string)r["order"]!).ToArray());

        // The answers swap places between the two orders.
        var q2 = rows.Where(r => (string)r["id"]! == "q2").ToList();
        Assert.Equal(Q(2).Output, q2[0]["response_a"]);
        Assert.Equal(Q(7).Output, q2[0]["response_b"]);
        Assert.Equal(Q(7).Output, q2[1]["response_a"]);
        Assert.Equal(Q(2).Output, q2[1]["response_b"]);

        var scored = rows.Where(r => r["skipped"] == null).ToList();
        Assert.Equal(16, scored.Count);
        foreach (var r in scored)
        {
            Assert.Null(r["error"]);
            Assert.InRange((double)r["p_first"]!, 0.0, 1.0);
            Assert.InRange((double)r["p_letters_mass"]!, 1e-12, 1.0);
        }
        // Different prompts, different scores: the orders really show the answers swapped to the judge.
        Assert.Contains(scored.GroupBy(r => (string)r["id"]!), g => Math.Abs((double)g.First()["p_first"]! - (double)g.Last()["p_first"]!) > 1e-4);
        Assert.Equal("only in a", rows.First(r => (string)r["id"]! == "q0")["skipped"]);
        Assert.Equal("only in b", rows.First(r => (string)r["id"]! == "q10")["skipped"]);
        Assert.Equal("no answer from a", rows.First(r => (string)r["id"]! == "q4")["skipped"]);

        JudgeSummary s = result.Summary;
        Assert.Equal(11, s.Ids);
        Assert.Equal(8, s.Judged);
        Assert.Equal((1, 1, 1, 3), (s.OnlyInA, s.OnlyInB, s.MissingAnswer, s.Skipped));
        Assert.Equal(s.Judged, s.WinsA + s.WinsB + s.Ties);
        Assert.InRange(s.WinRateA!.Value, 0.0, 1.0);
        Assert.Equal(("m1", "m0"), (s.NameA, s.NameB));
        // Each verdict's p_a is the mean of a's preference over the two orders, read from the rows.
        foreach (JudgedPair v in s.Verdicts.Where(v => v.Verdict != JudgeVerdict.Skipped))
        {
            var pair = scored.Where(r => (string)r["id"]! == v.Id).ToList();
            double expected = ((double)pair[0]["p_first"]! + 1 - (double)pair[1]["p_first"]!) / 2;
            Assert.Equal(expected, v.PA!.Value, 12);
            Assert.InRange(v.PA!.Value, 0.0, 1.0);
        }

        Assert.Equal(22, result.Statistics.Rows);
        Assert.Equal(6, result.Statistics.Errors); // the three skipped ids' rows: counted, never decoded
        Assert.True(File.Exists(P("v.stats.json")));
        Assert.Contains("\"wins_a\"", File.ReadAllText(P("v.summary.json")), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_dir, "judge-pairs-*")); // a whole run removes its pairs table
        Assert.Equal(s.ToJson(), (await JudgeVerdicts.SummarizeFileAsync(P("v.parquet"))).ToJson());
    }

    [Fact]
    public async Task AKilledRunResumesToTheSameOutput()
    {
        await WriteTwoModelsAsync(20);
        await JudgeJob.RunAsync(Options(P("once.parquet")));

        using var cts = new CancellationTokenSource();
        var progress = new JobTests.SyncProgress(p => { if (p.Done >= 14) cts.Cancel(); });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => JudgeJob.RunAsync(Options(P("resumed.parquet")), progress, cts.Token));
        Assert.False(File.Exists(P("resumed.parquet")));
        int parts = Directory.GetFiles(P("resumed.parquet.parts"), "part-*.parquet").Length;
        Assert.InRange(parts, 1, 6);

        JudgeResult resumed = await JudgeJob.RunAsync(Options(P("resumed.parquet"), parallel: 3));
        Assert.Equal(parts * 6, resumed.Statistics.ThisRun!.ResumedRows);
        JobTests.AssertSameRows(await JobTests.ReadOutputAsync(P("once.parquet")), await JobTests.ReadOutputAsync(P("resumed.parquet")), 1e-5);

        // Finished: refused unless asked to overwrite, and the refusal leaves no pairs table behind.
        var again = await Assert.ThrowsAsync<IOException>(() => JudgeJob.RunAsync(Options(P("resumed.parquet"))));
        Assert.Contains("--overwrite", again.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_dir, "judge-pairs-*"));
    }

    [Theory]
    [InlineData(ShardBy.IdHash)]
    [InlineData(ShardBy.RowIndex)]
    public async Task ShardsMergedEqualOneRun(ShardBy by)
    {
        await WriteTwoModelsAsync(12);
        JudgeResult whole = await JudgeJob.RunAsync(Options(P("whole.parquet")));
        string[] shards = [P("s0.parquet"), P("s1.parquet")];
        var parts = new List<JudgeResult>();
        for (int i = 0; i < 2; i++)
            parts.Add(await JudgeJob.RunAsync(Options(shards[i], parallel: 2 + 3 * i) with { Shard = new ShardSpec(i, 2, by) }));
        Assert.Single(Directory.GetFiles(_dir, "judge-pairs-*")); // shared by the shards, kept for them
        if (by == ShardBy.IdHash) Assert.All(parts, p => Assert.Equal(0, p.Summary.Incomplete)); // both orders in one shard
        else Assert.All(parts, p => Assert.True(p.Summary.Incomplete > 0));

        MergeReport merged = await OutputMerger.MergeAsync(shards, P("merged.parquet"));
        Assert.True(merged.Complete, merged.Coverage);
        JobTests.AssertSameRows(await JobTests.ReadOutputAsync(P("whole.parquet")), await JobTests.ReadOutputAsync(P("merged.parquet")), 1e-5);
        Assert.NotNull(merged.Judge);
        Assert.Equal((whole.Summary.WinsA, whole.Summary.WinsB, whole.Summary.Ties, whole.Summary.Skipped),
                     (merged.Judge!.WinsA, merged.Judge.WinsB, merged.Judge.Ties, merged.Judge.Skipped));
        Assert.Equal(whole.Summary.MeanPreferenceA!.Value, merged.Judge.MeanPreferenceA!.Value, 5);
        Assert.Equal("m1", merged.Judge.NameA);
        Assert.True(File.Exists(P("merged.summary.json")));
    }

    [Fact]
    public async Task PromptsLongerThanTheContextAreCountedNotCrashes()
    {
        string longText = string.Concat(Enumerable.Repeat("lorem ipsum dolor sit amet ", 200));
        await WriteAnswersAsync(P("a.parquet"), Enumerable.Range(0, 4).Select(i => new AnswerRow($"q{i}", "Why?", i == 2 ? longText : "Because.")));
        await WriteAnswersAsync(P("b.parquet"), Enumerable.Range(0, 4).Select(i => new AnswerRow($"q{i}", "Why?", "No idea.")));
        JudgeResult r = await JudgeJob.RunAsync(Options(P("v.parquet")) with { Engine = new EngineOptions { ParallelSequences = 4, SequenceContext = 512, Threads = 1 } });
        Assert.Equal(3, r.Summary.Judged);
        Assert.Equal(1, r.Summary.Errors);
        Assert.Contains("per-sequence context", r.Summary.Verdicts.Single(v => v.Id == "q2").Skipped, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadInputsNameTheFileAndColumn()
    {
        await WriteTwoModelsAsync(3);
        var missing = await Assert.ThrowsAsync<FileNotFoundException>(() => JudgeJob.RunAsync(Options(P("v.parquet")) with { AnswersB = P("nope.parquet") }));
        Assert.Contains("nope.parquet", missing.Message, StringComparison.Ordinal);
        Assert.Contains("'m0'", missing.Message, StringComparison.Ordinal);

        await WriteAnswersAsync(P("nogen.parquet"), [new AnswerRow("q1", "Why?", null)], withGeneration: false);
        var column = await Assert.ThrowsAsync<InvalidDataException>(() => JudgeJob.RunAsync(Options(P("v.parquet")) with { AnswersB = P("nogen.parquet") }));
        Assert.Contains("nogen.parquet", column.Message, StringComparison.Ordinal);
        Assert.Contains("'generation'", column.Message, StringComparison.Ordinal);

        await WriteAnswersAsync(P("dup.parquet"), [new AnswerRow("q1", "Why?", "x"), new AnswerRow("q1", "Why?", "y")]);
        var dup = await Assert.ThrowsAsync<InvalidDataException>(() => JudgeJob.RunAsync(Options(P("v.parquet")) with { AnswersA = P("dup.parquet") }));
        Assert.Contains("'q1' appears twice", dup.Message, StringComparison.Ordinal);

        var names = await Assert.ThrowsAsync<ArgumentException>(() => JudgeJob.RunAsync(Options(P("v.parquet")) with { NameB = "m1" }));
        Assert.Contains("different names", names.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(P("v.parquet")));
    }

    [Fact]
    public async Task AJudgeWithoutSingleLetterTokensIsRefusedByName()
    {
        // Merges learned on text without " A" / " B": the letters are two tokens each (space, letter).
        string plain = WriteModel("no-letters", "the quick brown fox jumps over the lazy dog. what is the capital of france? paris is.");
        await WriteTwoModelsAsync(2);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => JudgeJob.RunAsync(Options(P("v.parquet")) with { ModelPath = plain }));
        Assert.Contains("' A'", e.Message, StringComparison.Ordinal);
        Assert.Contains("not a single token", e.Message, StringComparison.Ordinal);
        Assert.Contains(plain, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheJudgePromptEndsWithTheLeadInAndSharesTheRubric()
    {
        string rendered = PromptRenderer.Wrap(PromptTemplates.Judge(), Humpback.Inference.ChatFormat.Llama3)
            .Replace("{instruction}", "Q?", StringComparison.Ordinal).Replace("{response_a}", "x", StringComparison.Ordinal).Replace("{response_b}", "y", StringComparison.Ordinal);
        string expected = Humpback.Prompts.ChatFormat.Prompt(ChatFormatKind.Llama3, null, HumpbackPrompts.JudgeInstruction("Q?", "x", "y")) + "The better response is:";
        Assert.Equal(expected, rendered);
        Assert.Equal(["instruction", "response_a", "response_b"], PromptTemplates.Judge().Placeholders);
        Assert.Equal(PromptTemplates.Judge().User, PromptTemplate.Resolve("judge").User);
    }
}
