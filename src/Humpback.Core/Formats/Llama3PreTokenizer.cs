using System.Globalization;
using System.Text;

namespace Humpback.Formats;

/// <summary>The Llama-3 pre-tokenizer: splits text into the words that BPE then encodes one by one.
/// HF tokenizer.json states it as the regex <see cref="Pattern"/>; this is a hand-written scanner over code
/// points that mirrors llama.cpp's unicode_regex_split_custom_llama3 branch for branch, so that letters and
/// digits outside the BMP (surrogate pairs in .NET strings) are classified as llama.cpp and HF classify them.</summary>
public static class Llama3PreTokenizer
{
    /// <summary>The pattern in Meta's tokenizer.json (HF "Split" pre-tokenizer, behaviour Isolated).</summary>
    public const string Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>The same pattern as llama.cpp spells it (case-insensitive group written out).</summary>
    public const string PatternLlamaCpp = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Code points of <paramref name="text"/>; invalid UTF-16 becomes U+FFFD (as its UTF-8 encoding does).</summary>
    public static int[] CodePoints(string text)
    {
        var cps = new List<int>(text.Length);
        foreach (Rune r in text.EnumerateRunes()) cps.Add(r.Value);
        return cps.ToArray();
    }

    /// <summary>Splits code points <paramref name="cpts"/> into words; returns each word's (start, length) in code points.</summary>
    public static List<(int Start, int Length)> Split(ReadOnlySpan<int> cpts)
    {
        var words = new List<(int, int)>();
        int end = cpts.Length;
        int prevEnd = 0;
        const int OutOfRange = -1;

        int Cpt(ReadOnlySpan<int> c, int pos) => pos >= 0 && pos < end ? c[pos] : OutOfRange;
        int AddToken(int e)
        {
            int len = e - prevEnd;
            if (len > 0) words.Add((prevEnd, len));
            prevEnd = e;
            return len;
        }

        int pos = 0;
        while (pos < end)
        {
            int cpt = cpts[pos];
            Flags f = Classify(cpt);

            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if (cpt == '\'' && pos + 1 < end)
            {
                int n1 = AsciiLower(Cpt(cpts, pos + 1));
                if (n1 is 's' or 't' or 'm' or 'd')
                {
                    pos += AddToken(pos + 2);
                    continue;
                }
                if (pos + 2 < end)
                {
                    int n2 = AsciiLower(Cpt(cpts, pos + 2));
                    if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l'))
                    {
                        pos += AddToken(pos + 3);
                        continue;
                    }
                }
            }

            // [^\r\n\p{L}\p{N}]?\p{L}+
            if (!(cpt == '\r' || cpt == '\n' || f.HasFlag(Flags.Number)))
            {
                if (f.HasFlag(Flags.Letter) || FlagsAt(cpts, pos + 1, end).HasFlag(Flags.Letter))
                {
                    pos++;
                    while (FlagsAt(cpts, pos, end).HasFlag(Flags.Letter)) pos++;
                    AddToken(pos);
                    continue;
                }
            }

            // \p{N}{1,3}
            if (f.HasFlag(Flags.Number))
            {
                int ini = pos;
                while (FlagsAt(cpts, pos, end).HasFlag(Flags.Number))
                {
                    if (++pos - ini >= 3)
                    {
                        AddToken(pos);
                        ini = pos;
                    }
                }
                AddToken(pos);
                continue;
            }

            // <space>?[^\s\p{L}\p{N}]+[\r\n]*
            Flags f2 = cpt == ' ' ? FlagsAt(cpts, pos + 1, end) : f;
            if (IsOther(f2) && f != Flags.None)
            {
                if (cpt == ' ') pos++;
                while (IsOther(f2)) f2 = FlagsAt(cpts, ++pos, end);
                int c2 = Cpt(cpts, pos);
                while (c2 == '\r' || c2 == '\n') c2 = Cpt(cpts, ++pos);
                AddToken(pos);
                continue;
            }

            int numWhitespaces = 0;
            int lastEndROrN = 0;
            while (FlagsAt(cpts, pos + numWhitespaces, end).HasFlag(Flags.Whitespace))
            {
                int c2 = Cpt(cpts, pos + numWhitespaces);
                if (c2 == '\r' || c2 == '\n') lastEndROrN = pos + numWhitespaces + 1;
                numWhitespaces++;
            }

            // \s*[\r\n]+
            if (lastEndROrN > 0)
            {
                pos = lastEndROrN;
                AddToken(pos);
                continue;
            }

            // \s+(?!\S)
            if (numWhitespaces > 1 && Cpt(cpts, pos + numWhitespaces) != OutOfRange)
            {
                pos += numWhitespaces - 1;
                AddToken(pos);
                continue;
            }

            // \s+
            if (numWhitespaces > 0)
            {
                pos += numWhitespaces;
                AddToken(pos);
                continue;
            }

            // no match
            AddToken(++pos);
        }
        return words;
    }

    /// <summary>Splits a string into word strings (a lone surrogate stays as it is; UTF-8 encoding turns it into U+FFFD
    /// as <see cref="CodePoints"/> does).</summary>
    public static List<string> SplitText(string text)
    {
        int[] cps = CodePoints(text);
        var offsets = new int[cps.Length + 1]; // UTF-16 offset of each code point
        for (int i = 0; i < cps.Length; i++) offsets[i + 1] = offsets[i] + (cps[i] > 0xFFFF ? 2 : 1);
        var words = new List<string>();
        foreach (var (start, len) in Split(cps)) words.Add(text[offsets[start]..offsets[start + len]]);
        return words;
    }

    [Flags]
    private enum Flags
    {
        None = 0,       // past the end of the text (llama.cpp's OUT_OF_RANGE flags)
        Letter = 1,
        Number = 2,
        Whitespace = 4,
        Defined = 8,    // every in-range code point, assigned or not (llama.cpp's flags are then non-zero)
    }

    private static bool IsOther(Flags f) => (f & (Flags.Whitespace | Flags.Letter | Flags.Number)) == 0 && f != Flags.None;

    private static Flags FlagsAt(ReadOnlySpan<int> cpts, int pos, int end) => pos >= 0 && pos < end ? Classify(cpts[pos]) : Flags.None;

    private static int AsciiLower(int c) => c is >= 'A' and <= 'Z' ? c + 32 : c;

    private static Flags Classify(int cpt)
    {
        Flags f = Flags.Defined;
        if (IsWhitespace(cpt)) f |= Flags.Whitespace;
        if (cpt > 0x10FFFF || (cpt >= 0xD800 && cpt <= 0xDFFF)) return f;
        switch (CharUnicodeInfo.GetUnicodeCategory(cpt))
        {
            case UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter:
                f |= Flags.Letter;
                break;
            case UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber:
                f |= Flags.Number;
                break;
        }
        return f;
    }

    /// <summary>llama.cpp's whitespace set (unicode.cpp unicode_ranges_whitespace), the same as .NET's \s.</summary>
    private static bool IsWhitespace(int c) =>
        (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
        c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
