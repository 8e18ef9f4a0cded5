using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Humpback.Formats;

/// <summary>GGUF metadata value types (gguf.h enum gguf_type).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>A typed GGUF metadata value. Scalars hold the matching .NET type (uint for UInt32, string for String…);
/// arrays hold a .NET array of the element type (string[], int[], float[]…). llama.cpp checks types exactly.</summary>
public sealed record GgufValue(GgufValueType Type, object Value, GgufValueType ElementType = GgufValueType.UInt8)
{
    public static GgufValue U32(uint v) => new(GgufValueType.UInt32, v);
    public static GgufValue I32(int v) => new(GgufValueType.Int32, v);
    public static GgufValue F32(float v) => new(GgufValueType.Float32, v);
    public static GgufValue Bool(bool v) => new(GgufValueType.Bool, v);
    public static GgufValue Str(string v) => new(GgufValueType.String, v);
    public static GgufValue Strings(string[] v) => new(GgufValueType.Array, v, GgufValueType.String);
    public static GgufValue I32s(int[] v) => new(GgufValueType.Array, v, GgufValueType.Int32);
    public static GgufValue F32s(float[] v) => new(GgufValueType.Array, v, GgufValueType.Float32);

    public int ArrayLength => Value is Array a ? a.Length : 0;

    public override string ToString() => Type switch
    {
        GgufValueType.String => $"\"{Value}\"",
        GgufValueType.Array => $"[{ElementType} x {ArrayLength}]",
        GgufValueType.Float32 => ((float)Value).ToString("R", CultureInfo.InvariantCulture),
        GgufValueType.Float64 => ((double)Value).ToString("R", CultureInfo.InvariantCulture),
        GgufValueType.Bool => (bool)Value ? "true" : "false",
        _ => Convert.ToString(Value, CultureInfo.InvariantCulture) ?? "",
    };
}

/// <summary>A tensor of a GGUF file: <c>Ne</c> in ggml order (Ne[0] = the contiguous row length), data offset relative to the data section.</summary>
public sealed record GgufTensorInfo(string Name, long[] Ne, GgmlType Type, long Offset)
{
    public long Count => Ne.Aggregate(1L, (a, b) => a * b);
    public long ByteSize => GgmlTypes.RowBytes(Type, Ne[0]) * (Count / Ne[0]);
    /// <summary>Row-major shape (the reverse of Ne): [out, in] for a weight matrix.</summary>
    public long[] Shape => Ne.Reverse().ToArray();
}

/// <summary>Writes GGUF v3 (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): header, metadata, tensor infos,
/// then each tensor's data at a 32-byte aligned offset. Tensor data is produced by callbacks at write time,
/// so a large model is converted and quantized one tensor at a time.</summary>
public sealed class GgufWriter
{
    public const int Alignment = 32;

    private readonly List<(string Key, GgufValue Value)> _kv = new();
    private readonly List<(GgufTensorInfo Info, Action<Stream> Write)> _tensors = new();

    public void Add(string key, GgufValue value)
    {
        if (_kv.Any(e => e.Key == key)) throw new ArgumentException($"GGUF key '{key}' added twice", nameof(key));
        _kv.Add((key, value));
    }

    /// <summary>Adds a tensor with <paramref name="ne"/> in ggml order; <paramref name="write"/> must write exactly its byte size.</summary>
    public void AddTensor(string name, long[] ne, GgmlType type, Action<Stream> write)
    {
        if (Encoding.UTF8.GetByteCount(name) >= 64) throw new ArgumentException($"GGUF tensor name '{name}' must be under 64 bytes", nameof(name));
        if (_tensors.Any(t => t.Info.Name == name)) throw new ArgumentException($"GGUF tensor '{name}' added twice", nameof(name));
        long offset = 0;
        if (_tensors.Count > 0)
        {
            GgufTensorInfo last = _tensors[^1].Info;
            offset = Align(last.Offset + last.ByteSize);
        }
        var info = new GgufTensorInfo(name, ne, type, offset);
        _ = info.ByteSize; // validates the row length against the block size
        _tensors.Add((info, write));
    }

    /// <summary>Adds a row-major fp32 tensor of <paramref name="shape"/> stored as <paramref name="type"/> (rows quantized independently).</summary>
    public void AddTensor(string name, long[] shape, float[] data, GgmlType type)
    {
        long[] ne = shape.Reverse().ToArray();
        long row = ne[0];
        AddTensor(name, ne, type, s =>
        {
            int rowBytes = (int)GgmlTypes.RowBytes(type, row);
            int rowsPerChunk = (int)Math.Max(1, (1 << 20) / Math.Max(1, rowBytes));
            byte[] buf = new byte[rowBytes * rowsPerChunk];
            long rows = data.LongLength / row;
            for (long r = 0; r < rows; r += rowsPerChunk)
            {
                int n = (int)Math.Min(rowsPerChunk, rows - r);
                for (int k = 0; k < n; k++)
                    GgmlTypes.Quantize(type, data.AsSpan((int)((r + k) * row), (int)row), buf.AsSpan(k * rowBytes, rowBytes));
                s.Write(buf, 0, n * rowBytes);
            }
        });
    }

