using System.IO.Compression;
using System.Text;

namespace Humpback.Formats;

/// <summary>Options of <see cref="BpeTrainer"/>.</summary>
public sealed record BpeTrainerOptions
{
    /// <summary>Total vocabulary: 256 byte tokens + merges + special tokens.</summary>
    public int VocabSize { get; init; } = 4096;
    /// <summary>Added after the learned tokens, in this order, as control tokens.</summary>
    public IReadOnlyList<string> SpecialTokens { get; init; } = HumpbackTokenizer.Llama3SpecialTokens;
    /// <summary>A pair seen fewer times than this is never merged (training stops early if nothing is left).</summary>
    public int MinPairFrequency { get; init; } = 1;
    public string? ChatTemplate { get; init; } = HumpbackTokenizer.Llama3ChatTemplate;
}

/// <summary>Trains a byte-level BPE tokenizer the way GPT-2/Llama 3 tokenizers are built: words from the Llama-3
/// pre-tokenizer, as GPT-2 byte-level text, start as single bytes (ids 0–255 in byte order); each step merges the
/// most frequent adjacent pair over the corpus (ties: the pair with the smaller left id, then smaller right id)
/// into a new token. Counts are updated incrementally (only the words containing the merged pair are revisited),
/// with a max-heap whose stale entries are re-queued on pop — pair counts only fall except for pairs that contain
/// the new token, which are queued fresh.</summary>
public static class BpeTrainer
{
    public static HumpbackTokenizer Train(IEnumerable<string> texts, BpeTrainerOptions options)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string text in texts) CountWords(text, counts);
        return TrainFromWordCounts(counts, options);
    }

    /// <summary>Trains on text files (UTF-8; .gz decompressed), read in blocks cut at line ends.</summary>
    public static HumpbackTokenizer TrainFromFiles(IEnumerable<string> paths, BpeTrainerOptions options)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string path in paths)
        {
            foreach (string block in ReadBlocks(path)) CountWords(block, counts);
        }
        return TrainFromWordCounts(counts, options);
    }

    private static IEnumerable<string> ReadBlocks(string path)
    {
        using Stream file = File.OpenRead(path);
        using Stream s = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var reader = new StreamReader(s, new UTF8Encoding(false, false));
        char[] buf = new char[1 << 20];
        var carry = new StringBuilder();
        int n;
        while ((n = reader.ReadBlock(buf, 0, buf.Length)) > 0)
        {
            int cut = Array.LastIndexOf(buf, '\n', n - 1);
            if (cut < 0)
            {
                carry.Append(buf, 0, n);
                continue;
            }
            carry.Append(buf, 0, cut + 1);
            yield return carry.ToString();
            carry.Clear();
            carry.Append(buf, cut + 1, n - cut - 1);
        }
        if (carry.Length > 0) yield return carry.ToString();
    }

    private static void CountWords(string text, Dictionary<string, long> counts)
    {
        foreach (string w in Llama3PreTokenizer.SplitText(text))
        {
            System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(counts, w, out _)++;
        }
    }

    private sealed class PairOrder : IComparer<(long Count, int Left, int Right)>
    {
        public static readonly PairOrder Instance = new();
        // PriorityQueue is a min-heap: "smaller" = higher count, then smaller left, then smaller right.
        public int Compare((long Count, int Left, int Right) x, (long Count, int Left, int Right) y) =>
            x.Count != y.Count ? y.Count.CompareTo(x.Count) : x.Left != y.Left ? x.Left.CompareTo(y.Left) : x.Right.CompareTo(y.Right);
    }

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    /// <summary>Trains from word → count (words as plain text, as the pre-tokenizer produced them).</summary>
    public static HumpbackTokenizer TrainFromWordCounts(IReadOnlyDictionary<string, long> wordCounts, BpeTrainerOptions options)
    {
        int specials = options.SpecialTokens.Count;
        if (options.SpecialTokens.Distinct(StringComparer.Ordinal).Count() != specials)
            throw new ArgumentException("special tokens must be distinct", nameof(options));
        if (options.VocabSize < 256 + specials)
            throw new ArgumentException($"vocab size {options.VocabSize} is below 256 byte tokens + {specials} special tokens", nameof(options));
        int targetTokens = options.VocabSize - specials;

        var tokens = new List<string>(targetTokens);
        var tokenId = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int b = 0; b < 256; b++)
        {
            tokens.Add(ByteLevel.Char((byte)b).ToString());
            tokenId[tokens[b]] = b;
        }

        // Words as symbol arrays, visited in a fixed order so that training is deterministic.
        var words = new List<int[]>(wordCounts.Count);
        var freq = new List<long>(wordCounts.Count);
        foreach (var (w, c) in wordCounts.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            byte[] bytes = Encoding.UTF8.GetBytes(w);
            words.Add(bytes.Select(b => (int)b).ToArray());
            freq.Add(c);
        }

        var pairCount = new Dictionary<long, long>();
        var pairWords = new Dictionary<long, HashSet<int>>();
        for (int wi = 0; wi < words.Count; wi++)
        {
            int[] s = words[wi];
            for (int j = 0; j + 1 < s.Length; j++)
            {
                long k = Key(s[j], s[j + 1]);
                System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(pairCount, k, out _) += freq[wi];
                if (!pairWords.TryGetValue(k, out var set)) pairWords[k] = set = [];
                set.Add(wi);
            }
        }
        var heap = new PriorityQueue<long, (long, int, int)>(PairOrder.Instance);
        foreach (var (k, c) in pairCount) heap.Enqueue(k, (c, (int)(k >> 32), (int)k));

        var merges = new List<(string, string)>();
        while (tokens.Count < targetTokens && heap.TryDequeue(out long pair, out var prio))
        {
            long actual = pairCount.GetValueOrDefault(pair);
            if (actual != prio.Item1)
            {
                if (actual > 0) heap.Enqueue(pair, (actual, prio.Item2, prio.Item3));
                continue;
            }
            if (actual < Math.Max(1, options.MinPairFrequency)) break;
            int a = prio.Item2, b = prio.Item3;
            string merged = tokens[a] + tokens[b];
            if (!tokenId.TryGetValue(merged, out int newId))
            {
                newId = tokens.Count;
                tokens.Add(merged);
                tokenId[merged] = newId;
            }
            merges.Add((tokens[a], tokens[b]));

            var touched = new HashSet<long>();
            foreach (int wi in pairWords[pair].Order())
            {
                int[] s = words[wi];
                if (!Contains(s, a, b)) continue;
                long c = freq[wi];
                for (int j = 0; j + 1 < s.Length; j++) pairCount[Key(s[j], s[j + 1])] -= c;
                int[] m = Merge(s, a, b, newId);
                words[wi] = m;
                for (int j = 0; j + 1 < m.Length; j++)
                {
                    long k = Key(m[j], m[j + 1]);
                    System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(pairCount, k, out _) += c;
                    if (m[j] == newId || m[j + 1] == newId)
                    {
                        if (!pairWords.TryGetValue(k, out var set)) pairWords[k] = set = [];
                        set.Add(wi);
                        touched.Add(k);
                    }
                }
            }
            pairCount.Remove(pair);
            pairWords.Remove(pair);
            foreach (long k in touched.Order())
            {
                long c = pairCount[k];
                if (c > 0) heap.Enqueue(k, (c, (int)(k >> 32), (int)k));
            }
        }

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < tokens.Count; i++) vocab[tokens[i]] = i;
        var added = options.SpecialTokens.Select((t, i) => new AddedToken(tokens.Count + i, t, Special: true)).ToList();
        string? bos = options.SpecialTokens.Contains(HumpbackTokenizer.BeginOfText) ? HumpbackTokenizer.BeginOfText : null;
        string? eos = options.SpecialTokens.Contains(HumpbackTokenizer.EndOfText) ? HumpbackTokenizer.EndOfText : null;
        return new HumpbackTokenizer(vocab, merges, added, bos, eos, null, options.ChatTemplate, "trained tokenizer");
    }

    private static bool Contains(int[] s, int a, int b)
    {
        for (int j = 0; j + 1 < s.Length; j++)
        {
            if (s[j] == a && s[j + 1] == b) return true;
        }
        return false;
    }

    /// <summary>Replaces non-overlapping (a, b) pairs left to right.</summary>
    private static int[] Merge(int[] s, int a, int b, int id)
    {
        var r = new List<int>(s.Length);
        for (int j = 0; j < s.Length; j++)
        {
            if (j + 1 < s.Length && s[j] == a && s[j + 1] == b)
            {
                r.Add(id);
                j++;
            }
            else
            {
                r.Add(s[j]);
            }
        }
        return r.ToArray();
    }
}
