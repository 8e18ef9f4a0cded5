using System.Text;
using Humpback.Data;
using Xunit;

namespace Humpback.Tests.Data;

public class OasstSeedTests
{
    private static readonly (string Id, string Instruction, string Output, string Reply)[] Expected =
    [
        ("oasst1/T1", "What is the capital of France?", "The capital of France is Paris.", "a1"),
        ("oasst1/T10", "Write a haiku about rain.", "Rain on the tin roof.", "a10a"),
        ("oasst1/T7", "How do I boil an egg?", "Put it in boiling water for nine minutes.", "a7"),
    ];

    private static void AssertExpectedPairs(List<PairRecord> pairs)
    {
        var got = pairs.OrderBy(p => p.Id, StringComparer.Ordinal).Select(p => (p.Id, p.Instruction, p.Output, p.ReplyMessageId)).ToArray();
        Assert.Equal(Expected.Select(e => (e.Id, e.Instruction, e.Output, (string?)e.Reply)).ToArray(), got);
        Assert.All(pairs, p => Assert.Equal("oasst1", p.Source));
        Assert.All(pairs, p => Assert.Equal("en", p.Lang));
        Assert.Equal("p1", pairs.Single(p => p.Id == "oasst1/T1").PromptMessageId);
    }

    [Fact]
    public async Task ParquetGivesExactlyTheFirstTurnRank0EnglishPairs()
    {
        using var dir = new TempDir();
        string path = dir.File("train-00000-of-00001.parquet");
        // Shuffled so replies come before their roots and trees span row groups.
        var rows = OasstFixtures.Trees();
        rows.Reverse();
        await OasstFixtures.WriteParquetAsync(path, rows);

        var (pairs, stats) = await OasstSeed.BuildAsync([path], new OasstSeedOptions());

        AssertExpectedPairs(pairs);
        Assert.Equal(25, stats["messages_read"]);
        Assert.Equal(10, stats["roots"]);
        Assert.Equal(1, stats["roots_wrong_lang"]);
        Assert.Equal(1, stats["roots_deleted"]);
        Assert.Equal(1, stats["roots_review_rejected"]);
        Assert.Equal(7, stats["eligible_roots"]);
        Assert.Equal(10, stats["replies_to_eligible_roots"]);
        Assert.Equal(2, stats["replies_rank_above_0"]);
        Assert.Equal(1, stats["replies_deleted"]);
        Assert.Equal(1, stats["replies_review_rejected"]);
        Assert.Equal(1, stats["replies_unranked"]);
        Assert.Equal(1, stats["replies_wrong_lang"]);
        Assert.Equal(1, stats["extra_rank0_replies"]);
        Assert.Equal(4, stats["roots_without_eligible_reply"]);
        Assert.Equal(3, stats["eligible_pairs"]);
        Assert.Equal(0, stats["not_sampled"]);
    }

    [Fact]
    public async Task TreesJsonlGzAndMessagesJsonlGiveTheSamePairs()
    {
        using var dir = new TempDir();
        string trees = dir.File("2023-04-12_oasst_ready.trees.jsonl.gz");
        OasstFixtures.WriteGzip(trees, Encoding.UTF8.GetBytes(OasstFixtures.TreeLines(OasstFixtures.Trees())));
        string messages = dir.File("2023-04-12_oasst_ready.messages.jsonl");
        File.WriteAllLines(messages, OasstFixtures.Trees().Select(r =>
        {
            var d = OasstFixtures.MessageJson(r);
            d["message_tree_id"] = r.TreeId;
            return System.Text.Json.JsonSerializer.Serialize(d);
        }));

        var (fromTrees, treeStats) = await OasstSeed.BuildAsync([trees], new OasstSeedOptions());
        var (fromMessages, _) = await OasstSeed.BuildAsync([messages], new OasstSeedOptions());

        AssertExpectedPairs(fromTrees);
        AssertExpectedPairs(fromMessages);
        Assert.Equal(25, treeStats["messages_read"]);
        Assert.Equal(0, treeStats["gzip_trailer_mismatch"]);
    }

