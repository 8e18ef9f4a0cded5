using System.Buffers;

namespace Humpback.Data;

/// <summary>Quality filters for a segment (Li et al. 2023 removed empty, all-caps and navigation headers and
/// segments with repeated sentences; C4 has no headers, so the rules look at the segment's own lines). Each
/// returns the name of the stats counter it drops into, or null. Thresholds come from <see cref="SegmentOptions"/>
/// and are documented in docs/data.md.</summary>
public sealed class TextFilters(SegmentOptions options)
{
    public const string Caps = "dropped_caps";
    public const string ShortLines = "dropped_short_lines";
    public const string Navigation = "dropped_navigation";
    public const string Boilerplate = "dropped_boilerplate";
    public const string RepeatedSentences = "dropped_repeated_sentences";

    public static readonly string[] Counters = [Caps, ShortLines, Navigation, Boilerplate, RepeatedSentences];

    /// <summary>Words that make up navigation bars ("Home | About us | Contact"). A line of at most 60 characters
    /// made only of these (two words or more) is navigation.</summary>
    public static readonly string[] NavigationWords =
    [
        "home", "about", "us", "contact", "blog", "login", "log", "in", "out", "sign", "up", "register", "search",
        "menu", "faq", "faqs", "privacy", "policy", "terms", "help", "shop", "cart", "account", "my", "news", "next",
        "previous", "prev", "back", "to", "top", "skip", "content", "main", "sitemap", "careers", "press",
        "subscribe", "follow", "share", "more", "categories", "tags", "archives", "links", "services", "products",
        "events", "gallery", "forum", "support", "the", "and", "of", "page", "rss", "feed", "newsletter",
    ];

    /// <summary>Phrases of web boilerplate. A segment is dropped when two different phrases occur in it, or when
    /// one occurs in a line shorter than 100 characters (a call to action on its own line).</summary>
    public static readonly string[] BoilerplatePhrases =
    [
        "click here", "cookie policy", "use cookies", "uses cookies", "accept cookies", "cookie settings",
        "subscribe", "newsletter", "all rights reserved", "privacy policy", "terms of use", "terms of service",
        "terms and conditions", "skip to content", "javascript", "share this", "follow us", "leave a comment",
        "add to cart", "posted by", "read more", "powered by",
    ];

    private static readonly SearchValues<string> Phrases = SearchValues.Create(BoilerplatePhrases, StringComparison.OrdinalIgnoreCase);
    private static readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> NavWords =
        new HashSet<string>(NavigationWords, StringComparer.OrdinalIgnoreCase).GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly SearchValues<char> Separators = SearchValues.Create("|»›•·");

    private readonly SegmentOptions _o = options;

    /// <summary>The first filter that drops <paramref name="text"/>, in the order caps, short lines, navigation,
    /// boilerplate, repeated sentences; null when it passes all.</summary>
    public string? Check(string text, SegmentWords words)
    {
        if (IsCaps(words.Letters, words.UpperLetters)) return Caps;
        if (HasShortLines(text)) return ShortLines;
        if (HasNavigation(text)) return Navigation;
        if (HasBoilerplate(text)) return Boilerplate;
        if (HasRepeatedSentence(words)) return RepeatedSentences;
        return null;
    }

    public bool IsCaps(int letters, int upper) => letters >= 50 && upper > _o.MaxCapsRatio * letters;

    public bool IsCaps(string text)
    {
        int letters = 0, upper = 0;
        foreach (char c in text)
        {
            if (char.IsAsciiLetter(c))
            {
                letters++;
                if (char.IsAsciiLetterUpper(c)) upper++;
            }
            else if (c > 127 && char.IsLetter(c))
            {
                letters++;
                if (char.IsUpper(c)) upper++;
            }
        }
        return letters >= 50 && upper > _o.MaxCapsRatio * letters;
    }

    public bool HasShortLines(string text)
    {
        int lines = 0, shortLines = 0;
        foreach (Range r in text.AsSpan().Split('\n'))
        {
            ReadOnlySpan<char> line = text.AsSpan(r).Trim();
            if (line.IsEmpty) continue;
            lines++;
            if (line.Length < _o.ShortLineChars) shortLines++;
        }
        return lines >= _o.ShortLineMinLines && shortLines > _o.MaxShortLineRatio * lines;
    }

    public static bool HasNavigation(string text)
    {
        foreach (Range r in text.AsSpan().Split('\n'))
            if (IsNavigationLine(text.AsSpan(r).Trim())) return true;
        return false;
    }

