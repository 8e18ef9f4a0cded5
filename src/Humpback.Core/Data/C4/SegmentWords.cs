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

    public void Analyse(string text)
    {
        _words.Clear();
        _sentenceStarts.Clear();
        foreach (Range r in Segmenter.Sentences(text))
        {
            _sentenceStarts.Add(_words.Count);
            AddWords(text.AsSpan(r));
        }
    }

    private void AddWords(ReadOnlySpan<char> s)
    {
        ulong h = FnvOffset;
        bool inWord = false;
        foreach (char c in s)
        {
            if (char.IsAsciiLetterOrDigit(c) || (c > 127 && char.IsLetterOrDigit(c)))
            {
                h ^= char.ToLowerInvariant(c);
                h *= FnvPrime;
                inWord = true;
            }
            else if (inWord)
            {
                _words.Add(StableHash.Mix(h));
                h = FnvOffset;
                inWord = false;
            }
        }
        if (inWord) _words.Add(StableHash.Mix(h));
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
