using Humpback.Formats;
using Xunit;
using Xunit.Abstractions;

namespace Humpback.Tests.Formats;

public class TokenizerTests(ITestOutputHelper output)
{
    private static bool OnlyBmp(string s) => !s.Any(char.IsSurrogate);

    [Fact]
    public void MicrosoftMlBpeTokenizerAgreesOnBmpText()
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        var ml = tok.ToMlTokenizer();
        int n = 0, diff = 0;
        foreach (string s in TestData.Strings(7, 2000).Where(OnlyBmp))
        {
            n++;
            int[] ours = tok.Encode(s, addBos: false, parseSpecial: true);
            int[] theirs = ml.EncodeToIds(s).ToArray();
            if (!ours.SequenceEqual(theirs) && diff++ < 5)
                output.WriteLine($"{System.Text.Json.JsonSerializer.Serialize(s)}\n ours {string.Join(",", ours)}\n ml   {string.Join(",", theirs)}");
        }
        output.WriteLine($"{n} strings, {diff} differ");
        Assert.Equal(0, diff);
    }

    [Fact]
    public void MlTokenizerDiffersOnlyWhereUtf16RegexMisreadsSupplementaryLetters()
    {
        // Documented limitation of the bridge: .NET's regex classifies surrogate halves, not code points.
        HumpbackTokenizer tok = TestData.Tokenizer;
        var ml = tok.ToMlTokenizer();
        Assert.Equal(tok.Encode("plain ascii text, 123!", false, true), ml.EncodeToIds("plain ascii text, 123!").ToArray());
        Assert.Equal(["a", " 𝐀𝐁𝐂", " ", "𝟘𝟙𝟚"], Llama3PreTokenizer.SplitText("a 𝐀𝐁𝐂 𝟘𝟙𝟚")); // letters and digits as code points
        var rx = new System.Text.RegularExpressions.Regex(Llama3PreTokenizer.Pattern);
        Assert.Equal(["ab𝐀𝐁cd"], Llama3PreTokenizer.SplitText("ab𝐀𝐁cd"));
        Assert.Equal(["ab", "𝐀𝐁", "cd"], rx.Matches("ab𝐀𝐁cd").Select(m => m.Value)); // what the bridge's regex sees
    }

    [Theory]
    [InlineData("Hello world's  123456 \n\n  x", new[] { "Hello", " world", "'s", " ", " ", "123", "456", " \n\n", " ", " x" })]
    [InlineData("I'LL don't  ", new[] { "I", "'LL", " don", "'t", "  " })]
    [InlineData("a\r\nb...!!\n\nc", new[] { "a", "\r\n", "b", "...!!\n\n", "c" })]
    [InlineData("€100 — ok🙂🙃", new[] { "€", "100", " —", " ok", "🙂🙃" })]
    [InlineData("\t\tx  \u3000y", new[] { "\t", "\tx", "  ", "\u3000y" })]
    [InlineData("1234567", new[] { "123", "456", "7" })]
    public void PreTokenizerSplitsLikeTheLlama3Regex(string text, string[] words)
    {
        static string U(string s) => System.Text.RegularExpressions.Regex.Unescape(s);
        Assert.Equal(words.Select(U), Llama3PreTokenizer.SplitText(U(text)));
        // The .NET regex is the specification for BMP text.
        var rx = new System.Text.RegularExpressions.Regex(Llama3PreTokenizer.Pattern);
        Assert.Equal(rx.Matches(U(text)).Select(m => m.Value), Llama3PreTokenizer.SplitText(U(text)));
    }

    [Fact]
    public void PreTokenizerAgreesWithTheRegexOnBmpStrings()
    {
        var rx = new System.Text.RegularExpressions.Regex(Llama3PreTokenizer.Pattern);
        foreach (string s in TestData.Strings(99, 3000).Where(OnlyBmp))
            Assert.Equal(rx.Matches(s).Select(m => m.Value), Llama3PreTokenizer.SplitText(s));
    }

    [Fact]
    public void SaveThenLoadGivesTheSameTokenizer()
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        using var dir = new TempDir();
        Humpback.IO.AtomicFile.WriteDirectory(dir["t"], tok.WriteFiles);
        HumpbackTokenizer back = HumpbackTokenizer.Load(dir["t"]);
        Assert.Equal(tok.VocabSize, back.VocabSize);
        Assert.Equal(tok.Merges, back.Merges);
        Assert.Equal(tok.AddedTokens, back.AddedTokens);
        Assert.Equal((tok.BosId, tok.EosId, tok.EotTokenId, tok.PadId), (back.BosId, back.EosId, back.EotTokenId, back.PadId));
        Assert.Equal(tok.ChatTemplate, back.ChatTemplate);
        foreach (string s in TestData.Strings(5, 500))
            Assert.Equal(tok.Encode(s, true, true), back.Encode(s, true, true));
        using var cfg = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir["t"], HumpbackTokenizer.ConfigFile)));
        Assert.Equal("<|begin_of_text|>", cfg.RootElement.GetProperty("bos_token").GetString());
        Assert.Equal("<|end_of_text|>", cfg.RootElement.GetProperty("eos_token").GetString());
        Assert.Contains("<|start_header_id|>", cfg.RootElement.GetProperty("chat_template").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void MergesAsPairsReadLikeMergesAsStrings()
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        var node = System.Text.Json.Nodes.JsonNode.Parse(tok.TokenizerJson())!;
        var merges = node["model"]!["merges"]!.AsArray();
        var pairs = new System.Text.Json.Nodes.JsonArray(merges.Select(m =>
        {
            string[] p = m!.GetValue<string>().Split(' ');
            return (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonArray(p[0], p[1]);
        }).ToArray());
        node["model"]!["merges"] = pairs;
        HumpbackTokenizer back = HumpbackTokenizer.Parse(node.ToJsonString());
        Assert.Equal(tok.Merges, back.Merges);
        Assert.Equal(tok.Encode("The whale's song, naïve 🐋", false, false), back.Encode("The whale's song, naïve 🐋", false, false));
    }

    [Fact]
    public void DecodeInvertsEncode()
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        foreach (string s in TestData.Strings(8, 1000))
        {
            Assert.Equal(s, tok.Decode(tok.Encode(s, false, false)));
            Assert.Equal(s, tok.Decode(tok.Encode(s, false, true)));
        }
        int[] ids = tok.Encode("hi<|eot_id|>", true, true);
        Assert.Equal([tok.BosId], ids[..1]);
        Assert.Equal(tok.EotTokenId, ids[^1]);
        Assert.Equal("hi", tok.Decode(ids, skipSpecial: true));
    }

    [Fact]
    public void SpecialTokensAreSplitOnlyWhenAsked()
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        Assert.Equal([tok.EotTokenId], tok.Encode("<|eot_id|>", false, true));
        Assert.True(tok.Encode("<|eot_id|>", false, false).Length > 1);
        Assert.Equal(tok.Encode("a", false, false).Concat([tok.EotTokenId, tok.EotTokenId]).Concat(tok.Encode("b", false, false)),
            tok.Encode("a<|eot_id|><|eot_id|>b", false, true));
    }

    /// <summary>Llama-3 (llama-bpe) ignores merges for a word the vocabulary holds whole, as llama.cpp does.</summary>
    [Fact]
    public void AWordInTheVocabularyIsTakenWhole()
    {
        var vocab = Enumerable.Range(0, 256).ToDictionary(b => ByteLevel.Char((byte)b).ToString(), b => b);
        vocab["bc"] = 256;
        vocab["ab"] = 257;
        vocab["abc"] = 258;
        (string, string)[] merges = [("b", "c"), ("a", "b"), ("ab", "c")];
        var tok = new HumpbackTokenizer(vocab, merges, []);
        Assert.Equal([258], tok.Encode("abc"));          // whole word, although merges give a + bc
        Assert.Equal([97, 256, 100], tok.Encode("abcd"));   // not in the vocabulary: merges by rank
        Assert.Equal([257, 257], tok.Encode("abab"));
    }

    public static TheoryData<string, string, string> BadTokenizers() => new()
    {
        { "not json", "{\"model\":", "not valid JSON" },
        { "no model", "{}", "model" },
        { "wordpiece", "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", "model.type" },
        { "bad merge", "MERGE", "model.merges[0]" },
        { "missing byte", "BYTE", "model.vocab" },
        { "gpt2 pre-tokenizer", "PRE", "pre_tokenizer" },
        { "bad added token", "ADDED", "added_tokens[0]" },
    };

    [Theory]
    [MemberData(nameof(BadTokenizers))]
    public void CorruptTokenizerFilesAreRejected(string what, string json, string field)
    {
        string good = System.Text.Encoding.UTF8.GetString(TestData.Tokenizer.TokenizerJson());
        json = json switch
        {
            "MERGE" => ReplaceFirstMerge(good),
            "BYTE" => good.Replace("\"Ā\": 256,", "", StringComparison.Ordinal).Replace("\"Ā\": 0,", "", StringComparison.Ordinal),
            "PRE" => good.Replace("\"type\": \"Split\"", "\"type\": \"Whitespace\"", StringComparison.Ordinal),
            "ADDED" => good.Replace("\"content\": \"<|begin_of_text|>\"", "\"contents\": 1", StringComparison.Ordinal),
            _ => json,
        };
        using var dir = new TempDir();
        File.WriteAllText(dir["tokenizer.json"], json);
        var e = Assert.Throws<InvalidDataException>(() => HumpbackTokenizer.Load(dir.Path));
        Assert.Contains(dir["tokenizer.json"], e.Message, StringComparison.Ordinal);
        Assert.True(e.Message.Contains(field, StringComparison.Ordinal), $"{what}: '{e.Message}' should name '{field}'");
    }

    private static string ReplaceFirstMerge(string json)
    {
        int at = json.IndexOf("\"merges\": [", StringComparison.Ordinal);
        int q = json.IndexOf('"', at + 11);
        int end = json.IndexOf('"', q + 1);
        return json[..(q + 1)] + "nosuchtoken x" + json[end..];
    }
}
