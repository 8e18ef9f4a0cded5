using System.Text;
using System.Text.Json;
using Humpback.Data;
using Parquet;
using Parquet.Schema;
using Xunit;

namespace Humpback.Tests.Data;

public class SegmentPipelineTests
{
    private const string Shard = "c4-train.00000-of-01024.json.gz";

    private static string Line(string text, string url) =>
        JsonSerializer.Serialize(new { text, timestamp = "2019-04-25T12:57:54Z", url });

    /// <summary>The documents of the main fixture, one per line, in this order.</summary>
    private sealed class Docs
    {
        public readonly string[] A = [Prose.Paragraph(101, 400), Prose.Paragraph(102, 400), Prose.Paragraph(103, 400)];
        public readonly string B = Prose.Paragraph(104, 300);
        public readonly string[] C = [Prose.Paragraph(105, 2000), Prose.Paragraph(106, 1500)];
        public readonly string D = Prose.Paragraph(107, 6700);
        public readonly string E = "Home | About Us | Contact\n" + Prose.Paragraph(108, 800);
        public readonly string F = Prose.Paragraph(109, 800).ToUpperInvariant();
        public readonly string G;
        public readonly string H = Prose.Paragraph(111, 800) + "\nClick here to subscribe to our newsletter.";
        public readonly string I = Prose.Paragraph(112, 700) + "\nItem one\nItem two\nItem three\nItem four\nItem five";
        public readonly string J;
        public readonly string K;

        public Docs()
        {
            string g = Prose.Paragraph(110, 700);
            G = g + " " + g[..(g.IndexOf('.', StringComparison.Ordinal) + 1)];
            // J: A again with other punctuation and spacing: the same words, an exact duplicate.
            J = string.Join("\n\n", A.Select(p => p.Replace(".", " !", StringComparison.Ordinal)));
            // K: C's first paragraph with two words changed: a near duplicate of segment C/0.
            string[] words = C[0].Split(' ');
            words[30] = "zebra";
            words[150] = "quokka";
            K = string.Join(' ', words);
        }

        public byte[] JsonLines()
        {
            var sb = new StringBuilder();
            sb.Append(Line(string.Join("\n", A), "https://a.example/1")).Append('\n');   // 1
            sb.Append(Line(B, "https://b.example/")).Append('\n');                      // 2 too short
            sb.Append(Line(string.Join("\n", C), "https://c.example/")).Append('\n');   // 3 two segments
            sb.Append(Line(D, "https://d.example/")).Append('\n');                      // 4 one long line
            sb.Append(Line(E, "https://e.example/")).Append('\n');                      // 5 navigation
            sb.Append(Line(F, "https://f.example/")).Append('\n');                      // 6 caps
            sb.Append(Line(G, "https://g.example/")).Append('\n');                      // 7 repeated sentence
            sb.Append(Line(H, "https://h.example/")).Append('\n');                      // 8 boilerplate
            sb.Append(Line(I, "https://i.example/")).Append('\n');                      // 9 short lines
            sb.Append(Line(J, "https://j.example/")).Append('\n');                      // 10 exact dup of A
            sb.Append(Line(K, "https://k.example/")).Append('\n');                      // 11 near dup of C/0
            sb.Append("{\"text\": \"unterminated\n");                                   // 12 malformed
            var bytes = new List<byte>(Encoding.UTF8.GetBytes(sb.ToString()));
            bytes.AddRange([.. "{\"text\": \"caf"u8, 0xE9, .. "\", \"url\": \"x\"}\n"u8]); // 13 not UTF-8
            bytes.AddRange("{\"url\": \"https://no-text.example/\"}\n"u8.ToArray());       // 14 no text
            bytes.AddRange("{\"text\": 42}\n"u8.ToArray());                                 // 15 text not a string
            bytes.AddRange("\n"u8.ToArray());                                               // 16 blank
            return bytes.ToArray();
        }
    }

    private static List<string> Pieces(string paragraph, int max)
    {
        var pieces = new List<string>();
        new Segmenter(600, max).Cut(paragraph, pieces);
        return pieces;
    }

