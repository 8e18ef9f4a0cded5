using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Encodings.Web;

namespace Humpback.Formats;

/// <summary>llama.cpp / GGUF token types (llama_token_type).</summary>
public enum TokenType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>An entry of tokenizer.json "added_tokens": raw text (not byte-level); special ones are control tokens.</summary>
public sealed record AddedToken(int Id, string Content, bool Special = true);

/// <summary>A Llama-3 byte-level BPE tokenizer (HF tokenizer.json) that produces exactly llama.cpp's ids:
/// special tokens are split out first (longest first, as llama.cpp's tokenizer_st_partition does), each
/// remaining fragment is pre-tokenized (<see cref="Llama3PreTokenizer"/>), each word is mapped to GPT-2
/// byte-level text, taken whole when the vocabulary has it ("ignore_merges", as for llama-bpe), and otherwise
/// merged pair by pair in merge-rank order (ties: leftmost first); a final piece outside the vocabulary falls
/// back to its byte tokens. Thread-safe.</summary>
public sealed class HumpbackTokenizer
{
    public const string TokenizerFile = "tokenizer.json";
    public const string ConfigFile = "tokenizer_config.json";

    public const string BeginOfText = "<|begin_of_text|>";
    public const string EndOfText = "<|end_of_text|>";
    public const string EotId = "<|eot_id|>";
    public const string StartHeader = "<|start_header_id|>";
    public const string EndHeader = "<|end_header_id|>";
    public const string FinetunePad = "<|finetune_right_pad_id|>";

    /// <summary>Llama 3's named special tokens in Meta's order (ids 128000–128010 in Llama 3.1/3.2).</summary>
    public static readonly IReadOnlyList<string> Llama3SpecialTokens =
    [
        BeginOfText, EndOfText, "<|reserved_special_token_0|>", "<|reserved_special_token_1|>", FinetunePad,
        "<|reserved_special_token_2|>", StartHeader, EndHeader, "<|eom_id|>", EotId, "<|python_tag|>",
    ];

    /// <summary>Meta's Llama-3 chat template (as in Meta-Llama-3-8B-Instruct's tokenizer_config.json).</summary>
    public const string Llama3ChatTemplate =
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

    private readonly string?[] _tokens;                 // id → token text (byte-level for normal tokens, raw for added ones)
    private readonly TokenType[] _types;
    private readonly Dictionary<string, int> _tokenToId;
    private readonly (string Left, string Right)[] _merges;
    private readonly AddedToken[] _added;
    private readonly AddedToken[] _partitionOrder;       // added tokens, longest text first

    // BPE over interned symbols: every string that occurs in a merge (left, right, result) and every byte char.
    private readonly Dictionary<long, (int Rank, int Result)> _mergeBySymbols = new();
    private readonly int[] _byteSymbol = new int[256];
    private readonly int[] _byteToken = new int[256];
    private readonly List<int> _symbolToken = new();    // symbol → token id or -1
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private const int MaxCacheEntries = 200_000;

