using System.Runtime.CompilerServices;

namespace Humpback.Data;

/// <summary>The words of a segment as 64-bit hashes of their lower-cased letters and digits (everything else
/// separates words), grouped by sentence. One pass over the text feeds exact dedup (hash of the word sequence),
/// MinHash shingles and the repeated-sentence filter.</summary>
public sealed class SegmentWords
{
    private const ulong FnvOffset = 14695981039346656037UL;
    private const ulong FnvPrime = 1099511628211UL;

    private readonly List<ulong> _words = new();
    private readonly List<int> _sentenceStarts = new();

    public int Count => _words.Count;
    public int SentenceCount => _sentenceStarts.Count;

    public ReadOnlySpan<ulong> Words => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_words);

    /// <summary>Words of sentence <paramref name="s"/>.</summary>
    public ReadOnlySpan<ulong> Sentence(int s)
    {
        int start = _sentenceStarts[s];
        int end = s + 1 < _sentenceStarts.Count ? _sentenceStarts[s + 1] : _words.Count;
        return Words[start..end];
    }

    /// <summary>Letters in the text, and how many of them are upper-case (for the caps filter).</summary>
    public int Letters { get; private set; }
    public int UpperLetters { get; private set; }

    /// <summary>One pass over <paramref name="text"/>: words, sentence boundaries (the rules of
    /// <see cref="Segmenter.Sentences"/>), letter counts.</summary>
    public void Analyse(string text)
    {
        _words.Clear();
        _sentenceStarts.Clear();
        _sentenceStarts.Add(0);
        int letters = 0, upper = 0;
        ulong h = FnvOffset;
        bool inWord = false;
        ReadOnlySpan<char> s = text;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            bool wordChar;
            if (char.IsAsciiLetter(c))
            {
                letters++;
                if (c <= 'Z')
                {
                    upper++;
                    c = (char)(c | 0x20);
                }
                wordChar = true;
            }
            else if (char.IsAsciiDigit(c)) wordChar = true;
            else if (c > 127 && char.IsLetterOrDigit(c))
            {
                if (char.IsLetter(c))
                {
                    letters++;
                    if (char.IsUpper(c)) upper++;
                }
                c = char.ToLowerInvariant(c);
                wordChar = true;
            }
            else wordChar = false;

            if (wordChar)
            {
                h ^= c;
                h *= FnvPrime;
                inWord = true;
                continue;
            }
            if (inWord)
            {
                _words.Add(StableHash.Mix(h));
                h = FnvOffset;
                inWord = false;
            }
            if (c == '\n' || ((c is '.' or '!' or '?') && EndsSentence(s, i))) MarkSentenceEnd();
        }
        if (inWord) _words.Add(StableHash.Mix(h));
        if (_sentenceStarts.Count > 1 && _sentenceStarts[^1] == _words.Count) _sentenceStarts.RemoveAt(_sentenceStarts.Count - 1);
        Letters = letters;
        UpperLetters = upper;
    }

    private static bool EndsSentence(ReadOnlySpan<char> s, int i)
    {
        int end = i + 1;
        while (end < s.Length && s[end] is '"' or '\'' or ')' or ']' or '\u201D' or '\u2019' or '.' or '!' or '?') end++;
        return end >= s.Length || char.IsWhiteSpace(s[end]);
    }

    private void MarkSentenceEnd()
    {
        if (_words.Count > _sentenceStarts[^1]) _sentenceStarts.Add(_words.Count);
    }

    /// <summary>Hash of the normalised text (the word sequence): equal for texts that differ only in case,
    /// punctuation or spacing.</summary>
    public ulong ExactHash()
    {
        ulong h = 0x243F6A8885A308D3UL;
        foreach (ulong w in Words) h = Combine(h, w);
        return StableHash.Mix(h ^ (ulong)Count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Combine(ulong h, ulong w) => (h ^ w) * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL;
}
