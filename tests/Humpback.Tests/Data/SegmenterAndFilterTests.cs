using Humpback.Data;
using Xunit;

namespace Humpback.Tests.Data;

public class SegmenterAndFilterTests
{
    [Fact]
    public void LinesArePackedGreedilyUpToMax()
    {
        var segments = new List<string>();
        var outcome = new Segmenter(10, 30).Cut("first line here\r\nsecond\n\n  third line is longer than  \nx", segments);
        Assert.False(outcome.DocumentTooShort);
        Assert.Equal(["first line here\nsecond", "third line is longer than\nx"], segments);
    }

    [Fact]
    public void AnOverlongLineIsSplitAtSentenceEndsAndAGiantSentenceAtASpace()
    {
        var segments = new List<string>();
        new Segmenter(10, 40).Cut("One two three. Four five six seven. Eight nine ten eleven twelve thirteen fourteen fifteen sixteen.", segments);
        Assert.Equal(["One two three. Four five six seven.", "Eight nine ten eleven twelve thirteen", "fourteen fifteen sixteen."], segments);
    }

    [Fact]
    public void ShortDocumentsAndShortFragmentsAreDropped()
    {
        var segments = new List<string>();
        Assert.True(new Segmenter(600, 3000).Cut("A short document.\nTwo lines.", segments).DocumentTooShort);
        Assert.Empty(segments);
        var outcome = new Segmenter(20, 30).Cut("aaaaaaaaaaaaaaaaaaaaaaaaa\nbbbbb", segments);
        Assert.Equal(["aaaaaaaaaaaaaaaaaaaaaaaaa"], segments);
        Assert.Equal(1, outcome.FragmentsDropped);
    }

    [Fact]
    public void SentencesEndAtPunctuationFollowedBySpaceOrNewline()
    {
        string text = "He said \"stop.\" Then 3.5 left! Why? ok\nnext line";
        var got = Segmenter.Sentences(text).Select(r => text[r]).ToArray();
        Assert.Equal(["He said \"stop.\"", "Then 3.5 left!", "Why?", "ok", "next line"], got);
    }

    private static readonly TextFilters Filters = new(new SegmentOptions());

    private static string? Check(string text)
    {
        var words = new SegmentWords();
        words.Analyse(text);
        return Filters.Check(text, words);
    }

    [Fact]
    public void CleanProsePassesEveryFilter()
    {
        Assert.Null(Check(Prose.Paragraph(1, 900) + "\n" + Prose.Paragraph(2, 700)));
    }

    [Fact]
    public void CapsFilterDropsShouting()
    {
        Assert.Equal(TextFilters.Caps, Check(Prose.Paragraph(3, 700).ToUpperInvariant()));
        Assert.Null(Check("NASA and the ESA run the ISS. " + Prose.Paragraph(4, 700)));
    }

    [Fact]
    public void ShortLineFilterDropsListsOfFragments()
    {
        string text = Prose.Paragraph(5, 700) + "\nTags\nRecipes\nBaking\nCakes\nOld posts";
        Assert.Equal(TextFilters.ShortLines, Check(text));
        Assert.Null(Check(Prose.Paragraph(5, 700) + "\nTags\n" + Prose.Paragraph(6, 300) + "\n" + Prose.Paragraph(7, 300)));
    }

    [Theory]
    [InlineData("Home | About | Contact", true)]
    [InlineData("Home About Us Contact", true)]
    [InlineData("Skip to main content", true)]
    [InlineData("Price: $5 | Size: M | Colour: red", true)]
    [InlineData("News » Sport » Football", true)]
    [InlineData("https://example.com/some/page", true)]
    [InlineData("www.example.com", true)]
    [InlineData("Home", false)]
    [InlineData("Home is where the heart is, they say, and I agree.", false)]
    [InlineData("About 3 miles", false)]
    [InlineData("Home3 About", false)]
    [InlineData("Home / About / Contact", true)]
    [InlineData("Visit https://example.com for the full recipe and notes.", false)]
    public void NavigationLines(string line, bool navigation) => Assert.Equal(navigation, TextFilters.IsNavigationLine(line));

    [Fact]
    public void NavigationFilterDropsASegmentWithAMenuLine()
    {
        Assert.Equal(TextFilters.Navigation, Check("Home | About Us | Contact\n" + Prose.Paragraph(8, 700)));
    }

    [Fact]
    public void BoilerplateNeedsAShortLineOrTwoDifferentPhrases()
    {
        string prose = Prose.Paragraph(9, 700);
        Assert.Equal(TextFilters.Boilerplate, Check(prose + "\nClick here to subscribe to our newsletter."));
        Assert.Equal(TextFilters.Boilerplate, Check(prose + " Our privacy policy explains it. " + Prose.Paragraph(10, 200) + " Enable javascript to see it."));
        // One mention inside a long line of prose is fine (a how-to may say "subscribe").
        Assert.Null(Check(prose + " You can subscribe to the feed in any reader. " + Prose.Paragraph(11, 200)));
    }