    /// <param name="vocab">model.vocab: byte-level token text → id.</param>
    /// <param name="merges">model.merges in rank order.</param>
    /// <param name="addedTokens">added_tokens (may repeat entries of the vocab).</param>
    public HumpbackTokenizer(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges,
        IReadOnlyList<AddedToken> addedTokens, string? bosToken = BeginOfText, string? eosToken = EndOfText,
        string? padToken = null, string? chatTemplate = null, string source = "tokenizer")
    {
        int size = 0;
        foreach (int id in vocab.Values)
        {
            if (id < 0) throw new InvalidDataException($"{source}: model.vocab: negative id {id}");
            size = Math.Max(size, id + 1);
        }
        foreach (AddedToken a in addedTokens)
        {
            if (a.Id < 0) throw new InvalidDataException($"{source}: added_tokens: negative id {a.Id}");
            size = Math.Max(size, a.Id + 1);
        }
        _tokens = new string?[size];
        _types = new TokenType[size];
        _tokenToId = new Dictionary<string, int>(size, StringComparer.Ordinal);
        foreach (var (text, id) in vocab)
        {
            if (_tokens[id] != null) throw new InvalidDataException($"{source}: model.vocab: id {id} is given to both '{_tokens[id]}' and '{text}'");
            _tokens[id] = text;
            _types[id] = TokenType.Normal;
            _tokenToId[text] = id;
        }
        var added = new List<AddedToken>();
        foreach (AddedToken a in addedTokens)
        {
            if (_tokens[a.Id] != null && _tokens[a.Id] != a.Content)
                throw new InvalidDataException($"{source}: added_tokens: id {a.Id} is '{a.Content}' but model.vocab gives it '{_tokens[a.Id]}'");
            if (_tokenToId.TryGetValue(a.Content, out int other) && other != a.Id)
                throw new InvalidDataException($"{source}: added_tokens: '{a.Content}' has id {a.Id} and id {other}");
            _tokens[a.Id] = a.Content;
            _types[a.Id] = a.Special ? TokenType.Control : TokenType.UserDefined;
            _tokenToId[a.Content] = a.Id;
            added.Add(a);
        }
        for (int i = 0; i < size; i++)
        {
            if (_tokens[i] == null) _types[i] = TokenType.Unused;
        }
        _added = added.OrderBy(a => a.Id).ToArray();
        _partitionOrder = _added.OrderByDescending(a => a.Content.Length).ThenBy(a => a.Id).ToArray();
        _merges = merges.ToArray();

        var symbols = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int b = 0; b < 256; b++)
        {
            string ch = ByteLevel.Char((byte)b).ToString();
            _byteSymbol[b] = Intern(ch, symbols);
            _byteToken[b] = _tokenToId.TryGetValue(ch, out int id) ? id : -1;
            if (_byteToken[b] < 0)
                throw new InvalidDataException($"{source}: model.vocab: byte 0x{b:X2} (byte-level '{ch}') has no token; a byte-level BPE vocabulary needs all 256");
        }
        for (int r = 0; r < _merges.Length; r++)
        {
            var (l, rt) = _merges[r];
            if (!_tokenToId.ContainsKey(l) || !_tokenToId.ContainsKey(rt) || !_tokenToId.ContainsKey(l + rt))
                throw new InvalidDataException($"{source}: model.merges[{r}]: '{l} {rt}' uses a token that is not in model.vocab");
            int ls = Intern(l, symbols), rs = Intern(rt, symbols), res = Intern(l + rt, symbols);
            _mergeBySymbols.TryAdd(Key(ls, rs), (r, res)); // a repeated merge keeps its first (lowest) rank
        }