    public IReadOnlyList<GgufTensorInfo> Tensors => _tensors.Select(t => t.Info).ToList();

    public IReadOnlyList<(string Key, GgufValue Value)> Metadata => _kv;

    private static long Align(long x) => (x + Alignment - 1) / Alignment * Alignment;

    public void WriteTo(Stream stream)
    {
        var counting = new CountingStream(stream);
        var w = new BinaryWriter(counting, Encoding.UTF8, leaveOpen: true);
        w.Write("GGUF"u8);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_kv.Count);
        foreach (var (key, value) in _kv)
        {
            WriteString(w, key);
            w.Write((uint)value.Type);
            WriteValue(w, value);
        }
        foreach (var (info, _) in _tensors)
        {
            WriteString(w, info.Name);
            w.Write((uint)info.Ne.Length);
            foreach (long n in info.Ne) w.Write((ulong)n);
            w.Write((uint)info.Type);
            w.Write((ulong)info.Offset);
        }
        w.Flush();
        Pad(counting);
        long dataStart = counting.Position;
        foreach (var (info, write) in _tensors)
        {
            long at = counting.Position - dataStart;
            if (at != info.Offset) throw new InvalidOperationException($"GGUF writer: {info.Name} at {at}, expected {info.Offset}");
            write(counting);
            long wrote = counting.Position - dataStart - at;
            if (wrote != info.ByteSize) throw new InvalidOperationException($"GGUF writer: {info.Name} wrote {wrote} bytes, expected {info.ByteSize}");
            Pad(counting);
        }
    }

    private static void Pad(CountingStream s)
    {
        int pad = (int)(Align(s.Position) - s.Position);
        if (pad > 0) s.Write(new byte[pad]);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)b.Length);
        w.Write(b);
    }

    private static void WriteValue(BinaryWriter w, GgufValue v)
    {
        if (v.Type == GgufValueType.Array)
        {
            var a = (Array)v.Value;
            w.Write((uint)v.ElementType);
            w.Write((ulong)a.Length);
            foreach (object e in a) WriteScalar(w, v.ElementType, e);
        }
        else
        {
            WriteScalar(w, v.Type, v.Value);
        }
    }

    private static void WriteScalar(BinaryWriter w, GgufValueType t, object v)
    {
        switch (t)
        {
            case GgufValueType.UInt8: w.Write((byte)v); break;
            case GgufValueType.Int8: w.Write((sbyte)v); break;
            case GgufValueType.UInt16: w.Write((ushort)v); break;
            case GgufValueType.Int16: w.Write((short)v); break;
            case GgufValueType.UInt32: w.Write((uint)v); break;
            case GgufValueType.Int32: w.Write((int)v); break;
            case GgufValueType.Float32: w.Write((float)v); break;
            case GgufValueType.Bool: w.Write((bool)v ? (byte)1 : (byte)0); break;
            case GgufValueType.String: WriteString(w, (string)v); break;
            case GgufValueType.UInt64: w.Write((ulong)v); break;
            case GgufValueType.Int64: w.Write((long)v); break;
            case GgufValueType.Float64: w.Write((double)v); break;
            default: throw new ArgumentException($"GGUF: cannot write a {t} scalar (nested arrays are not allowed)", nameof(t));
        }
    }

    /// <summary>Counts bytes written (Position works on non-seekable streams too).</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        private long _written;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _written;
        public override long Position { get => _written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            _written += count;
        }
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            _written += buffer.Length;
        }
    }
}

/// <summary>A GGUF file read and validated: metadata, tensor infos, and tensor data on demand.</summary>
public sealed class GgufFile
{
    private GgufFile(string path, uint version, List<KeyValuePair<string, GgufValue>> kv, List<GgufTensorInfo> tensors, long dataStart, int alignment)
    {
        Path = path;
        Version = version;
        Metadata = kv;
        Tensors = tensors;
        DataStart = dataStart;
        Alignment = alignment;
        _kv = kv.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
    }

    private readonly Dictionary<string, GgufValue> _kv;

    public string Path { get; }
    public uint Version { get; }
    /// <summary>Metadata in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }
    public long DataStart { get; }
    public int Alignment { get; }

    public GgufValue? this[string key] => _kv.TryGetValue(key, out GgufValue? v) ? v : null;

