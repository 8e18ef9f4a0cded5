using System.Diagnostics;
using System.IO.Compression;
using Humpback.Formats;
using Xunit;
using Xunit.Abstractions;

namespace Humpback.Tests.Formats;

public class BpeTrainerTests(ITestOutputHelper output)
{
    [Fact]
    public void TrainsTheRequestedVocabularyWithSpecialTokensLast()
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        Assert.Equal(1024, tok.VocabSize);
        Assert.Equal(1024 - 256 - 11, tok.Merges.Count);
        Assert.Equal(HumpbackTokenizer.Llama3SpecialTokens, tok.AddedTokens.Select(a => a.Content));
        Assert.Equal(Enumerable.Range(1013, 11), tok.AddedTokens.Select(a => a.Id));
        Assert.All(tok.AddedTokens, a => Assert.Equal(TokenType.Control, tok.Type(a.Id)));
        Assert.Equal(1013, tok.BosId);
        Assert.Equal(1014, tok.EosId);
        Assert.Equal(1022, tok.EotTokenId);
        for (int b = 0; b < 256; b++) Assert.Equal(ByteLevel.Char((byte)b).ToString(), tok.TokenText(b));
        // Frequent words of the corpus became single tokens.
        Assert.Single(tok.Encode(" the"));
        Assert.Single(tok.Encode(" whale"));
    }

    [Fact]
    public void TrainingIsDeterministic()
    {
        var opts = new BpeTrainerOptions { VocabSize = 400 };
        HumpbackTokenizer a = BpeTrainer.Train([TestData.Corpus(3, 50_000)], opts);
        HumpbackTokenizer b = BpeTrainer.Train([TestData.Corpus(3, 50_000)], opts);
        Assert.Equal(a.Merges, b.Merges);
    }

    [Fact]
    public void StopsEarlyWhenTheCorpusRunsOutOfPairs()
    {
        HumpbackTokenizer t = BpeTrainer.Train(["ab ab ab"], new BpeTrainerOptions { VocabSize = 4096, SpecialTokens = ["<|x|>"] });
        Assert.Equal([("a", "b"), ("Ġ", "ab")], t.Merges);
        Assert.Equal(256 + 2 + 1, t.VocabSize);
    }

    [Fact]
    public void TrainsAFewMegabytesInSeconds()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["a.txt"], TestData.WordySyllables(10, 1_500_000));
        using (var gz = new GZipStream(File.Create(dir["b.txt.gz"]), CompressionLevel.Fastest))
        using (var w = new StreamWriter(gz)) w.Write(TestData.Corpus(11, 1_500_000));
        var sw = Stopwatch.StartNew();
        HumpbackTokenizer tok = BpeTrainer.TrainFromFiles([dir["a.txt"], dir["b.txt.gz"]], new BpeTrainerOptions { VocabSize = 4096 });
        sw.Stop();
        output.WriteLine($"3 MB corpus, vocab 4096: {sw.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(4096, tok.VocabSize);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"training took {sw.Elapsed}");
    }

    [Fact]
    public void RejectsAVocabularyTooSmallForBytesAndSpecials()
    {
        Assert.Throws<ArgumentException>(() => BpeTrainer.Train(["x"], new BpeTrainerOptions { VocabSize = 260 }));
    }
}