    [Fact]
    public async Task JsonGzShardGivesExactlyTheExpectedSegmentsAndCounts()
    {
        using var dir = new TempDir();
        var docs = new Docs();
        string input = dir.File(Shard);
        OasstFixtures.WriteGzip(input, docs.JsonLines());
        string output = dir.File("candidates.parquet");

        DataStats stats = await SegmentPipeline.RunAsync([input], output, new SegmentOptions { Threads = 2 });

        List<Candidate> got = await CandidatesFile.ReadAllAsync(output);
        List<string> d = Pieces(docs.D, 3000);
        Assert.Equal(3, d.Count);
        Assert.Equal(docs.D, string.Join(' ', d));
        var expected = new List<Candidate>
        {
            new($"{Shard}:1/0", string.Join("\n", docs.A), "https://a.example/1", $"{Shard}:1"),
            new($"{Shard}:3/0", docs.C[0], "https://c.example/", $"{Shard}:3"),
            new($"{Shard}:3/1", docs.C[1], "https://c.example/", $"{Shard}:3"),
        };
        expected.AddRange(d.Select((p, k) => new Candidate($"{Shard}:4/{k}", p, "https://d.example/", $"{Shard}:4")));
        Assert.Equal(expected, got);
        Assert.All(got, c => Assert.InRange(c.CharLen, 600, 3000));

        Assert.Equal(16, stats["lines"]);
        Assert.Equal(11, stats["documents"]);
        Assert.Equal(1, stats["docs_too_short"]);
        Assert.Equal(0, stats["fragments_too_short"]);
        Assert.Equal(1 + 2 + 3 + 7, stats["segments_cut"]);
        Assert.Equal(1, stats["skipped_malformed_json"]);
        Assert.Equal(1, stats["skipped_invalid_utf8"]);
        Assert.Equal(2, stats["skipped_missing_text"]);
        Assert.Equal(1, stats[TextFilters.Navigation]);
        Assert.Equal(1, stats[TextFilters.Caps]);
        Assert.Equal(1, stats[TextFilters.RepeatedSentences]);
        Assert.Equal(1, stats[TextFilters.Boilerplate]);
        Assert.Equal(1, stats[TextFilters.ShortLines]);
        Assert.Equal(1, stats["dropped_exact_duplicate"]);
        Assert.Equal(1, stats["dropped_near_duplicate"]);
        Assert.Equal(6, stats["segments_written"]);
        Assert.Equal(0, stats["gzip_trailer_mismatch"]);
        Assert.Equal(docs.JsonLines().Length, stats["json_bytes"]);
        Assert.Equal(
            [$"{Shard}:line 12: skipped_malformed_json", $"{Shard}:line 13: skipped_invalid_utf8",
             $"{Shard}:line 14: skipped_missing_text", $"{Shard}:line 15: skipped_missing_text"],
            stats.Examples);
        string json = File.ReadAllText(dir.File("candidates.stats.json"));
        Assert.Contains("\"dropped_near_duplicate\": 1", json, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutDedupAndFiltersEverySegmentIsKept()
    {
        using var dir = new TempDir();
        var docs = new Docs();
        string input = dir.File("c4.jsonl");
        File.WriteAllBytes(input, docs.JsonLines());
        string output = dir.File("out.parquet");
        DataStats stats = await SegmentPipeline.RunAsync([input], output,
            new SegmentOptions { Dedup = false, NearDedup = false, QualityFilters = false, Threads = 1 });
        Assert.Equal(13, stats["segments_written"]);
        Assert.Equal(0, stats["dropped_exact_duplicate"] + stats["dropped_near_duplicate"]);
    }

    [Fact]
    public async Task MaxSegmentsStopsEarly()
    {
        using var dir = new TempDir();
        string input = dir.File("c4.jsonl");
        File.WriteAllBytes(input, new Docs().JsonLines());
        string output = dir.File("out.parquet");
        DataStats stats = await SegmentPipeline.RunAsync([input], output, new SegmentOptions { MaxSegments = 2 });
        Assert.Equal(2, (await CandidatesFile.ReadAllAsync(output)).Count);
        Assert.Contains(stats.Info, kv => kv.Key == "stopped");
    }

    [Fact]
    public async Task ParquetCopiesOfC4AreReadToo()
    {
        using var dir = new TempDir();
        var docs = new Docs();
        string input = dir.File("c4-train.00000-of-01024.parquet");
        var text = new DataField<string>("text");
        var timestamp = new DataField<string>("timestamp");
        var url = new DataField<string>("url");
        await using (var fs = File.Create(input))
        await using (var w = await ParquetWriter.CreateAsync(new ParquetSchema(text, timestamp, url), fs))
        {
            using var rg = w.CreateRowGroup();
            await rg.WriteAsync(text, new[] { string.Join("\n", docs.A), docs.B, string.Join("\n", docs.C) });
            await rg.WriteAsync(timestamp, new[] { "2019-04-25T12:57:54Z", "2019-04-25T12:57:54Z", "2019-04-25T12:57:54Z" });
            await rg.WriteAsync(url, new[] { "https://a.example/1", "https://b.example/", "https://c.example/" });
        }
        string output = dir.File("out.parquet");
        await SegmentPipeline.RunAsync([input], output, new SegmentOptions());
        var got = (await CandidatesFile.ReadAllAsync(output)).Select(c => (c.SegmentId, c.Text)).ToArray();
        string name = Path.GetFileName(input);
        Assert.Equal([($"{name}:0/0", string.Join("\n", docs.A)), ($"{name}:2/0", docs.C[0]), ($"{name}:2/1", docs.C[1])], got);
    }

    [Fact]
    public async Task OutputDoesNotDependOnThreadsOrBlockSize()
    {
        using var dir = new TempDir();
        string input = dir.File("synthetic.json.gz");
        SyntheticC4.WriteFile(input, 1_500_000, seed: 5);
        async Task<(List<Candidate>, DataStats)> Run(int threads, int block)
        {
            string output = dir.File($"out-{threads}-{block}.parquet");
            DataStats s = await SegmentPipeline.RunAsync([input], output, new SegmentOptions { Threads = threads, BlockBytes = block });
            return (await CandidatesFile.ReadAllAsync(output), s);
        }
        var (one, s1) = await Run(1, 1 << 20);
        var (many, s4) = await Run(4, 8 << 10);
        Assert.True(one.Count > 100, $"only {one.Count} segments");
        Assert.Equal(one, many);
        Assert.Equal(s1.Counters, s4.Counters);
        // The synthetic crawl has every kind of bad input: each filter and both dedups fire.
        foreach (string c in new[] { TextFilters.Caps, TextFilters.Navigation, TextFilters.Boilerplate, TextFilters.RepeatedSentences,
                                     "dropped_exact_duplicate", "dropped_near_duplicate", "docs_too_short" })
            Assert.True(s1[c] > 0, c);
    }

    [Fact]
    public async Task BadInputsAreClearErrorsAndLeaveNoOutput()
    {
        using var dir = new TempDir();
        string output = dir.File("out.parquet");
        await Assert.ThrowsAsync<FileNotFoundException>(() => Task.FromResult(InputFiles.Expand([dir.File("missing.json.gz")])));
        await Assert.ThrowsAsync<FileNotFoundException>(() => Task.FromResult(InputFiles.Expand([dir.File("c4-*.json.gz")])));

        string noText = dir.File("c4.parquet");
        var url = new DataField<string>("url");
        await using (var fs = File.Create(noText))
        await using (var w = await ParquetWriter.CreateAsync(new ParquetSchema(url), fs))
        {
            using var rg = w.CreateRowGroup();
            await rg.WriteAsync(url, new[] { "https://a.example/" });
        }
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => SegmentPipeline.RunAsync([noText], output, new SegmentOptions()));
        Assert.StartsWith("c4.parquet: column 'text' missing", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(dir.Path, "out*"));
        Assert.Empty(Directory.GetFiles(dir.Path, ".out*"));

        // A truncated gzip shard: .NET reads what is there without an error; the trailer check counts it.
        string whole = dir.File("whole.json.gz");
        SyntheticC4.WriteFile(whole, 300_000, seed: 9);
        byte[] gz = File.ReadAllBytes(whole);
        string cut = dir.File("c4-train.00001-of-01024.json.gz");
        File.WriteAllBytes(cut, gz[..(gz.Length * 2 / 3)]);
        DataStats stats = await SegmentPipeline.RunAsync([cut], output, new SegmentOptions());
        Assert.Equal(1, stats["gzip_trailer_mismatch"]);

        // An empty file is zero documents, not an error.
        string empty = dir.File("empty.jsonl");
        File.WriteAllBytes(empty, []);
        stats = await SegmentPipeline.RunAsync([empty], output, new SegmentOptions());
        Assert.Equal(0, stats["documents"]);
        Assert.Empty(await CandidatesFile.ReadAllAsync(output));
    }
}
