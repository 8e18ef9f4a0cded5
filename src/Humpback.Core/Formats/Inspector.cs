using System.Globalization;
using System.Text;
using Humpback.Model;

namespace Humpback.Formats;

/// <summary>Human-readable descriptions of model files: a GGUF file, a safetensors file, an HF model folder,
/// a PEFT adapter folder, or a tokenizer folder (what <c>humpback inspect</c> prints).</summary>
public static class Inspector
{
    public static string Describe(string path, int arrayItems = 5)
    {
        if (Directory.Exists(path))
        {
            if (HfFolder.Looks(path)) return DescribeHf(path);
            if (PeftFolder.Looks(path)) return DescribePeft(path);
            if (File.Exists(Path.Combine(path, HumpbackTokenizer.TokenizerFile))) return DescribeTokenizer(HumpbackTokenizer.Load(path), path);
            throw new InvalidDataException($"{path}: not an HF model folder (config.json), a PEFT adapter folder (adapter_config.json) or a tokenizer folder (tokenizer.json)");
        }
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file or folder", path);
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) return DescribeSafetensors(path);
        return DescribeGguf(GgufFile.Read(path), arrayItems);
    }

    private static string Bytes(long n) => n switch
    {
        >= 1L << 30 => $"{n / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{n / (double)(1L << 20):F2} MiB",
        >= 1L << 10 => $"{n / 1024.0:F1} KiB",
        _ => $"{n} B",
    };

    private static string Shape(IEnumerable<long> s) => "[" + string.Join(", ", s) + "]";

    public static string DescribeGguf(GgufFile f, int arrayItems = 5)
    {
        var sb = new StringBuilder();
        long size = new FileInfo(f.Path).Length;
        sb.AppendLine(CultureInfo.InvariantCulture, $"GGUF v{f.Version}: {f.Path} ({Bytes(size)}), alignment {f.Alignment}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"metadata ({f.Metadata.Count} keys):");
        int w = f.Metadata.Count == 0 ? 0 : f.Metadata.Max(kv => kv.Key.Length);
        foreach (var (key, v) in f.Metadata)
        {
            string text = v.Type == GgufValueType.Array ? ArrayText(v, arrayItems) : Clip(v.ToString(), 160);
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {key.PadRight(w)}  {TypeName(v),-8}  {text}");
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"tensors ({f.Tensors.Count}, data at byte {f.DataStart}):");
        int nw = f.Tensors.Count == 0 ? 0 : f.Tensors.Max(t => t.Name.Length);
        foreach (GgufTensorInfo t in f.Tensors)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {t.Name.PadRight(nw)}  {t.Type,-6}  ne {Shape(t.Ne),-16}  {Bytes(t.ByteSize),10}  @ {t.Offset}");
        long elems = f.Tensors.Sum(t => t.Count);
        string types = string.Join(", ", f.Tensors.GroupBy(t => t.Type).OrderBy(g => g.Key).Select(g => $"{g.Key} x{g.Count()}"));
        sb.AppendLine(CultureInfo.InvariantCulture, $"total: {elems:N0} elements in {Bytes(f.Tensors.Sum(t => t.ByteSize))} ({types})");
        return sb.ToString();
    }

    private static string TypeName(GgufValue v) => v.Type == GgufValueType.Array ? "array" : v.Type switch
    {
        GgufValueType.UInt8 => "u8", GgufValueType.Int8 => "i8", GgufValueType.UInt16 => "u16", GgufValueType.Int16 => "i16",
        GgufValueType.UInt32 => "u32", GgufValueType.Int32 => "i32", GgufValueType.Float32 => "f32", GgufValueType.Bool => "bool",
        GgufValueType.String => "string", GgufValueType.UInt64 => "u64", GgufValueType.Int64 => "i64", _ => "f64",
    };

    private static string ArrayText(GgufValue v, int items)
    {
        var a = (Array)v.Value;
        var shown = a.Cast<object>().Take(items).Select(o => o is string s ? $"\"{Clip(s, 40)}\"" : Convert.ToString(o, CultureInfo.InvariantCulture));
        return $"{v.ElementType} x {a.Length}: [{string.Join(", ", shown)}{(a.Length > items ? ", …" : "")}]";
    }

    private static string Clip(string s, int n)
    {
        s = s.Replace("\n", "\\n", StringComparison.Ordinal).Replace("\r", "\\r", StringComparison.Ordinal);
        return s.Length <= n ? s : s[..n] + "…";
    }

    public static string DescribeSafetensors(string path)
    {
        using SafetensorsFile f = SafetensorsFile.Open(path);
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"safetensors: {path} ({Bytes(new FileInfo(path).Length)}), {f.Entries.Count} tensors");
        foreach (var (k, v) in f.Metadata) sb.AppendLine(CultureInfo.InvariantCulture, $"  __metadata__.{k} = {v}");
        int nw = f.Entries.Count == 0 ? 0 : f.Entries.Max(e => e.Name.Length);
        foreach (SafetensorsEntry e in f.Entries)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {e.Name.PadRight(nw)}  {e.DType,-4}  {Shape(e.Shape)}");
        return sb.ToString();
    }

    public static string DescribeConfig(LlamaConfig c, StorageDType dtype)
    {
        string rope = c.RopeScaling is { } s
            ? $"θ {c.RopeTheta:G}, llama3 scaling (factor {s.Factor:G}, low {s.LowFreqFactor:G}, high {s.HighFreqFactor:G}, original context {s.OriginalMaxPosition})"
            : $"θ {c.RopeTheta:G}, no scaling";
        return string.Create(CultureInfo.InvariantCulture,
            $"LlamaForCausalLM: vocab {c.VocabSize}, hidden {c.HiddenSize}, {c.NumLayers} layers, {c.NumHeads} heads ({c.NumKvHeads} KV), head_dim {c.ResolvedHeadDim}, " +
            $"ffn {c.IntermediateSize}, context {c.MaxPositionEmbeddings}, rms eps {c.RmsNormEps:G}, RoPE {rope}, " +
            $"{(c.TieWordEmbeddings ? "tied" : "untied")} embeddings, bos {c.BosTokenId}, eos {string.Join("/", new[] { c.EosTokenId }.Concat(c.ExtraEosTokenIds))}, " +
            $"stored as {FloatCodec.TorchName(dtype)}; {c.ParameterCount:N0} parameters");
    }

    public static string DescribeHf(string dir)
    {
        var sb = new StringBuilder();
        var (c, dtype) = HfConfigJson.Read(Path.Combine(dir, HfFolder.ConfigFile));
        sb.AppendLine(CultureInfo.InvariantCulture, $"HF model folder: {dir}");
        sb.AppendLine("  " + DescribeConfig(c, dtype));
        IReadOnlyDictionary<string, string> map = HfFolder.WeightMap(dir);
        var files = map.Values.Distinct().Order(StringComparer.Ordinal).ToList();
        sb.AppendLine(CultureInfo.InvariantCulture, $"weights: {files.Count} file(s), {map.Count} tensors");
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (string file in files)
        {
            using SafetensorsFile f = SafetensorsFile.Open(file);
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {Path.GetFileName(file)} ({Bytes(new FileInfo(file).Length)})");
            foreach (SafetensorsEntry e in f.Entries.OrderBy(e => e.Name, StringComparer.Ordinal))
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"    {e.Name,-52} {e.DType,-4} {Shape(e.Shape)}");
                shapes[e.Name] = e.Shape;
            }
        }
        string check = "ok";
        foreach (var (name, shape) in LlamaTensorNames.Expected(c))
        {
            if (!shapes.TryGetValue(name, out long[]? got)) { check = $"{name} missing"; break; }
            if (!got.SequenceEqual(shape)) { check = $"{name} is {Shape(got)}, config implies {Shape(shape)}"; break; }
        }
        sb.AppendLine("check against config.json: " + check);
        if (File.Exists(Path.Combine(dir, HumpbackTokenizer.TokenizerFile))) sb.Append(DescribeTokenizer(HumpbackTokenizer.Load(dir), dir));
        return sb.ToString();
    }

    public static string DescribePeft(string dir)
    {
        LoraConfig c = PeftFolder.ReadConfig(dir);
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"PEFT LoRA adapter: {dir}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  r {c.Rank}, alpha {c.Alpha:G} (scale {c.Scale:G}), dropout {c.Dropout:G}, targets {string.Join(", ", c.TargetModules)}, base '{c.BaseModel}'");
        sb.Append(DescribeSafetensors(Path.Combine(dir, PeftFolder.WeightsFile)));
        return sb.ToString();
    }

    public static string DescribeTokenizer(HumpbackTokenizer t, string dir)
    {
        string Tok(int id) => id < 0 ? "none" : $"{id} {t.TokenText(id)}";
        return string.Create(CultureInfo.InvariantCulture,
            $"tokenizer ({dir}): byte-level BPE, {t.VocabSize} ids, {t.Merges.Count} merges, {t.AddedTokens.Count} added tokens; " +
            $"bos {Tok(t.BosId)}, eos {Tok(t.EosId)}, eot {Tok(t.EotTokenId)}, pad {Tok(t.PadId)}; chat template {(t.ChatTemplate == null ? "none" : "yes")}\n");
    }
}
