using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace Humpback.Data;

/// <summary>Writes C4-like json lines (<c>{"text", "timestamp", "url"}</c>) for benchmarks and tests: documents of
/// 1–9 paragraphs of English-looking prose (a Zipf-distributed vocabulary of invented words plus common English
/// words), with the share of bad input a web crawl has: about 3% exact copies of an earlier document, 3% near
/// copies (a few words changed), 2% with a navigation line, 2% with boilerplate, 1% shouting in capitals,
/// 1% with a repeated sentence, and 30% too short to segment. Deterministic for a seed.</summary>
public sealed class SyntheticC4
{
    private static readonly string[] Common =
    [
        "the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
        "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were",
        "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would",
        "who", "so", "no", "what", "about", "up", "out", "into", "than", "them", "some", "time", "only", "also",
    ];

    private static readonly string[] Syllables =
    [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ba", "de", "fi", "go", "hu", "ja", "ke", "li", "mo", "nu",
        "pa", "re", "si", "to", "ve", "wa", "zo", "ar", "en", "is", "on", "ul", "ing", "tion", "ment", "er", "al",
    ];

    private readonly Random _rng;
    private readonly string[] _vocab;
    private readonly double[] _cumulative;
    private readonly List<string> _recent = new();

    public SyntheticC4(long seed)
    {
        // System.Random with a seed is deterministic for a given .NET version; the generator only feeds benchmarks.
        _rng = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
        var vocab = new List<string>(Common);
        var seen = new HashSet<string>(vocab, StringComparer.Ordinal);
        while (vocab.Count < 20_000)
        {
            int n = 1 + _rng.Next(4);
            var sb = new StringBuilder();
            for (int i = 0; i < n; i++) sb.Append(Syllables[_rng.Next(Syllables.Length)]);
            if (seen.Add(sb.ToString())) vocab.Add(sb.ToString());
        }
        _vocab = vocab.ToArray();
        _cumulative = new double[_vocab.Length];
        double total = 0;
        for (int i = 0; i < _vocab.Length; i++)
        {
            total += 1.0 / (i + 1.5);
            _cumulative[i] = total;
        }
        for (int i = 0; i < _vocab.Length; i++) _cumulative[i] /= total;
    }

    /// <summary>Writes documents until about <paramref name="targetBytes"/> of json lines; gzip when the path ends in ".gz".
    /// Returns the number of documents.</summary>
    public static long WriteFile(string path, long targetBytes, long seed)
    {
        long docs = 0;
        Humpback.IO.AtomicFile.Write(path, fs =>
        {
            Stream s = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(fs, CompressionLevel.Fastest, leaveOpen: true) : fs;
            try { docs = new SyntheticC4(seed).Write(s, targetBytes); }
            finally { if (s != fs) s.Dispose(); }
        });
        return docs;
    }

    public long Write(Stream output, long targetBytes)
    {
        var counter = new CountingStream(output);
        long docs = 0;
        using (var w = new Utf8JsonWriter(counter, new JsonWriterOptions { SkipValidation = true }))
        {
            while (counter.Written < targetBytes)
            {
                string text = Document();
                w.WriteStartObject();
                w.WriteString("text", text);
                w.WriteString("timestamp", new DateTime(2019, 4, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds(_rng.Next(30 * 86400)).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
                w.WriteString("url", $"https://{Word()}{Word()}.example.com/{Word()}/{docs}");
                w.WriteEndObject();
                w.Flush();
                w.Reset();
                counter.WriteByte((byte)'\n');
                docs++;
            }
        }
        return docs;
    }

    private string Document()
    {
        int kind = _rng.Next(100);
        if (kind < 3 && _recent.Count > 0) return _recent[_rng.Next(_recent.Count)];
        if (kind < 6 && _recent.Count > 0) return Mutate(_recent[_rng.Next(_recent.Count)]);
        var sb = new StringBuilder();
        int paragraphs = kind >= 70 ? 1 : 1 + _rng.Next(9);
        for (int p = 0; p < paragraphs; p++)
        {
            if (p > 0) sb.Append('\n');
            int sentences = kind >= 70 ? 1 + _rng.Next(2) : 1 + _rng.Next(6);
            for (int s = 0; s < sentences; s++)
            {
                if (s > 0) sb.Append(' ');
                sb.Append(Sentence());
            }
        }
        if (kind is >= 6 and < 8) sb.Insert(0, "Home | About Us | Contact | Blog\n");
        else if (kind is >= 8 and < 10) sb.Append("\nClick here to subscribe to our newsletter.");
        else if (kind == 10) return sb.ToString().ToUpperInvariant();
        else if (kind == 11)
        {
            string repeated = Sentence();
            sb.Append('\n').Append(repeated).Append(' ').Append(Sentence()).Append(' ').Append(repeated);
        }
        string text = sb.ToString();
        if (_recent.Count < 256) _recent.Add(text);
        else _recent[_rng.Next(_recent.Count)] = text;
        return text;
    }

    private string Mutate(string text)
    {
        string[] words = text.Split(' ');
        for (int i = 0; i < 3; i++) words[_rng.Next(words.Length)] = Word();
        return string.Join(' ', words);
    }

    private string Sentence()
    {
        int n = 6 + _rng.Next(15);
        var sb = new StringBuilder();
        for (int i = 0; i < n; i++)
        {
            string w = Word();
            if (i == 0) sb.Append(char.ToUpperInvariant(w[0])).Append(w, 1, w.Length - 1);
            else sb.Append(' ').Append(w);
            if (i < n - 1 && _rng.Next(12) == 0) sb.Append(',');
        }
        sb.Append(_rng.Next(20) == 0 ? '?' : '.');
        return sb.ToString();
    }

    private string Word()
    {
        int i = Array.BinarySearch(_cumulative, _rng.NextDouble());
        return _vocab[Math.Min(i < 0 ? ~i : i, _vocab.Length - 1)];
    }

    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Written { get; private set; }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Written;
        public override long Position { get => Written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            Written += buffer.Length;
        }
        public override void WriteByte(byte value)
        {
            inner.WriteByte(value);
            Written++;
        }
    }
}