    public GgufTensorInfo Tensor(string name) =>
        Tensors.FirstOrDefault(t => t.Name == name) ?? throw new InvalidDataException($"{Path}: tensor '{name}' is not in the file");

    /// <summary>Reads the header, metadata and tensor infos; checks every length and offset against the file size.</summary>
    public static GgufFile Read(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var r = new Reader(fs, path);
        uint magic = r.U32("magic");
        if (magic != 0x46554747) throw new InvalidDataException($"{path}: magic: 0x{magic:X8} is not 'GGUF'");
        uint version = r.U32("version");
        if (version is not (2 or 3)) throw new InvalidDataException($"{path}: version: {version} is not supported (2 or 3)");
        ulong nTensors = r.U64("tensor_count");
        ulong nKv = r.U64("metadata_kv_count");
        // Every KV takes at least 8 + 4 bytes and every tensor info at least 8 + 4 + 8 + 4 + 8.
        if (nKv > (ulong)fs.Length / 12) throw new InvalidDataException($"{path}: metadata_kv_count: {nKv} cannot fit in a {fs.Length}-byte file");
        if (nTensors > (ulong)fs.Length / 32) throw new InvalidDataException($"{path}: tensor_count: {nTensors} cannot fit in a {fs.Length}-byte file");

        var kv = new List<KeyValuePair<string, GgufValue>>();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < nKv; i++)
        {
            string key = r.Str($"metadata[{i}].key");
            if (!keys.Add(key)) throw new InvalidDataException($"{path}: {key}: duplicate metadata key");
            var type = (GgufValueType)r.U32($"{key}.type");
            kv.Add(new(key, r.Value(key, type)));
        }
        int alignment = GgufWriter.Alignment;
        if (keys.Contains("general.alignment"))
        {
            GgufValue a = kv.First(e => e.Key == "general.alignment").Value;
            if (a.Type != GgufValueType.UInt32 || (uint)a.Value == 0 || ((uint)a.Value & ((uint)a.Value - 1)) != 0)
                throw new InvalidDataException($"{path}: general.alignment: expected a power-of-two u32, got {a}");
            alignment = (int)(uint)a.Value;
        }

