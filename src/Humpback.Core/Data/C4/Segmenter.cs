namespace Humpback.Data;

/// <summary>Cuts a C4 document into segments of <c>[min, max]</c> characters. C4 has no HTML headers (the
/// paper cut ClueWeb pages at headers), so the document's lines (C4 keeps one paragraph per line) are the
/// units: lines are trimmed, blank ones dropped, a line longer than <c>max</c> is split at sentence ends (a
/// sentence longer than <c>max</c> at the last space before <c>max</c>; spacing inside a line is kept as it
/// is), and the units are packed greedily,
/// joined by "\n", into segments no longer than <c>max</c>. A packed piece shorter than <c>min</c> is dropped
/// as a fragment; a document shorter than <c>min</c> in all is dropped whole.</summary>
public sealed class Segmenter(int minChars, int maxChars)
{
    // Units and the segment being packed are ranges of the document, so only finished segments allocate.
    private readonly List<(int Start, int Length)> _units = new();
    private readonly List<(int Start, int Length)> _current = new();
    private int _currentLength;

    public int MinChars { get; } = minChars;
    public int MaxChars { get; } = maxChars;

    /// <summary>Result of <see cref="Cut"/>: whether the document was too short, and how many fragments were dropped.</summary>
    public readonly record struct Outcome(bool DocumentTooShort, int FragmentsDropped);

    /// <summary>Appends the segments of <paramref name="text"/> to <paramref name="segments"/>.</summary>
    public Outcome Cut(string text, List<string> segments)
    {
        _units.Clear();
        int total = 0;
        int pos = 0;
        while (pos <= text.Length)
        {
            int nl = text.AsSpan(pos).IndexOf('\n');
            int end = nl < 0 ? text.Length : pos + nl;
            (int start, int length) = Trim(text, pos, end);
            if (length > 0)
            {
                total += length + (total > 0 ? 1 : 0);
                if (length <= MaxChars) _units.Add((start, length));
                else SplitLongLine(text, start, length);
            }
            pos = end + 1;
        }
        if (total < MinChars) return new Outcome(true, 0);

        int fragments = 0;
        _current.Clear();
        _currentLength = 0;
        foreach (var unit in _units)
        {
            if (_currentLength > 0 && _currentLength + 1 + unit.Length > MaxChars) fragments += Emit(text, segments);
            _currentLength += (_currentLength > 0 ? 1 : 0) + unit.Length;
            _current.Add(unit);
        }
        fragments += Emit(text, segments);
        return new Outcome(false, fragments);
    }

    private int Emit(string text, List<string> segments)
    {
        int dropped = 0;
        if (_currentLength >= MinChars)
        {
            segments.Add(string.Create(_currentLength, (text, _current), static (span, state) =>
            {
                int at = 0;
                foreach (var (start, length) in state._current)
                {
                    if (at > 0) span[at++] = '\n';
                    state.text.AsSpan(start, length).CopyTo(span[at..]);
                    at += length;
                }
            }));
        }
        else if (_currentLength > 0) dropped = 1;
        _current.Clear();
        _currentLength = 0;
        return dropped;
    }

    private static (int Start, int Length) Trim(string text, int start, int end)
    {
        while (start < end && char.IsWhiteSpace(text[start])) start++;
        while (end > start && char.IsWhiteSpace(text[end - 1])) end--;
        return (start, end - start);
    }

    /// <summary>Cuts an overlong line into pieces of at most <see cref="MaxChars"/> that end at sentence ends (a
    /// piece is a run of whole sentences with the line's own spacing between them).</summary>
    private void SplitLongLine(string text, int lineStart, int lineLength)
    {
        int pieceStart = -1, pieceEnd = -1;
        foreach (Range r in Sentences(text.AsSpan(lineStart, lineLength)))
        {
            int s = lineStart + r.Start.Value, e = lineStart + r.End.Value;
            if (pieceStart >= 0 && e - pieceStart <= MaxChars)
            {
                pieceEnd = e;
                continue;
            }
            if (pieceStart >= 0) _units.Add((pieceStart, pieceEnd - pieceStart));
            pieceStart = -1;
            // A "sentence" longer than a segment: cut it at the last space before the limit.
            while (e - s > MaxChars)
            {
                int cut = text.AsSpan(s, MaxChars).LastIndexOf(' ');
                if (cut <= 0) cut = MaxChars;
                var (ps, pl) = Trim(text, s, s + cut);
                _units.Add((ps, pl));
                (s, int rest) = Trim(text, s + cut, e);
                e = s + rest;
            }
            if (e > s) (pieceStart, pieceEnd) = (s, e);
        }
        if (pieceStart >= 0) _units.Add((pieceStart, pieceEnd - pieceStart));
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