        BosId = bosToken != null && _tokenToId.TryGetValue(bosToken, out int bos) ? bos : -1;
        EosId = eosToken != null && _tokenToId.TryGetValue(eosToken, out int eos) ? eos : -1;
        EotTokenId = _tokenToId.TryGetValue(EotId, out int eot) ? eot : -1;
        PadId = padToken != null && _tokenToId.TryGetValue(padToken, out int pad) ? pad
            : _tokenToId.TryGetValue(FinetunePad, out int fpad) ? fpad : -1;
        ChatTemplate = chatTemplate;
    }

    private int Intern(string text, Dictionary<string, int> symbols)
    {
        if (symbols.TryGetValue(text, out int s)) return s;
        s = _symbolToken.Count;
        _symbolToken.Add(_tokenToId.TryGetValue(text, out int id) ? id : -1);
        symbols[text] = s;
        return s;
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>Number of token ids (highest id + 1); a model's vocab_size must be at least this.</summary>
    public int VocabSize => _tokens.Length;
    /// <summary>&lt;|begin_of_text|&gt; (or tokenizer_config's bos_token); -1 if none.</summary>
    public int BosId { get; }
    /// <summary>&lt;|end_of_text|&gt; (or tokenizer_config's eos_token); -1 if none.</summary>
    public int EosId { get; }
    /// <summary>&lt;|eot_id|&gt;, the end of a chat turn; -1 if none.</summary>
    public int EotTokenId { get; }
    /// <summary>&lt;|finetune_right_pad_id|&gt; (or tokenizer_config's pad_token); -1 if none.</summary>
    public int PadId { get; }
    public string? ChatTemplate { get; }
    public IReadOnlyList<(string Left, string Right)> Merges => _merges;
    public IReadOnlyList<AddedToken> AddedTokens => _added;

    /// <summary>Token text by id: byte-level text for normal tokens, raw text for added tokens, null for holes.</summary>
    public string? TokenText(int id) => _tokens[id];
    public TokenType Type(int id) => _types[id];
    public int? TokenId(string text) => _tokenToId.TryGetValue(text, out int id) ? id : null;

    /// <summary>Encodes <paramref name="text"/>. <paramref name="addBos"/> prepends BOS (llama.cpp's add_special for
    /// llama-bpe); <paramref name="parseSpecial"/> turns special-token text such as &lt;|eot_id|&gt; into its id
    /// (otherwise it is tokenized as plain text).</summary>
    public int[] Encode(string text, bool addBos = false, bool parseSpecial = false)
    {
        var ids = new List<int>(text.Length / 3 + 2);
        if (addBos && BosId >= 0) ids.Add(BosId);
        foreach (var (fragment, special) in Partition(text, parseSpecial))
        {
            if (special >= 0) ids.Add(special);
            else EncodeOrdinary(fragment!, ids);
        }
        return ids.ToArray();
    }

    /// <summary>Splits out added tokens: for each one, longest first, every raw fragment is cut at its
    /// occurrences (llama.cpp tokenizer_st_partition). Control tokens only when <paramref name="parseSpecial"/>.</summary>
    private List<(string? Text, int Special)> Partition(string text, bool parseSpecial)
    {
        var frags = new List<(string? Text, int Special)> { (text, -1) };
        if (text.Length == 0) return frags;
        foreach (AddedToken a in _partitionOrder)
        {
            if (a.Special && !parseSpecial) continue;
            if (a.Content.Length == 0) continue;
            for (int f = 0; f < frags.Count; f++)
            {
                string? s = frags[f].Text;
                if (s == null || s.Length < a.Content.Length) continue;
                int at = s.IndexOf(a.Content, StringComparison.Ordinal);
                if (at < 0) continue;
                var parts = new List<(string?, int)>();
                int start = 0;
                while (at >= 0)
                {
                    if (at > start) parts.Add((s[start..at], -1));
                    parts.Add((null, a.Id));
                    start = at + a.Content.Length;
                    at = s.IndexOf(a.Content, start, StringComparison.Ordinal);
                }
                if (start < s.Length) parts.Add((s[start..], -1));
                frags.RemoveAt(f);
                frags.InsertRange(f, parts);
                f += parts.Count - 1;
            }
        }
        return frags;
    }

    private void EncodeOrdinary(string text, List<int> ids)
    {
        int[] cps = Llama3PreTokenizer.CodePoints(text);
        Span<byte> utf8 = stackalloc byte[4];
        var word = new List<byte>(64);
        foreach (var (start, len) in Llama3PreTokenizer.Split(cps))
        {
            word.Clear();
            for (int i = start; i < start + len; i++)
            {
                int n = new Rune(cps[i]).EncodeToUtf8(utf8);
                for (int k = 0; k < n; k++) word.Add(utf8[k]);
            }
            string bl = ByteLevel.Encode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(word));
            if (_cache.TryGetValue(bl, out int[]? cached))
            {
                ids.AddRange(cached);
                continue;
            }
            int[] wordIds = EncodeWord(bl, word);
            if (_cache.Count < MaxCacheEntries) _cache.TryAdd(bl, wordIds);
            ids.AddRange(wordIds);
        }
    }

    /// <summary>BPE of one word (llama.cpp llm_tokenizer_bpe_session): <paramref name="byteLevel"/> is its byte-level text.</summary>
    private int[] EncodeWord(string byteLevel, List<byte> bytes)
    {
        if (_tokenToId.TryGetValue(byteLevel, out int whole)) return [whole]; // ignore_merges
        int n = bytes.Count;
        var sym = new int[n];
        var prev = new int[n];
        var next = new int[n];
        var len = new int[n]; // bytes covered; 0 = merged away
        for (int i = 0; i < n; i++)
        {
            sym[i] = _byteSymbol[bytes[i]];
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            len[i] = 1;
        }
        var queue = new PriorityQueue<(int Left, int Right, int LeftSym, int RightSym, int Result), (int Rank, int Left)>();
        void Push(int left, int right)
        {
            if (left < 0 || right < 0) return;
            if (_mergeBySymbols.TryGetValue(Key(sym[left], sym[right]), out var m))
                queue.Enqueue((left, right, sym[left], sym[right], m.Result), (m.Rank, left));
        }
        for (int i = 1; i < n; i++) Push(i - 1, i);
        while (queue.TryDequeue(out var b, out _))
        {
            if (len[b.Left] == 0 || len[b.Right] == 0 || sym[b.Left] != b.LeftSym || sym[b.Right] != b.RightSym || next[b.Left] != b.Right) continue;
            sym[b.Left] = b.Result;
            len[b.Left] += len[b.Right];
            len[b.Right] = 0;
            next[b.Left] = next[b.Right];
            if (next[b.Right] >= 0) prev[next[b.Right]] = b.Left;
            Push(prev[b.Left], b.Left);
            Push(b.Left, next[b.Left]);
        }
        var ids = new List<int>();
        for (int i = 0; i >= 0; i = next[i])
        {
            int id = _symbolToken[sym[i]];
            if (id >= 0)
            {
                ids.Add(id);
                continue;
            }
            for (int k = i; k < i + len[i]; k++) ids.Add(_byteToken[bytes[k]]);
        }
        return ids.ToArray();
    }

    /// <summary>Text of <paramref name="ids"/>: byte-level tokens become their bytes, added tokens their text
    /// (omitted when <paramref name="skipSpecial"/>); invalid UTF-8 becomes U+FFFD.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecial = false)
    {
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)_tokens.Length || _tokens[id] is not { } text) continue;
            TokenType t = _types[id];
            if (t is TokenType.Control or TokenType.UserDefined)
            {
                if (t == TokenType.Control && skipSpecial) continue;
                bytes.AddRange(Encoding.UTF8.GetBytes(text));
            }
            else if (!ByteLevel.TryDecode(text, bytes))
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(text));
            }
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>The same vocabulary and merges as a Microsoft.ML.Tokenizers <see cref="Microsoft.ML.Tokenizers.BpeTokenizer"/>
    /// (byte-level, Llama-3 regex, added tokens split out), for code that wants that API. It gives our ids except where
    /// .NET's UTF-16 regex misreads letters and digits outside the BMP, and where ignore_merges matters (it always merges).</summary>
    public Microsoft.ML.Tokenizers.BpeTokenizer ToMlTokenizer()
    {
        var specials = _added.ToDictionary(a => a.Content, a => a.Id, StringComparer.Ordinal);
        var vocab = new List<KeyValuePair<string, int>>();
        for (int id = 0; id < _tokens.Length; id++)
        {
            if (_tokens[id] is { } t && _types[id] == TokenType.Normal) vocab.Add(new(t, id));
        }
        return Microsoft.ML.Tokenizers.BpeTokenizer.Create(new Microsoft.ML.Tokenizers.BpeOptions(vocab)
        {
            Merges = _merges.Select(m => m.Left + " " + m.Right).ToList(),
            SpecialTokens = specials,
            ByteLevel = true,
            PreTokenizer = new Microsoft.ML.Tokenizers.RegexPreTokenizer(
                new System.Text.RegularExpressions.Regex(Llama3PreTokenizer.Pattern, System.Text.RegularExpressions.RegexOptions.CultureInvariant), specials),
        });
    }

    // ---- tokenizer.json / tokenizer_config.json -------------------------------------------------------------

    /// <summary>Loads tokenizer.json (and tokenizer_config.json when present) from a folder.</summary>
    public static HumpbackTokenizer Load(string dir)
    {
        string path = Path.Combine(dir, TokenizerFile);
        if (!File.Exists(path)) throw new InvalidDataException($"{path}: missing");
        string cfgPath = Path.Combine(dir, ConfigFile);
        string? cfg = File.Exists(cfgPath) ? File.ReadAllText(cfgPath) : null;
        return Parse(File.ReadAllText(path), cfg, path, cfgPath);
    }

    public static HumpbackTokenizer Parse(string tokenizerJson, string? configJson = null, string source = TokenizerFile, string configSource = ConfigFile)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(tokenizerJson);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: expected a JSON object");
            if (!root.TryGetProperty("model", out JsonElement model) || model.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{source}: model: missing");
            var m = new JsonFields(model, source, "model.");
            string type = m.OptString("type") ?? "BPE";
            if (type != "BPE") throw new InvalidDataException($"{source}: model.type: '{type}' is not supported (expected BPE)");
            if (m.OptBool("byte_fallback") == true) throw new InvalidDataException($"{source}: model.byte_fallback: true is not supported (byte-level BPE)");
            if (!string.IsNullOrEmpty(m.OptString("continuing_subword_prefix")) || !string.IsNullOrEmpty(m.OptString("end_of_word_suffix")))
                throw new InvalidDataException($"{source}: model.continuing_subword_prefix/end_of_word_suffix: not supported");
            if (root.TryGetProperty("normalizer", out JsonElement norm) && norm.ValueKind != JsonValueKind.Null)
                throw new InvalidDataException($"{source}: normalizer: not supported (Llama 3 has none)");
            CheckPreTokenizer(root, source);

            if (!model.TryGetProperty("vocab", out JsonElement vocabEl) || vocabEl.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{source}: model.vocab: missing or not an object");
            var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (JsonProperty p in vocabEl.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id))
                    throw new InvalidDataException($"{source}: model.vocab.{p.Name}: expected an integer id");
                vocab[p.Name] = id;
            }
            var merges = new List<(string, string)>();
            if (model.TryGetProperty("merges", out JsonElement mergesEl) && mergesEl.ValueKind == JsonValueKind.Array)
            {
                int i = 0;
                foreach (JsonElement e in mergesEl.EnumerateArray())
                {
                    if (e.ValueKind == JsonValueKind.String)
                    {
                        string s = e.GetString()!;
                        int sp = s.IndexOf(' ', StringComparison.Ordinal);
                        if (sp <= 0 || sp == s.Length - 1 || s.IndexOf(' ', sp + 1) >= 0)
                            throw new InvalidDataException($"{source}: model.merges[{i}]: '{s}' is not two tokens separated by one space");
                        merges.Add((s[..sp], s[(sp + 1)..]));
                    }
                    else if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 2 && e[0].ValueKind == JsonValueKind.String && e[1].ValueKind == JsonValueKind.String)
                    {
                        merges.Add((e[0].GetString()!, e[1].GetString()!));
                    }
                    else
                    {
                        throw new InvalidDataException($"{source}: model.merges[{i}]: expected \"a b\" or [\"a\", \"b\"]");
                    }
                    i++;
                }
            }
            else
            {
                throw new InvalidDataException($"{source}: model.merges: missing or not an array");
            }
            var added = new List<AddedToken>();
            if (root.TryGetProperty("added_tokens", out JsonElement addedEl) && addedEl.ValueKind == JsonValueKind.Array)
            {
                int i = 0;
                foreach (JsonElement e in addedEl.EnumerateArray())
                {
                    var a = new JsonFields(e, source, $"added_tokens[{i}].");
                    added.Add(new AddedToken(a.ReqInt("id"), a.ReqString("content"), a.OptBool("special") ?? false));
                    i++;
                }
            }

            string? bos = null, eos = null, pad = null, template = null;
            bool haveConfig = configJson != null;
            if (haveConfig) (bos, eos, pad, template) = ParseConfig(configJson!, configSource);
            return new HumpbackTokenizer(vocab, merges, added,
                haveConfig ? bos : BeginOfText, haveConfig ? eos : EndOfText, pad, template, source);
        }
    }

    private static void CheckPreTokenizer(JsonElement root, string source)
    {
        if (!root.TryGetProperty("pre_tokenizer", out JsonElement pre) || pre.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{source}: pre_tokenizer: missing (expected the Llama-3 Split + ByteLevel)");
        var items = new List<JsonElement>();
        if (pre.TryGetProperty("type", out JsonElement t) && t.GetString() == "Sequence" && pre.TryGetProperty("pretokenizers", out JsonElement seq))
            items.AddRange(seq.EnumerateArray());
        else
            items.Add(pre);
        bool split = false, byteLevel = false;
        foreach (JsonElement p in items)
        {
            string? type = p.TryGetProperty("type", out JsonElement pt) ? pt.GetString() : null;
            if (type == "Split" && p.TryGetProperty("pattern", out JsonElement pat) && pat.ValueKind == JsonValueKind.Object
                && pat.TryGetProperty("Regex", out JsonElement rx) && rx.GetString() is Llama3PreTokenizer.Pattern or Llama3PreTokenizer.PatternLlamaCpp)
                split = true;
            else if (type == "ByteLevel" && !(p.TryGetProperty("use_regex", out JsonElement ur) && ur.ValueKind == JsonValueKind.True))
                byteLevel = true;
            else
                throw new InvalidDataException($"{source}: pre_tokenizer: '{type}' {p} is not supported (only Llama 3's Split regex + ByteLevel without regex)");
        }
        if (!split || !byteLevel)
            throw new InvalidDataException($"{source}: pre_tokenizer: expected Llama 3's Split regex followed by ByteLevel");
    }

    private static (string? Bos, string? Eos, string? Pad, string? Template) ParseConfig(string json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            JsonElement r = doc.RootElement;
            if (r.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: expected a JSON object");
            static string? Tok(JsonElement r, string name) =>
                !r.TryGetProperty(name, out JsonElement v) ? null
                : v.ValueKind == JsonValueKind.String ? v.GetString()
                : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out JsonElement c) ? c.GetString() : null;
            string? template = null;
            if (r.TryGetProperty("chat_template", out JsonElement ct))
            {
                if (ct.ValueKind == JsonValueKind.String) template = ct.GetString();
                else if (ct.ValueKind == JsonValueKind.Array)
                {
                    foreach (JsonElement e in ct.EnumerateArray())
                    {
                        if (e.TryGetProperty("name", out JsonElement n) && n.GetString() == "default") template = e.GetProperty("template").GetString();
                    }
                }
            }
            return (Tok(r, "bos_token"), Tok(r, "eos_token"), Tok(r, "pad_token"), template);
        }
    }

    /// <summary>Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into <paramref name="dir"/>
    /// (a folder being filled; use AtomicFile.WriteDirectory around it).</summary>
    public void WriteFiles(string dir)
    {
        File.WriteAllBytes(Path.Combine(dir, TokenizerFile), TokenizerJson());
        File.WriteAllBytes(Path.Combine(dir, ConfigFile), TokenizerConfigJson());
        File.WriteAllBytes(Path.Combine(dir, "special_tokens_map.json"), Json(w =>
        {
            w.WriteStartObject();
            if (BosId >= 0) w.WriteString("bos_token", _tokens[BosId]);
            if (EosId >= 0) w.WriteString("eos_token", _tokens[EosId]);
            if (PadId >= 0) w.WriteString("pad_token", _tokens[PadId]);
            w.WriteEndObject();
        }));
    }

    private static readonly JsonWriterOptions JsonOptions = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, JsonOptions)) write(w);
        ms.WriteByte((byte)'\n');
        return ms.ToArray();
    }

    /// <summary>tokenizer.json as HF tokenizers writes Meta's Llama 3 tokenizer.</summary>
    public byte[] TokenizerJson() => Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");
        w.WriteStartArray("added_tokens");
        foreach (AddedToken a in _added)
        {
            w.WriteStartObject();
            w.WriteNumber("id", a.Id);
            w.WriteString("content", a.Content);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", a.Special);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNull("normalizer");
        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("pretokenizers");
        w.WriteStartObject();
        w.WriteString("type", "Split");
        w.WriteStartObject("pattern");
        w.WriteString("Regex", Llama3PreTokenizer.Pattern);
        w.WriteEndObject();
        w.WriteString("behavior", "Isolated");
        w.WriteBoolean("invert", false);
        w.WriteEndObject();
        w.WriteStartObject();
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", false);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteStartObject("post_processor");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("processors");
        w.WriteStartObject();
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", true);
        w.WriteBoolean("trim_offsets", false);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
        if (BosId >= 0)
        {
            string bos = _tokens[BosId]!;
            w.WriteStartObject();
            w.WriteString("type", "TemplateProcessing");
            void Piece(string kind, string id, int typeId)
            {
                w.WriteStartObject();
                w.WriteStartObject(kind);
                w.WriteString("id", id);
                w.WriteNumber("type_id", typeId);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteStartArray("single");
            Piece("SpecialToken", bos, 0);
            Piece("Sequence", "A", 0);
            w.WriteEndArray();
            w.WriteStartArray("pair");
            Piece("SpecialToken", bos, 0);
            Piece("Sequence", "A", 0);
            Piece("SpecialToken", bos, 1);
            Piece("Sequence", "B", 1);
            w.WriteEndArray();
            w.WriteStartObject("special_tokens");
            w.WriteStartObject(bos);
            w.WriteString("id", bos);
            w.WriteStartArray("ids");
            w.WriteNumberValue(BosId);
            w.WriteEndArray();
            w.WriteStartArray("tokens");
            w.WriteStringValue(bos);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteStartObject("decoder");
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", true);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WriteBoolean("ignore_merges", true);
        w.WriteStartObject("vocab");
        for (int id = 0; id < _tokens.Length; id++)
        {
            if (_tokens[id] is { } t && _types[id] == TokenType.Normal) w.WriteNumber(t, id);
        }
        w.WriteEndObject();
        w.WriteStartArray("merges");
        foreach (var (l, r) in _merges) w.WriteStringValue(l + " " + r);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    });

    /// <summary>tokenizer_config.json for transformers' PreTrainedTokenizerFast (bos/eos/pad, chat_template, added tokens).</summary>
    public byte[] TokenizerConfigJson() => Json(w =>
    {
        w.WriteStartObject();
        w.WriteStartObject("added_tokens_decoder");
        foreach (AddedToken a in _added)
        {
            w.WriteStartObject(a.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("content", a.Content);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("special", a.Special);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        if (BosId >= 0) w.WriteString("bos_token", _tokens[BosId]);
        else w.WriteNull("bos_token");
        if (ChatTemplate != null) w.WriteString("chat_template", ChatTemplate);
        w.WriteBoolean("clean_up_tokenization_spaces", true);
        if (EosId >= 0) w.WriteString("eos_token", _tokens[EosId]);
        else w.WriteNull("eos_token");
        w.WriteStartArray("model_input_names");
        w.WriteStringValue("input_ids");
        w.WriteStringValue("attention_mask");
        w.WriteEndArray();
        w.WriteNumber("model_max_length", 131072);
        if (PadId >= 0) w.WriteString("pad_token", _tokens[PadId]);
        w.WriteString("tokenizer_class", "PreTrainedTokenizerFast");
        w.WriteEndObject();
    });
}