        var tensors = new List<GgufTensorInfo>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < nTensors; i++)
        {
            string name = r.Str($"tensor[{i}].name");
            if (!names.Add(name)) throw new InvalidDataException($"{path}: {name}: duplicate tensor name");
            uint nDims = r.U32($"{name}.n_dims");
            if (nDims is 0 or > 4) throw new InvalidDataException($"{path}: {name}.n_dims: {nDims} is not in 1..4");
            var ne = new long[nDims];
            long count = 1;
            for (int d = 0; d < nDims; d++)
            {
                ulong n = r.U64($"{name}.ne[{d}]");
                if (n == 0 || n > long.MaxValue / 2) throw new InvalidDataException($"{path}: {name}.ne[{d}]: {n} is not a valid dimension");
                ne[d] = (long)n;
                try { count = checked(count * ne[d]); }
                catch (OverflowException) { throw new InvalidDataException($"{path}: {name}.ne: element count overflows"); }
            }
            uint type = r.U32($"{name}.type");
            var layout = GgmlTypes.Layout((GgmlType)type) ?? throw new InvalidDataException($"{path}: {name}.type: unknown ggml type {type}");
            if (ne[0] % layout.BlockSize != 0)
                throw new InvalidDataException($"{path}: {name}.ne[0]: {ne[0]} is not a multiple of {(GgmlType)type}'s block size {layout.BlockSize}");
            ulong offset = r.U64($"{name}.offset");
            if (offset % (ulong)alignment != 0) throw new InvalidDataException($"{path}: {name}.offset: {offset} is not a multiple of the alignment {alignment}");
            if (offset > (ulong)fs.Length) throw new InvalidDataException($"{path}: {name}.offset: {offset} is past the end of the file");
            tensors.Add(new GgufTensorInfo(name, ne, (GgmlType)type, (long)offset));
        }
        long dataStart = (fs.Position + alignment - 1) / alignment * alignment;
        long dataBytes = fs.Length - dataStart;
        GgufTensorInfo? prev = null;
        foreach (GgufTensorInfo t in tensors.OrderBy(t => t.Offset))
        {
            if (t.Offset + t.ByteSize > dataBytes)
                throw new InvalidDataException($"{path}: {t.Name}.offset: data [{t.Offset}, {t.Offset + t.ByteSize}) runs past the {Math.Max(0, dataBytes)} data bytes in the file (truncated file?)");
            if (prev != null && t.Offset < prev.Offset + prev.ByteSize)
                throw new InvalidDataException($"{path}: {t.Name}.offset: data overlaps {prev.Name}");
            prev = t;
        }
        return new GgufFile(path, version, kv, tensors, dataStart, alignment);
    }

    /// <summary>Reads a tensor's data and converts it to fp32 (F32, F16, BF16, Q8_0, Q4_0). Row-major shape: <see cref="GgufTensorInfo.Shape"/>.</summary>
    public float[] ReadFloat32(string name)
    {
        GgufTensorInfo t = Tensor(name);
        if (!GgmlTypes.CanDequantize(t.Type)) throw new NotSupportedException($"{Path}: {name}: reading {t.Type} values is not supported");
        byte[] bytes = ReadBytes(t);
        float[] data = new float[t.Count];
        GgmlTypes.Dequantize(t.Type, bytes, data);
        return data;
    }

    public byte[] ReadBytes(GgufTensorInfo t)
    {
        using var fs = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read);
        fs.Position = DataStart + t.Offset;
        byte[] bytes = new byte[t.ByteSize];
        fs.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>Bounds-checked little-endian reads that name the field on failure.</summary>
    private sealed class Reader(Stream s, string path)
    {
        private readonly byte[] _buf = new byte[8];

        private ReadOnlySpan<byte> Take(int n, string field)
        {
            if (s.Length - s.Position < n) throw new InvalidDataException($"{path}: {field}: the file ends at byte {s.Length} (truncated file?)");
            s.ReadExactly(_buf, 0, n);
            return _buf.AsSpan(0, n);
        }

        public uint U32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, field));
        public ulong U64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, field));

        public string Str(string field)
        {
            ulong n = U64(field);
            if (n > (ulong)(s.Length - s.Position)) throw new InvalidDataException($"{path}: {field}: string of {n} bytes runs past the end of the file (truncated file?)");
            byte[] b = new byte[n];
            s.ReadExactly(b);
            try
            {
                return new UTF8Encoding(false, true).GetString(b);
            }
            catch (DecoderFallbackException e)
            {
                throw new InvalidDataException($"{path}: {field}: string is not valid UTF-8", e);
            }
        }

        public GgufValue Value(string key, GgufValueType type)
        {
            if (type != GgufValueType.Array) return new GgufValue(type, Scalar(key, type));
            var et = (GgufValueType)U32($"{key}.element_type");
            ulong n = U64($"{key}.count");
            if (et == GgufValueType.Array) throw new InvalidDataException($"{path}: {key}: nested arrays are not supported");
            int min = et switch { GgufValueType.String => 8, _ => ScalarSize(key, et) };
            if (n > (ulong)(s.Length - s.Position) / (ulong)min) throw new InvalidDataException($"{path}: {key}: array of {n} {et} runs past the end of the file (truncated file?)");
            Array a = et switch
            {
                GgufValueType.String => new string[n],
                GgufValueType.UInt8 => new byte[n],
                GgufValueType.Int8 => new sbyte[n],
                GgufValueType.UInt16 => new ushort[n],
                GgufValueType.Int16 => new short[n],
                GgufValueType.UInt32 => new uint[n],
                GgufValueType.Int32 => new int[n],
                GgufValueType.Float32 => new float[n],
                GgufValueType.Bool => new bool[n],
                GgufValueType.UInt64 => new ulong[n],
                GgufValueType.Int64 => new long[n],
                _ => new double[n],
            };
            for (long i = 0; i < (long)n; i++) a.SetValue(Scalar($"{key}[{i}]", et), i);
            return new GgufValue(GgufValueType.Array, a, et);
        }

        private int ScalarSize(string key, GgufValueType t) => t switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
            _ => throw new InvalidDataException($"{path}: {key}.type: unknown GGUF value type {(uint)t}"),
        };

        private object Scalar(string key, GgufValueType t)
        {
            if (t == GgufValueType.String) return Str(key);
            ReadOnlySpan<byte> b = Take(ScalarSize(key, t), key);
            return t switch
            {
                GgufValueType.UInt8 => b[0],
                GgufValueType.Int8 => (sbyte)b[0],
                GgufValueType.Bool => b[0] switch
                {
                    0 => false,
                    1 => true,
                    _ => throw new InvalidDataException($"{path}: {key}: bool byte {b[0]} is neither 0 nor 1"),
                },
                GgufValueType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(b),
                GgufValueType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(b),
                GgufValueType.UInt32 => BinaryPrimitives.ReadUInt32LittleEndian(b),
                GgufValueType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(b),
                GgufValueType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(b),
                GgufValueType.UInt64 => BinaryPrimitives.ReadUInt64LittleEndian(b),
                GgufValueType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(b),
                _ => (object)BinaryPrimitives.ReadDoubleLittleEndian(b),
            };
        }
    }
}
