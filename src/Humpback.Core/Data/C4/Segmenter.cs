using System.Text;

namespace Humpback.Data;

/// <summary>Cuts a C4 document into segments of <c>[min, max]</c> characters. C4 has no HTML headers (the
/// paper cut ClueWeb pages at headers), so the document's lines (C4 keeps one paragraph per line) are the
/// units: lines are trimmed, blank ones dropped, a line longer than <c>max</c> is split at sentence ends (a
/// sentence longer than <c>max</c> at the last space before <c>max</c>), and the units are packed greedily,
/// joined by "\n", into segments no longer than <c>max</c>. A packed piece shorter than <c>min</c> is dropped
/// as a fragment; a document shorter than <c>min</c> in all is dropped whole.</summary>
public sealed class Segmenter(int minChars, int maxChars)
{
    private readonly List<string> _units = new();
    private readonly StringBuilder _current = new();

    public int MinChars { get; } = minChars;
    public int MaxChars { get; } = maxChars;

    /// <summary>Result of <see cref="Cut"/>: whether the document was too short, and how many fragments were dropped.</summary>
    public readonly record struct Outcome(bool DocumentTooShort, int FragmentsDropped);

    /// <summary>Appends the segments of <paramref name="text"/> to <paramref name="segments"/>.</summary>
    public Outcome Cut(string text, List<string> segments)
    {
        _units.Clear();
        int total = 0;
        foreach (Range r in text.AsSpan().Split('\n'))
        {
            ReadOnlySpan<char> line = text.AsSpan(r).Trim();
            if (line.IsEmpty) continue;
            total += line.Length + (total > 0 ? 1 : 0);
            if (line.Length <= MaxChars) _units.Add(line.ToString());
            else SplitLongLine(line, _units);
        }
        if (total < MinChars) return new Outcome(true, 0);

        int fragments = 0;
        _current.Clear();
        foreach (string unit in _units)
        {
            if (_current.Length == 0) _current.Append(unit);
            else if (_current.Length + 1 + unit.Length <= MaxChars) _current.Append('\n').Append(unit);
            else
            {
                fragments += Emit(segments);
                _current.Append(unit);
            }
        }
        fragments += Emit(segments);
        return new Outcome(false, fragments);
    }

    private int Emit(List<string> segments)
    {
        int dropped = 0;
        if (_current.Length >= MinChars) segments.Add(_current.ToString());
        else if (_current.Length > 0) dropped = 1;
        _current.Clear();
        return dropped;
    }

    /// <summary>Packs the sentences of an overlong line into pieces of at most <see cref="MaxChars"/>, joined by spaces.</summary>
    private void SplitLongLine(ReadOnlySpan<char> line, List<string> units)
    {
        var piece = new StringBuilder();
        foreach (Range s in Sentences(line))
        {
            ReadOnlySpan<char> sentence = line[s];
            while (sentence.Length > MaxChars)
            {
                // A "sentence" longer than a segment: flush, then cut it at the last space before the limit.
                if (piece.Length > 0)
                {
                    units.Add(piece.ToString());
                    piece.Clear();
                }
                int cut = sentence[..MaxChars].LastIndexOf(' ');
                if (cut <= 0) cut = MaxChars;
                units.Add(sentence[..cut].TrimEnd().ToString());
                sentence = sentence[cut..].TrimStart();
            }
            if (sentence.IsEmpty) continue;
            if (piece.Length > 0 && piece.Length + 1 + sentence.Length > MaxChars)
            {
                units.Add(piece.ToString());
                piece.Clear();
            }
            if (piece.Length > 0) piece.Append(' ');
            piece.Append(sentence);
        }
        if (piece.Length > 0) units.Add(piece.ToString());
    }

    /// <summary>Sentence ranges of <paramref name="text"/>: a sentence ends after '.', '!' or '?' (and any closing
    /// quotes or brackets) that is followed by white space, or at the end. Abbreviations ("e.g. x") also end
    /// a sentence here: good enough for cutting and for finding repeated sentences.</summary>
    public static List<Range> Sentences(ReadOnlySpan<char> text)
    {
        var result = new List<Range>();
        int start = 0;
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            if (c is '.' or '!' or '?' or '\n')
            {
                int end = i + 1;
                while (end < text.Length && text[end] is '"' or '\'' or ')' or ']' or '\u201D' or '\u2019' or '.' or '!' or '?') end++;
                if (c == '\n' || end >= text.Length || char.IsWhiteSpace(text[end]))
                {
                    AddTrimmed(text, start, end, result);
                    start = end;
                    i = end;
                    continue;
                }
            }
            i++;
        }
        AddTrimmed(text, start, text.Length, result);
        return result;
    }

    private static void AddTrimmed(ReadOnlySpan<char> text, int start, int end, List<Range> result)
    {
        while (start < end && char.IsWhiteSpace(text[start])) start++;
        while (end > start && char.IsWhiteSpace(text[end - 1])) end--;
        if (end > start) result.Add(new Range(start, end));
    }
}
