using Humpback.Data;
using Parquet;
using Parquet.Schema;
using Xunit;

namespace Humpback.Tests.Data;

public class SelectorTests
{
    private static readonly ScoredFixtures.ScoredRow[] Rows = ScoredFixtures.Rows;

    private static readonly PairRecord[] Seeds =
    [
        new("oasst1/T1", "Seed question one?", "Seed answer one.", "oasst1"),
        new("oasst1/T2", "Seed question two?", "Seed answer two.", "oasst1"),
        new("oasst1/T3", "Seed question three?", "Seed answer three.", "oasst1"),
    ];

    private static async Task<(string Scored, string Seed)> Fixture(TempDir dir)
    {
        string scored = dir.File("scored.parquet");
        await ScoredFixtures.WriteScoredAsync(scored, Rows);
        string seed = dir.File("seed.parquet");
        await PairsFile.WriteAsync(seed, Seeds);
        return (scored, seed);
    }

    private static string[] AugmentedIds(List<TrainingExample> rows) =>
        rows.Where(r => r.Source == "augmented").Select(r => r.Id).ToArray();

    [Fact]
    public async Task ExpectedScoreThresholdScoreOrderAndTags()
    {
        using var dir = new TempDir();
        var (scored, seed) = await Fixture(dir);
        var (rows, stats) = await Selector.SelectAsync(scored, seed, new SelectOptions());

        Assert.Equal(["s9", "s0", "s5", "s6", "s1"], AugmentedIds(rows));
        Assert.Equal(Seeds.Select(s => s.Id), rows.Take(3).Select(r => r.Id));
        Assert.All(rows.Take(3), r => Assert.Equal(("seed", "Answer in the style of an AI Assistant."), (r.Source, r.System)));
        Assert.All(rows.Skip(3), r => Assert.Equal(("augmented", "Answer with knowledge from web search."), (r.Source, r.System)));
        TrainingExample s9 = rows.Single(r => r.Id == "s9");
        Assert.Equal(("Question nine?", "Text of s9."), (s9.Instruction, s9.Output));
        Assert.Equal("Explain X.", rows.Single(r => r.Id == "s0").Instruction); // the first s0, not its duplicate

        Assert.Equal(10, stats["scored_rows"]);
        Assert.Equal(1, stats["unscored"]);
        Assert.Equal(1, stats["blank_instruction"]);
        Assert.Equal(2, stats["below_threshold"]);
        Assert.Equal(1, stats["duplicate_id"]);
        Assert.Equal(5, stats["passed_threshold"]);
        Assert.Equal(0, stats["over_cap"]);
        Assert.Equal(3, stats["seed_written"]);
        Assert.Equal(5, stats["augmented_written"]);
    }

    [Fact]
    public async Task ArgmaxThresholdAndCapCountingTheSeedRows()
    {
        using var dir = new TempDir();
        var (scored, seed) = await Fixture(dir);
        var (rows, _) = await Selector.SelectAsync(scored, seed, new SelectOptions { Field = ScoreField.Argmax });
        Assert.Equal(["s9", "s0", "s5", "s1"], AugmentedIds(rows));

        var (capped, stats) = await Selector.SelectAsync(scored, seed, new SelectOptions { Cap = 5 });
        Assert.Equal(5, capped.Count);
        Assert.Equal(["s9", "s0"], AugmentedIds(capped));
        Assert.Equal(3, stats["over_cap"]);

        await Assert.ThrowsAsync<ArgumentException>(() => Selector.SelectAsync(scored, seed, new SelectOptions { Cap = 2 }));
        var (noSeed, _) = await Selector.SelectAsync(scored, null, new SelectOptions { Cap = 2 });
        Assert.Equal(["s9", "s0"], AugmentedIds(noSeed));
    }

