using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text.Json;
using Humpback.Model;

namespace Humpback.Formats;

/// <summary>One tensor of a safetensors header: <c>data_offsets</c> are relative to the end of the header.</summary>
public sealed record SafetensorsEntry(string Name, StorageDType DType, long[] Shape, long Begin, long End)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>A safetensors file opened through a read-only memory map.
/// Layout (https://github.com/huggingface/safetensors): u64 LE header length N, N bytes of UTF-8 JSON
/// {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}}, then the data.
/// Everything the header claims is checked against the file before any tensor is read.</summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>The safetensors reference implementation refuses headers above 100 MB.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafetensorsEntry> _byName;

    private SafetensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, long dataStart,
        List<SafetensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path;
        _map = map;
        _view = view;
        _dataStart = dataStart;
        Entries = entries;
        Metadata = metadata;
        _byName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
    }

    public string Path { get; }
    /// <summary>Tensors in file order (ascending offsets).</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public bool Contains(string name) => _byName.ContainsKey(name);

    public SafetensorsEntry Entry(string name) =>
        _byName.TryGetValue(name, out var e) ? e : throw new InvalidDataException($"{Path}: tensor '{name}' is not in the file");

    /// <summary>Opens and validates <paramref name="path"/>; throws <see cref="InvalidDataException"/> naming the file and field.</summary>
    public static SafetensorsFile Open(string path)
    {
        var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        long length = fs.Length;
        if (length < 8)
        {
            fs.Dispose();
            throw new InvalidDataException($"{path}: header length: the file holds {length} bytes, fewer than the 8-byte header length");
        }
        MemoryMappedFile map = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            ulong headerLen = view.ReadUInt64(0);
            if (!BitConverter.IsLittleEndian) headerLen = BinaryPrimitives.ReverseEndianness(headerLen);
            if (headerLen > (ulong)(length - 8))
                throw new InvalidDataException($"{path}: header length: the header claims {headerLen} bytes but only {length - 8} follow the length prefix (truncated file?)");
            if (headerLen > MaxHeaderBytes)
                throw new InvalidDataException($"{path}: header length: {headerLen} bytes exceeds the {MaxHeaderBytes}-byte limit");
            byte[] header = new byte[headerLen];
            view.ReadArray(8, header, 0, header.Length);
            long dataStart = 8 + (long)headerLen;
            var (entries, metadata) = ParseHeader(path, header, length - dataStart);
            return new SafetensorsFile(path, map, view, dataStart, entries, metadata);
        }
        catch
        {
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    private static (List<SafetensorsEntry>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataBytes)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: header: not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: header: expected a JSON object");
            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__")
                {
                    if (p.Value.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: __metadata__: expected an object of strings");
                    foreach (JsonProperty m in p.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{path}: __metadata__.{m.Name}: expected a string");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                entries.Add(ParseEntry(path, p, dataBytes));
            }
            entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
            for (int i = 1; i < entries.Count; i++)
            {
                if (entries[i].Begin < entries[i - 1].End)
                    throw new InvalidDataException($"{path}: {entries[i].Name}.data_offsets: [{entries[i].Begin}, {entries[i].End}) overlaps {entries[i - 1].Name} [{entries[i - 1].Begin}, {entries[i - 1].End})");
            }
            return (entries, metadata);
        }
    }

    private static SafetensorsEntry ParseEntry(string path, JsonProperty p, long dataBytes)
    {
        string name = p.Name;
        JsonElement v = p.Value;
        if (v.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: {name}: expected an object with dtype, shape, data_offsets");
        if (!v.TryGetProperty("dtype", out JsonElement dt) || dt.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{path}: {name}.dtype: missing or not a string");
        string dtype = dt.GetString()!;
        if (!FloatCodec.TryParseSafetensorsName(dtype, out StorageDType type))
            throw new InvalidDataException($"{path}: {name}.dtype: '{dtype}' is not supported (expected F32, F16 or BF16)");
        if (!v.TryGetProperty("shape", out JsonElement sh) || sh.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{path}: {name}.shape: missing or not an array");
        var shape = new long[sh.GetArrayLength()];
        long count = 1;
        int k = 0;
        foreach (JsonElement d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw new InvalidDataException($"{path}: {name}.shape: dimension {k} is not a non-negative integer");
            shape[k++] = dim;
            try { count = checked(count * dim); }
            catch (OverflowException) { throw new InvalidDataException($"{path}: {name}.shape: element count overflows"); }
        }
        if (!v.TryGetProperty("data_offsets", out JsonElement off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new InvalidDataException($"{path}: {name}.data_offsets: missing or not a [begin, end] pair");
        if (!off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new InvalidDataException($"{path}: {name}.data_offsets: expected 0 <= begin <= end");
        if (end > dataBytes)
            throw new InvalidDataException($"{path}: {name}.data_offsets: end {end} is past the {dataBytes} data bytes in the file (truncated file?)");
        long bytes = count * FloatCodec.SizeOf(type);
        if (end - begin != bytes)
            throw new InvalidDataException($"{path}: {name}.data_offsets: [{begin}, {end}) holds {end - begin} bytes but {dtype} [{string.Join(", ", shape)}] needs {bytes}");
        return new SafetensorsEntry(name, type, shape, begin, end);
    }

    /// <summary>Reads a tensor, converting its elements to fp32.</summary>
    public HostTensor ReadTensor(string name)
    {
        SafetensorsEntry e = Entry(name);
        if (e.Shape.Any(d => d == 0)) throw new InvalidDataException($"{Path}: {name}.shape: [{string.Join(", ", e.Shape)}] has a zero dimension");
        var t = new HostTensor(name, e.Shape.Length == 0 ? [1] : e.Shape);
        ReadInto(e, t.Data);
        return t;
    }

    public float[] ReadFloat32(string name)
    {
        SafetensorsEntry e = Entry(name);
        float[] data = new float[e.Count];
        ReadInto(e, data);
        return data;
    }

    private unsafe void ReadInto(SafetensorsEntry e, float[] dst)
    {
        int size = FloatCodec.SizeOf(e.DType);
        const int chunkElems = 1 << 26; // 256 MB of f32 per span: spans are int-sized
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        try
        {
            byte* src = p + _view.PointerOffset + _dataStart + e.Begin;
            for (long i = 0; i < dst.LongLength; i += chunkElems)
            {
                int n = (int)Math.Min(chunkElems, dst.LongLength - i);
                FloatCodec.Decode(e.DType, new ReadOnlySpan<byte>(src + i * size, n * size), dst.AsSpan((int)i, n));
            }
        }
        finally
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    public void Dispose()
    {
        _view.Dispose();
        _map.Dispose();
    }
}

/// <summary>Writes safetensors files: tensors in the given order, contiguous, header padded with spaces to 8 bytes.</summary>
public static class SafetensorsWriter
{
    /// <summary>Writes <paramref name="tensors"/> as <paramref name="dtype"/>. <c>__metadata__</c> gets format=pt
    /// (HF transformers refuses safetensors files without it) plus <paramref name="metadata"/>.</summary>
    public static void Write(Stream stream, IEnumerable<HostTensor> tensors, StorageDType dtype, IReadOnlyDictionary<string, string>? metadata = null)
    {
        List<HostTensor> list = tensors.ToList();
        byte[] header = Header(list, dtype, metadata);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
        stream.Write(len);
        stream.Write(header);
        foreach (HostTensor t in list) FloatCodec.Write(stream, dtype, t.Data);
    }

    /// <summary>Bytes a file of these tensors takes (for sharding decisions).</summary>
    public static long DataBytes(IEnumerable<HostTensor> tensors, StorageDType dtype) => tensors.Sum(t => t.Count * FloatCodec.SizeOf(dtype));

    private static byte[] Header(List<HostTensor> tensors, StorageDType dtype, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            w.WriteString("format", "pt");
            if (metadata != null)
            {
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    if (k != "format") w.WriteString(k, v);
                }
            }
            w.WriteEndObject();
            long offset = 0;
            foreach (HostTensor t in tensors)
            {
                if (!names.Add(t.Name)) throw new ArgumentException($"tensor '{t.Name}' is given twice", nameof(tensors));
                long bytes = t.Count * FloatCodec.SizeOf(dtype);
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", FloatCodec.SafetensorsName(dtype));
                w.WriteStartArray("shape");
                foreach (long d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');
        return ms.ToArray();
    }
}
