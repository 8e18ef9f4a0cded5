using System.Text;
using Humpback.Formats;
using Humpback.Model;

namespace Humpback.Tests.Formats;

/// <summary>Deterministic test inputs shared by the Formats tests: a multilingual corpus, a tokenizer trained on it,
/// tiny random Llama models, and temporary folders.</summary>
internal static class TestData
{
    private static readonly string[] English =
    [
        "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "instruction", "response", "model", "training",
        "backtranslation", "Humpback", "whale", "ocean", "data", "token", "tokenizer", "Hello", "World", "THE", "An",
        "answer", "question", "write", "a", "poem", "about", "summer", "time", "is", "it", "and", "of", "to", "in",
        "don't", "I'll", "she's", "WE'RE", "they've", "I'm", "you'd", "It's", "O'Neil", "rock'n'roll",
    ];

    private static readonly string[] Unicode =
    [
        "café", "naïve", "Straße", "Ωμέγα", "λόγος", "привет", "мир", "日本語", "中文字符", "東京", "한국어", "العربية",
        "עברית", "हिन्दी", "ไทย", "Ελληνικά", "déjà vu", "Ñandú", "ǅemal", "ﬁne", "ǲ", "Ⅻ", "½", "²³", "①②",
        "𝐀𝐁𝐂", "𝒳𝒴", "𠀀𠀁", "𐍈", "𝟘𝟙𝟚", "١٢٣", "४५६", "１２３", "e\u0301", "a\u0308o",
    ];

    private static readonly string[] Symbols =
    [
        "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "🐋", "🙂🙃", "✓", "→", "€", "£", "©", "™", "•", "…", "—", "«", "»", "“", "”",
        ",", ".", "!", "?", "...", ";", ":", "(", ")", "[", "]", "{", "}", "\"", "'", "`", "#", "$", "%", "&", "*", "+",
        "-", "/", "\\", "<", ">", "=", "@", "^", "_", "|", "~", "foo_bar()", "x+=1;", "<div>", "http://example.com/a?b=c",
        "e-mail", "3.14159", "1,000,000", "2024-01-01", "v1.2.3", "#include", "__init__",
    ];