    [Fact]
    public async Task BadJsonLinesAreCountedAndSkippedNeverFatal()
    {
        using var dir = new TempDir();
        string path = dir.File("trees.jsonl");
        byte[] bytes =
        [
            .. Encoding.UTF8.GetBytes(OasstFixtures.TreeLines(OasstFixtures.Trees())),                        // lines 1-10
            .. "{\"message_tree_id\": \"X1\", \"prompt\": {\"message_id\": \n"u8,                          // 11: malformed
            .. "{\"message_tree_id\": \"X2\", \"prompt\": {\"text\": \"caf"u8, 0xE9, .. "\"}}\n"u8,         // 12: Latin-1 byte
            .. "\n   \n"u8,                                                                                  // 13-14: blank, ignored
            .. "{\"message_tree_id\": \"X3\", \"prompt\": {\"message_id\": \"x3\", \"role\": \"prompter\", \"lang\": \"en\"}}\n"u8, // 15: no text
            .. "[1, 2, 3]"u8,                                                                                 // 16: not an object, no newline
        ];
        File.WriteAllBytes(path, bytes);

        var (pairs, stats) = await OasstSeed.BuildAsync([path], new OasstSeedOptions());

        AssertExpectedPairs(pairs);
        Assert.Equal(25, stats["messages_read"]);
        Assert.Equal(2, stats[OasstReader.SkippedMalformedJson]);
        Assert.Equal(1, stats[OasstReader.SkippedInvalidUtf8]);
        Assert.Equal(1, stats[OasstReader.SkippedMissingField]);
        Assert.Equal(
            ["trees.jsonl:line 11: skipped_malformed_json", "trees.jsonl:line 12: skipped_invalid_utf8",
             "trees.jsonl:line 15, field 'text': skipped_missing_field", "trees.jsonl:line 16: skipped_malformed_json"],
            stats.Examples);
    }