    [Fact]
    public async Task FileAndRandomOrders()
    {
        using var dir = new TempDir();
        var (scored, seed) = await Fixture(dir);
        var (file, _) = await Selector.SelectAsync(scored, seed, new SelectOptions { Order = SelectOrder.File });
        Assert.Equal(["s0", "s1", "s5", "s6", "s9"], AugmentedIds(file));

        async Task<string[]> Random(long s, int cap = 0) =>
            AugmentedIds((await Selector.SelectAsync(scored, seed, new SelectOptions { Order = SelectOrder.Random, Seed = s, Cap = cap })).Rows);
        string[] r1 = await Random(1);
        Assert.Equal(r1, await Random(1));
        Assert.Equal(["s0", "s1", "s5", "s6", "s9"], r1.Order(StringComparer.Ordinal));
        string[][] others = [await Random(2), await Random(3), await Random(4)];
        Assert.Contains(others, o => !o.SequenceEqual(r1));
        // The cap keeps a prefix of the same shuffle.
        Assert.Equal(r1.Take(2), await Random(1, cap: 5));
    }

    [Fact]
    public async Task ShuffleMixesSeedAndAugmentedDeterministically()
    {
        using var dir = new TempDir();
        var (scored, seed) = await Fixture(dir);
        var (a, _) = await Selector.SelectAsync(scored, seed, new SelectOptions { Mix = SeedMix.Shuffle, Seed = 3 });
        var (b, _) = await Selector.SelectAsync(scored, seed, new SelectOptions { Mix = SeedMix.Shuffle, Seed = 3 });
        Assert.Equal(a, b);
        Assert.Equal(8, a.Count);
        Assert.NotEqual(["seed", "seed", "seed"], a.Take(3).Select(r => r.Source).ToArray());
    }

    [Fact]
    public async Task ScoresAreComputedFromProbabilitiesWhenTheColumnIsMissing()
    {
        using var dir = new TempDir();
        string scored = dir.File("p-only.parquet");
        await ScoredFixtures.WriteScoredAsync(scored, Rows, withScores: false);
        var (rows, stats) = await Selector.SelectAsync(scored, null, new SelectOptions());
        // p_k = max(0, 1 - |k - e|) has expectation e. s5 and s6 now tie on both scores (argmax 5 from the
        // p's), so the seeded hash of the id decides.
        bool s5First = StableHash.Keyed("s5", 1) < StableHash.Keyed("s6", 1);
        Assert.Equal(["s9", "s0", s5First ? "s5" : "s6", s5First ? "s6" : "s5", "s1"], AugmentedIds(rows));
        Assert.Equal(1, stats["unscored"]);

        string bare = dir.File("bare.parquet");
        await ScoredFixtures.WriteScoredAsync(bare, Rows, withScores: false, withP: false);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Selector.SelectAsync(bare, null, new SelectOptions()));
        Assert.Equal("bare.parquet: column 'score_expected' missing, and no p1..p5 columns to compute it from", e.Message);
    }

    [Fact]
    public async Task RunWritesTheTrainingSetSchemaAndStats()
    {
        using var dir = new TempDir();
        var (scored, seed) = await Fixture(dir);
        string output = dir.File("train-m1.parquet");
        DataStats stats = await Selector.RunAsync(scored, seed, output, new SelectOptions());
        Assert.Equal(8, stats["rows_written"]);
        await using (var table = await ParquetTableReader.OpenAsync(output))
        {
            Assert.Equal(["id", "system", "instruction", "output", "source"], table.Schema.Fields.Select(f => f.Name));
            Assert.Equal("training-set/1", table.CustomMetadata["humpback.schema"]);
        }
        List<TrainingExample> back = await TrainingSetFile.ReadAllAsync(output);
        Assert.Equal((await Selector.SelectAsync(scored, seed, new SelectOptions())).Rows, back);
        Assert.True(File.Exists(dir.File("train-m1.stats.json")));
    }
}

public static class ScoredFixtures
{
    public sealed record ScoredRow(string Id, string Instruction, double? Expected, int? Argmax)
    {
        public string Text => $"Text of {Id}.";

        /// <summary>Probabilities consistent with the scores (all mass on argmax, shifted to match the expectation roughly).</summary>
        public double?[] P => Expected is double e
            ? Enumerable.Range(1, 5).Select(k => (double?)Math.Max(0, 1 - Math.Abs(k - e))).ToArray()
            : [null, null, null, null, null];
    }