    /// <summary>A navigation or link-list line: two or more separators (| » › • ·) between items of 30 characters
    /// or less on average; a bare URL; or a short line made only of <see cref="NavigationWords"/>.</summary>
    public static bool IsNavigationLine(ReadOnlySpan<char> line)
    {
        if (line.IsEmpty) return false;
        int seps = 0;
        foreach (char c in line)
            if (Separators.Contains(c)) seps++;
        if (seps >= 2 && line.Length / (seps + 1) <= 30) return true;
        if ((line.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || line.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
             || line.StartsWith("www.", StringComparison.OrdinalIgnoreCase)) && line.Count(' ') <= 1) return true;
        if (line.Length > 60) return false;
        int words = 0;
        int start = -1;
        for (int i = 0; i <= line.Length; i++)
        {
            char c = i < line.Length ? line[i] : ' ';
            if (char.IsLetter(c))
            {
                if (start < 0) start = i;
                continue;
            }
            if (start >= 0)
            {
                if (!NavWords.Contains(line[start..i])) return false;
                words++;
                start = -1;
            }
            if (!char.IsWhiteSpace(c) && !char.IsPunctuation(c) && !char.IsSymbol(c)) return false; // digits: not a menu
        }
        return words >= 2;
    }

    public static bool HasBoilerplate(string text)
    {
        ReadOnlySpan<char> all = text;
        string? first = null;
        int pos = 0;
        while (pos < all.Length)
        {
            int hit = all[pos..].IndexOfAny(Phrases);
            if (hit < 0) break;
            hit += pos;
            string phrase = PhraseAt(all[hit..]);
            // The line holding the phrase.
            int lineStart = all[..hit].LastIndexOf('\n') + 1;
            int lineEnd = all[hit..].IndexOf('\n');
            lineEnd = lineEnd < 0 ? all.Length : hit + lineEnd;
            if (all[lineStart..lineEnd].Trim().Length < 100) return true;
            if (first != null && !string.Equals(first, phrase, StringComparison.OrdinalIgnoreCase)) return true;
            first ??= phrase;
            pos = hit + phrase.Length;
        }
        return false;
    }

    private static string PhraseAt(ReadOnlySpan<char> text)
    {
        foreach (string p in BoilerplatePhrases)
            if (text.StartsWith(p, StringComparison.OrdinalIgnoreCase)) return p;
        throw new InvalidOperationException("SearchValues matched no phrase");
    }

    // Scratch for the repeated-sentence check (a TextFilters belongs to one worker thread).
    private ulong[] _grams = new ulong[256];
    private readonly List<(int Start, int Length)> _sets = new();

    /// <summary>True when two sentences of at least <see cref="SegmentOptions.RepeatMinWords"/> words have word
    /// n-gram sets with Jaccard similarity ≥ <see cref="SegmentOptions.RepeatJaccard"/>.</summary>
    public bool HasRepeatedSentence(SegmentWords words)
    {
        _sets.Clear();
        int used = 0;
        int n = _o.RepeatNgram;
        for (int s = 0; s < words.SentenceCount; s++)
        {
            ReadOnlySpan<ulong> w = words.Sentence(s);
            if (w.Length < _o.RepeatMinWords) continue;
            int count = Math.Max(1, w.Length - n + 1);
            if (used + count > _grams.Length) Array.Resize(ref _grams, Math.Max(_grams.Length * 2, used + count));
            int distinct = NgramSet(w, n, _grams.AsSpan(used, count));
            _sets.Add((used, distinct));
            used += distinct;
        }
        if (_sets.Count < 2) return false;
        double t = _o.RepeatJaccard;
        for (int i = 0; i < _sets.Count; i++)
        {
            ReadOnlySpan<ulong> a = _grams.AsSpan(_sets[i].Start, _sets[i].Length);
            for (int j = i + 1; j < _sets.Count; j++)
            {
                ReadOnlySpan<ulong> b = _grams.AsSpan(_sets[j].Start, _sets[j].Length);
                // J(a, b) <= min/max of the set sizes: skip pairs that cannot reach the threshold.
                if (Math.Min(a.Length, b.Length) < t * Math.Max(a.Length, b.Length)) continue;
                int inter = IntersectionSize(a, b);
                if (inter >= t * (a.Length + b.Length - inter)) return true;
            }
        }
        return false;
    }

    /// <summary>Writes the sorted distinct hashes of the word n-grams of a sentence (the whole sentence when
    /// shorter than n) to the start of <paramref name="set"/>; returns how many.</summary>
    internal static int NgramSet(ReadOnlySpan<ulong> words, int n, Span<ulong> set)
    {
        int count = Math.Max(1, words.Length - n + 1);
        for (int i = 0; i < count; i++)
        {
            ulong h = 0x6A09E667F3BCC909UL;
            int end = Math.Min(words.Length, i + n);
            for (int k = i; k < end; k++) h = SegmentWords.Combine(h, words[k]);
            set[i] = StableHash.Mix(h);
        }
        set = set[..count];
        set.Sort();
        int distinct = 1;
        for (int i = 1; i < set.Length; i++)
            if (set[i] != set[distinct - 1]) set[distinct++] = set[i];
        return distinct;
    }

    private static int IntersectionSize(ReadOnlySpan<ulong> a, ReadOnlySpan<ulong> b)
    {
        int i = 0, j = 0, n = 0;
        while (i < a.Length && j < b.Length)
        {
            if (a[i] == b[j]) { n++; i++; j++; }
            else if (a[i] < b[j]) i++;
            else j++;
        }
        return n;
    }
}