    [Theory]
    [InlineData("rank", "oasst.parquet: column 'rank' missing")]
    [InlineData("message_tree_id", "oasst.parquet: column 'message_tree_id' missing")]
    [InlineData("deleted", "oasst.parquet: column 'deleted' missing")]
    public async Task AMissingParquetColumnIsAnErrorNamingFileAndColumn(string column, string message)
    {
        using var dir = new TempDir();
        string path = dir.File("oasst.parquet");
        await OasstFixtures.WriteParquetAsync(path, OasstFixtures.Trees(), skip: column);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => OasstSeed.BuildAsync([path], new OasstSeedOptions()));
        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AColumnOfTheWrongTypeIsAnError()
    {
        using var dir = new TempDir();
        string path = dir.File("oasst.parquet");
        await OasstFixtures.WriteParquetAsync(path, OasstFixtures.Trees(), rankAsString: true);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => OasstSeed.BuildAsync([path], new OasstSeedOptions()));
        Assert.Equal("oasst.parquet: column 'rank' has type ReadOnlyMemory`1, expected an integer", e.Message);
    }

    [Fact]
    public async Task EmptyOrNonParquetFilesAreClearErrorsAndEmptyJsonlIsZeroRows()
    {
        using var dir = new TempDir();
        string empty = dir.File("empty.parquet");
        File.WriteAllBytes(empty, []);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => OasstSeed.BuildAsync([empty], new OasstSeedOptions()));
        Assert.Equal("empty.parquet: not a Parquet file (the file is empty)", e.Message);

        string json = dir.File("json.parquet");
        File.WriteAllText(json, "{\"a\": 1}\n");
        e = await Assert.ThrowsAsync<InvalidDataException>(() => OasstSeed.BuildAsync([json], new OasstSeedOptions()));
        Assert.Equal("json.parquet: not a Parquet file (no PAR1 magic)", e.Message);

        string truncated = dir.File("truncated.parquet");
        await OasstFixtures.WriteParquetAsync(truncated, OasstFixtures.Trees());
        byte[] all = File.ReadAllBytes(truncated);
        File.WriteAllBytes(truncated, all[..(all.Length / 2)]);
        e = await Assert.ThrowsAsync<InvalidDataException>(() => OasstSeed.BuildAsync([truncated], new OasstSeedOptions()));
        Assert.StartsWith("truncated.parquet: not a readable Parquet file", e.Message, StringComparison.Ordinal);

        string emptyJsonl = dir.File("empty.jsonl");
        File.WriteAllBytes(emptyJsonl, []);
        var (pairs, stats) = await OasstSeed.BuildAsync([emptyJsonl], new OasstSeedOptions());
        Assert.Empty(pairs);
        Assert.Equal(0, stats["messages_read"]);
    }

    [Fact]
    public async Task AMessageInTwoInputsIsReadOnce()
    {
        using var dir = new TempDir();
        string parquet = dir.File("train.parquet");
        await OasstFixtures.WriteParquetAsync(parquet, OasstFixtures.Trees());
        string trees = dir.File("trees.jsonl");
        File.WriteAllText(trees, OasstFixtures.TreeLines(OasstFixtures.Trees()));
        var (pairs, stats) = await OasstSeed.BuildAsync([parquet, trees], new OasstSeedOptions());
        AssertExpectedPairs(pairs);
        Assert.Equal(25, stats["skipped_duplicate_message"]);
    }

    private static List<OasstRow> ManyTrees(int n) =>
        Enumerable.Range(0, n).SelectMany(i => new OasstRow[]
        {
            new($"p{i}", null, $"tree-{i:D3}", "prompter", "en", $"Question {i}?"),
            new($"a{i}", $"p{i}", $"tree-{i:D3}", "assistant", "en", $"Answer {i}.", Rank: 0),
        }).ToList();

    [Fact]
    public async Task SamplingIsDeterministicForASeedAndIndependentOfInputOrder()
    {
        using var dir = new TempDir();
        string a = dir.File("a.parquet");
        string b = dir.File("b.parquet");
        var rows = ManyTrees(60);
        await OasstFixtures.WriteParquetAsync(a, rows, rowGroupSize: 16);
        rows.Reverse();
        await OasstFixtures.WriteParquetAsync(b, rows, rowGroupSize: 9);

        async Task<string[]> Ids(string path, long seed) =>
            (await OasstSeed.BuildAsync([path], new OasstSeedOptions { Count = 10, Seed = seed })).Pairs.Select(p => p.Id).ToArray();

        string[] first = await Ids(a, 7);
        Assert.Equal(10, first.Length);
        Assert.Equal(10, first.Distinct().Count());
        Assert.Equal(first, await Ids(a, 7));
        Assert.Equal(first, await Ids(b, 7));
        Assert.NotEqual(first.Order(), (await Ids(a, 8)).Order());

        var (all, stats) = await OasstSeed.BuildAsync([a], new OasstSeedOptions { Count = 10, Seed = 7 });
        Assert.Equal(60, stats["eligible_pairs"]);
        Assert.Equal(50, stats["not_sampled"]);
    }

    [Fact]
    public async Task SeedRunWritesPairsAndStatsAndBackwardReversesThem()
    {
        using var dir = new TempDir();
        string input = dir.File("train.parquet");
        await OasstFixtures.WriteParquetAsync(input, OasstFixtures.Trees());
        string seed = dir.File("seed.parquet");
        DataStats stats = await OasstSeed.RunAsync([input], seed, new OasstSeedOptions());
        Assert.Equal(3, stats["pairs_written"]);
        Assert.True(File.Exists(dir.File("seed.stats.json")));
        Assert.Contains("\"pairs_written\": 3", File.ReadAllText(dir.File("seed.stats.json")), StringComparison.Ordinal);

        List<PairRecord> written = await PairsFile.ReadAllAsync(seed);
        AssertExpectedPairs(written);

        string backward = dir.File("backward.parquet");
        await OasstSeed.WriteBackwardAsync(seed, backward);
        List<PairRecord> reversed = await PairsFile.ReadAllAsync(backward);
        Assert.Equal(written.Select(p => (p.Id, p.Output, p.Instruction)), reversed.Select(p => (p.Id, p.Instruction, p.Output)));
        Assert.Equal(written.Select(p => p.ReplyMessageId), reversed.Select(p => p.ReplyMessageId));
    }
}