    private static readonly string[] Spaces = [" ", " ", " ", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", " \n", "\n ", "\u00A0", "\u3000", "\u2003", ""];

    private static readonly string[] Specials =
    [
        "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|end_of_text|>", "<|eot", "<|",
        "|>", "<|eot_id|><|eot_id|>", "<|reserved_special_token_0|>", "<|python_tag|>",
    ];

    private static string Piece(Random r) => r.Next(10) switch
    {
        < 5 => English[r.Next(English.Length)],
        5 or 6 => Unicode[r.Next(Unicode.Length)],
        7 => Symbols[r.Next(Symbols.Length)],
        8 => r.Next(1, 10_000_000).ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => r.Next(3) == 0 ? English[r.Next(English.Length)].ToUpperInvariant() : Symbols[r.Next(Symbols.Length)] + English[r.Next(English.Length)],
    };

    /// <summary>A corpus of about <paramref name="chars"/> characters.</summary>
    public static string Corpus(int seed, int chars)
    {
        var r = new Random(seed);
        var sb = new StringBuilder(chars + 100);
        while (sb.Length < chars)
        {
            sb.Append(Piece(r));
            sb.Append(r.Next(6) == 0 ? Spaces[r.Next(Spaces.Length)] : " ");
        }
        return sb.ToString();
    }

    /// <summary>Text with a large, Zipf-like vocabulary of made-up words (for trainer speed), about <paramref name="chars"/> long.</summary>
    public static string WordySyllables(int seed, int chars)
    {
        string[] syl = ["ka", "lo", "mi", "ne", "ru", "sha", "te", "vo", "xi", "ya", "zu", "bre", "pla", "tion", "ing", "er", "ö", "ñ", "è"];
        var r = new Random(seed);
        var words = Enumerable.Range(0, 60_000).Select(_ => string.Concat(Enumerable.Range(0, r.Next(1, 5)).Select(_ => syl[r.Next(syl.Length)]))).ToArray();
        var sb = new StringBuilder(chars + 100);
        while (sb.Length < chars)
        {
            sb.Append(words[(int)(words.Length * Math.Pow(r.NextDouble(), 3))]);
            sb.Append(r.Next(12) switch { 0 => ", ", 1 => ".\n", 2 => " " + r.Next(1000), _ => " " });
        }
        return sb.ToString();
    }

    /// <summary>Short test strings: mixed pieces and whitespace runs, some with special-token text.</summary>
    public static IEnumerable<string> Strings(int seed, int count)
    {
        var r = new Random(seed);
        yield return "";
        yield return " ";
        yield return "\n";
        yield return "   leading and trailing   ";
        yield return "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>";
        for (int i = 0; i < count; i++)
        {
            var sb = new StringBuilder();
            int n = r.Next(1, 12);
            for (int k = 0; k < n; k++)
            {
                int kind = r.Next(12);
                if (kind == 0) sb.Append(Specials[r.Next(Specials.Length)]);
                else if (kind == 1) sb.Append(Spaces[r.Next(Spaces.Length)]).Append(Spaces[r.Next(Spaces.Length)]);
                else sb.Append(Piece(r));
                if (r.Next(3) > 0) sb.Append(Spaces[r.Next(Spaces.Length)]);
            }
            yield return sb.ToString();
        }
    }

    private static readonly Lazy<HumpbackTokenizer> LazyTokenizer = new(() =>
        BpeTrainer.Train([Corpus(1, 400_000)], new BpeTrainerOptions { VocabSize = 1024 }));

    /// <summary>A 1024-token byte-level BPE tokenizer trained on <see cref="Corpus"/> (cached for the test run).</summary>
    public static HumpbackTokenizer Tokenizer => LazyTokenizer.Value;

    /// <summary>The parity model: dim 64, 2 layers, 4 heads, 2 KV heads, head dim 16, llama3 rope scaling chosen so
    /// that the 8 frequencies cover all three bands (unchanged, smoothed, divided by the factor).</summary>
    public static LlamaConfig TinyConfig(HumpbackTokenizer tok, bool tied = true) => new()
    {
        VocabSize = tok.VocabSize, HiddenSize = 64, IntermediateSize = 128, NumLayers = 2, NumHeads = 4, NumKvHeads = 2,
        HeadDim = 16, MaxPositionEmbeddings = 512, RmsNormEps = 1e-5f, RopeTheta = 10000f,
        RopeScaling = new RopeScaling(8f, 1f, 4f, 64), TieWordEmbeddings = tied,
        BosTokenId = tok.BosId, EosTokenId = tok.EosId,
    };

    /// <summary>Random weights scaled so activations are O(1) and attention is far from uniform (a wrong RoPE
    /// or head layout changes the logits a lot); norm weights are 1 ± 0.2 so that their order matters.</summary>
    public static Dictionary<string, HostTensor> RandomWeights(LlamaConfig c, ulong seed, float std = 0.15f)
    {
        var t = LlamaInit.Random(c, seed, std);
        var rng = new SplitMix64(seed ^ 0xABCDEF);
        foreach (HostTensor x in t.Values.Where(x => x.Shape.Length == 1))
        {
            for (int i = 0; i < x.Data.Length; i++) x.Data[i] = (float)(1 + 0.4 * (rng.NextDouble() - 0.5));
        }
        return t;
    }

    public static int[] Prompt(HumpbackTokenizer tok) =>
        tok.Encode("<|start_header_id|>user<|end_header_id|>\n\nWrite a poem about the ocean, naïve 🐋 whale: 1234567!<|eot_id|>", addBos: true, parseSpecial: true);
}

/// <summary>A temporary folder removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "hb-formats-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string this[string name] => System.IO.Path.Combine(Path, name);

    /// <summary>Every file and folder name under the folder (to check that nothing partial was left behind).</summary>
    public string[] Entries() => Directory.EnumerateFileSystemEntries(Path, "*", SearchOption.AllDirectories)
        .Select(p => System.IO.Path.GetRelativePath(Path, p)).Order(StringComparer.Ordinal).ToArray();

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