    public static readonly ScoredRow[] Rows =
    [
        new("s0", "Explain X.", 4.9, 5),
        new("s1", "Explain Y.", 4.5, 5),
        new("s2", "Explain Z.", 4.49, 4),
        new("s3", "Unparsed.", null, null),
        new("s4", "  ", 4.8, 5),
        new("s5", "Question five?", 4.7, 5),
        new("s6", "Question six?", 4.7, 4),
        new("s0", "Duplicate of s0.", 4.95, 5),
        new("s8", "Question eight?", 3.0, 3),
        new("s9", "Question nine?", 5.0, 5),
    ];

    /// <summary>A scored candidates file as the curate step writes it: the candidates columns plus instruction and
    /// scores (<paramref name="withScores"/> false: only p1..p5).</summary>
    public static async Task WriteScoredAsync(string path, IReadOnlyList<ScoredRow> rows, bool withScores = true, bool withP = true)
    {
        var fields = new List<DataField>
        {
            new DataField<string>("segment_id"), new DataField<string>("text"), new DataField<string>("url"),
            new DataField<string>("source_id"), new DataField<int>("char_len"), new DataField<string>("instruction"),
        };
        if (withScores) fields.AddRange([new DataField<double?>("score_expected"), new DataField<int?>("score_argmax")]);
        if (withP) fields.AddRange(Enumerable.Range(1, 5).Select(k => new DataField<double?>($"p{k}")));
        await using var fs = File.Create(path);
        await using var w = await ParquetWriter.CreateAsync(new ParquetSchema(fields.ToArray()), fs);
        foreach (ScoredRow[] chunk in rows.Chunk(4))
        {
            using var rg = w.CreateRowGroup();
            foreach (DataField f in fields)
            {
                switch (f.Name)
                {
                    case "segment_id": await rg.WriteAsync(f, chunk.Select(r => r.Id).ToArray()); break;
                    case "text": await rg.WriteAsync(f, chunk.Select(r => r.Text).ToArray()); break;
                    case "url": await rg.WriteAsync(f, chunk.Select(r => "https://example.com/" + r.Id).ToArray()); break;
                    case "source_id": await rg.WriteAsync(f, chunk.Select(r => "c4.json.gz:" + r.Id).ToArray()); break;
                    case "char_len": await rg.WriteAsync<int>(f, chunk.Select(r => r.Text.Length).ToArray().AsMemory()); break;
                    case "instruction": await rg.WriteAsync(f, chunk.Select(r => r.Instruction).ToArray()); break;
                    case "score_expected": await rg.WriteAsync<double>(f, chunk.Select(r => r.Expected).ToArray().AsMemory()); break;
                    case "score_argmax": await rg.WriteAsync<int>(f, chunk.Select(r => r.Argmax).ToArray().AsMemory()); break;
                    default:
                        int k = f.Name[1] - '1';
                        await rg.WriteAsync<double>(f, chunk.Select(r => r.P[k]).ToArray().AsMemory());
                        break;
                }
            }
        }
    }
}

public class ScoredCandidatesFileTests
{
    [Fact]
    public async Task TheTypedWriterRoundTripsAndFeedsSelection()
    {
        using var dir = new TempDir();
        string path = dir.File("scored.parquet");
        ScoredCandidate[] rows =
        [
            new("c4.json.gz:1/0", "Segment one.", "https://a.example/", "c4.json.gz:1", "What is one?", 4.8, 5, 0, 0, 0.05, 0.1, 0.85),
            new("c4.json.gz:2/0", "Segment two.", null, "c4.json.gz:2", "What is two?", null, null),
            new("c4.json.gz:3/0", "Segment three.", "https://c.example/", "c4.json.gz:3", "What is three?", 3.2, 3, 0.1, 0.1, 0.4, 0.3, 0.1),
        ];
        await ScoredCandidatesFile.WriteAsync(path, rows);
        Assert.Equal(rows, await ScoredCandidatesFile.ReadAllAsync(path));

        var (selected, stats) = await Selector.SelectAsync(path, null, new SelectOptions());
        Assert.Equal(["c4.json.gz:1/0"], selected.Select(r => r.Id));
        Assert.Equal(("What is one?", "Segment one."), (selected[0].Instruction, selected[0].Output));
        Assert.Equal(1, stats["unscored"]);
        Assert.Equal(1, stats["below_threshold"]);
    }
}