    [Fact]
    public void RepeatedSentencesAreFoundByNgramJaccard()
    {
        string repeated = "The quick brown fox jumps over the lazy sleeping dog.";
        Assert.Equal(TextFilters.RepeatedSentences, Check(repeated + " " + Prose.Paragraph(12, 700) + " " + repeated.Replace("dog.", "dog!", StringComparison.Ordinal)));
        // One extra word: 8 shared trigrams out of 9 in all, Jaccard 0.89 >= 0.8.
        Assert.Equal(TextFilters.RepeatedSentences, Check(Prose.Paragraph(13, 700) + " The quick brown fox jumps over the lazy sleeping dog today. The quick brown fox jumps over the lazy sleeping dog."));
        Assert.Null(Check(Prose.Paragraph(13, 700) + " The quick brown fox jumps over the lazy dog. A slow red fox walks under the busy cat."));
        // Short sentences ("Yes." twice) are not compared.
        Assert.Null(Check("Yes. " + Prose.Paragraph(14, 700) + " Yes."));
    }

    [Fact]
    public void ExactHashIgnoresCasePunctuationAndSpacing()
    {
        var a = new SegmentWords();
        var b = new SegmentWords();
        a.Analyse("Hello, world!  This is  a test.");
        b.Analyse("hello world\nthis is a TEST");
        Assert.Equal(a.ExactHash(), b.ExactHash());
        b.Analyse("hello world this is a test too");
        Assert.NotEqual(a.ExactHash(), b.ExactHash());
    }

    [Fact]
    public void MinHashBandsCollideForNearCopiesAndNotForDifferentTexts()
    {
        var hasher = new MinHasher(16, 8, 5);
        ulong[] Bands(string text)
        {
            var w = new SegmentWords();
            w.Analyse(text);
            var sig = new uint[hasher.SignatureLength];
            Assert.True(hasher.Signature(w.Words, sig));
            var bands = new ulong[16];
            hasher.BandHashes(sig, bands);
            return bands;
        }
        string original = Prose.Paragraph(20, 2000);
        string[] words = original.Split(' ');
        words[40] = "zebra";
        words[200] = "quokka";
        ulong[] a = Bands(original);
        Assert.NotEmpty(a.Intersect(Bands(string.Join(' ', words))));
        Assert.Empty(a.Intersect(Bands(Prose.Paragraph(21, 2000))));
        // Half the text shared: Jaccard about 1/3, far below the ~0.7 LSH threshold.
        Assert.Empty(a.Intersect(Bands(original[..1000] + " " + Prose.Paragraph(22, 1000))));
    }

    [Fact]
    public void LongHashSetGrowsAndKeepsEveryKey()
    {
        var set = new LongHashSet(16);
        for (ulong i = 0; i < 10_000; i++) Assert.True(set.Add(i * 7919));
        Assert.False(set.Add(0));
        Assert.Equal(10_000, set.Count);
        for (ulong i = 0; i < 10_000; i++) Assert.True(set.Contains(i * 7919));
        Assert.False(set.Contains(3));
    }
}

/// <summary>Deterministic English-looking prose with a large vocabulary, so that two paragraphs never share
/// sentences by chance and the quality filters have nothing to object to.</summary>
public static class Prose
{
    private static readonly string[] Vocabulary = BuildVocabulary();

    private static string[] BuildVocabulary()
    {
        string[] syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ba", "de", "fi", "go", "hu", "ja", "ke", "li", "mo", "nu", "pa", "re"];
        var words = new List<string>();
        foreach (string a in syllables)
            foreach (string b in syllables)
                foreach (string c in new[] { "", "n", "s", "th" })
                    words.Add(a + b + c);
        return words.ToArray();
    }

    /// <summary>Sentences of 8–14 words appended until the paragraph has at least <paramref name="minChars"/> characters.</summary>
    public static string Paragraph(int seed, int minChars)
    {
        var rng = new Random(seed);
        var sb = new System.Text.StringBuilder();
        while (sb.Length < minChars)
        {
            if (sb.Length > 0) sb.Append(' ');
            int n = 8 + rng.Next(7);
            for (int i = 0; i < n; i++)
            {
                string w = Vocabulary[rng.Next(Vocabulary.Length)];
                if (i == 0) sb.Append(char.ToUpperInvariant(w[0])).Append(w, 1, w.Length - 1);
                else sb.Append(' ').Append(w);
            }
            sb.Append('.');
        }
        return sb.ToString();
    }
}
