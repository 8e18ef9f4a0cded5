using System.Buffers.Binary;
using System.Text;
using Humpback.Formats;
using Xunit;

namespace Humpback.Tests.Formats;

public class GgufTests
{
    private static GgufWriter Sample()
    {
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.Str("llama"));
        w.Add("u8", new GgufValue(GgufValueType.UInt8, (byte)7));
        w.Add("i8", new GgufValue(GgufValueType.Int8, (sbyte)-7));
        w.Add("u16", new GgufValue(GgufValueType.UInt16, (ushort)65535));
        w.Add("i16", new GgufValue(GgufValueType.Int16, (short)-300));
        w.Add("u32", GgufValue.U32(123456));
        w.Add("i32", GgufValue.I32(-5));
        w.Add("f32", GgufValue.F32(1e-5f));
        w.Add("bool", GgufValue.Bool(true));
        w.Add("u64", new GgufValue(GgufValueType.UInt64, ulong.MaxValue));
        w.Add("i64", new GgufValue(GgufValueType.Int64, long.MinValue));
        w.Add("f64", new GgufValue(GgufValueType.Float64, Math.PI));
        w.Add("strings", GgufValue.Strings(["a", "", "ĠHello", "<|eot_id|>", "日本"]));
        w.Add("ints", GgufValue.I32s([1, 3, -1]));
        w.Add("floats", GgufValue.F32s([0.5f, -2f]));
        return w;
    }

    [Fact]
    public void MetadataAndTensorsRoundTrip()
    {
        using var dir = new TempDir();
        GgufWriter w = Sample();
        var r = new Random(1);
        float[] a = Enumerable.Range(0, 3 * 64).Select(_ => (float)r.NextDouble() - 0.5f).ToArray();
        float[] v = Enumerable.Range(0, 5).Select(i => (float)i).ToArray();
        w.AddTensor("a.f32", [3, 64], a, GgmlType.F32);
        w.AddTensor("v", [5], v, GgmlType.F32);          // 20 bytes: the next tensor must start at 32
        w.AddTensor("a.f16", [3, 64], a, GgmlType.F16);
        w.AddTensor("a.q8", [3, 64], a, GgmlType.Q8_0);
        w.AddTensor("a.q4", [3, 64], a, GgmlType.Q4_0);
        Humpback.IO.AtomicFile.Write(dir["x.gguf"], w.WriteTo);

        GgufFile f = GgufFile.Read(dir["x.gguf"]);
        Assert.Equal(3u, f.Version);
        Assert.Equal(w.Tensors.Select(t => t.Offset), f.Tensors.Select(t => t.Offset));
        Assert.All(f.Tensors, t => Assert.Equal(0, t.Offset % 32));
        Assert.Equal(0, f.DataStart % 32);
        Assert.Equal([64L, 3], f.Tensor("a.q8").Ne);
        Assert.Equal(15, f.Metadata.Count);
        foreach (var (k, val) in Sample().Metadata)
        {
            GgufValue got = f[k]!;
            Assert.Equal(val.Type, got.Type);
            if (val.Value is Array arr) Assert.Equal(arr.Cast<object>(), ((Array)got.Value).Cast<object>());
            else Assert.Equal(val.Value, got.Value);
        }
        Assert.Equal(a, f.ReadFloat32("a.f32"));
        Assert.Equal(v, f.ReadFloat32("v"));
        Assert.Equal(a.Select(x => (float)(Half)x), f.ReadFloat32("a.f16"));
        var q8 = new byte[3 * 2 * 34];
        GgmlTypes.QuantizeQ8_0(a, q8);
        Assert.Equal(q8, f.ReadBytes(f.Tensor("a.q8")));
    }

    [Fact]
    public void HeaderBytesFollowTheSpec()
    {
        using var ms = new MemoryStream();
        var w = new GgufWriter();
        w.Add("k", GgufValue.U32(9));
        w.AddTensor("t", [2], [1f, 2f], GgmlType.F32);
        w.WriteTo(ms);
        byte[] b = ms.ToArray();
        Assert.Equal("GGUF"u8.ToArray(), b[..4]);
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(4)));
        Assert.Equal(1ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8)));   // tensors
        Assert.Equal(1ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(16)));  // kv
        Assert.Equal(1ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(24)));  // key length
        Assert.Equal((byte)'k', b[32]);
        Assert.Equal(4u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(33)));   // GGUF_TYPE_UINT32
        Assert.Equal(9u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(37)));
        // tensor info: name, n_dims=1, ne0=2, type F32, offset 0; data at the next multiple of 32
        Assert.Equal(1ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(41)));
        Assert.Equal((byte)'t', b[49]);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(50)));
        Assert.Equal(2ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(54)));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(62)));
        Assert.Equal(0ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(66)));
        Assert.Equal(1f, BinaryPrimitives.ReadSingleLittleEndian(b.AsSpan(96))); // 74 header bytes → data at 96
        Assert.Equal(128, b.Length); // every tensor, the last one too, is padded to the alignment (as llama.cpp's writer does)
    }

    /// <summary>Q4_0 on a known block: d = (value of largest magnitude)/−8, q = min(15, (int)(x/d + 8.5)).</summary>
    [Fact]
    public void Q4_0MatchesTheReferenceOnAKnownBlock()
    {
        float[] x = Enumerable.Range(0, 32).Select(i => i - 16f).ToArray(); // −16 … 15: largest magnitude −16 → d = 2
        var y = new byte[18];
        GgmlTypes.QuantizeQ4_0(x, y);
        Assert.Equal(2f, FloatCodec.FromHalfBits(BinaryPrimitives.ReadUInt16LittleEndian(y)));
        // x[0] = −16 → −8 + 8 = 0; x[16] = 0 → (int)8.5 = 8; packed in byte 0 as low | high << 4
        Assert.Equal(0x80, y[2]);
        // x[15] = −1 → (int)(−0.5 + 8.5) = 8; x[31] = 15 → (int)(7.5 + 8.5) = 16 → clamped to 15
        Assert.Equal(0xF8, y[2 + 15]);
        var back = new float[32];
        GgmlTypes.DequantizeQ4_0(y, back);
        Assert.Equal(-16f, back[0]);
        Assert.Equal(14f, back[31]);
    }

    [Fact]
    public void Q8_0MatchesTheReferenceOnAKnownBlock()
    {
        float[] x = Enumerable.Range(0, 32).Select(i => (i - 16) * 0.5f).ToArray(); // amax 8 → d = 8/127
        var y = new byte[34];
        GgmlTypes.QuantizeQ8_0(x, y);
        Assert.Equal((float)(Half)(8f / 127), FloatCodec.FromHalfBits(BinaryPrimitives.ReadUInt16LittleEndian(y)));
        Assert.Equal(-127, (sbyte)y[2]);
        Assert.Equal(0, (sbyte)y[2 + 16]);
        Assert.Equal(119, (sbyte)y[2 + 31]); // 7.5 · 127/8 = 119.06
    }

    private static byte[] Valid()
    {
        var w = new GgufWriter();
        w.Add("general.architecture", GgufValue.Str("llama"));
        w.Add("tokens", GgufValue.Strings(["a", "b"]));
        w.AddTensor("t", [2, 32], new float[64], GgmlType.F32);
        using var ms = new MemoryStream();
        w.WriteTo(ms);
        return ms.ToArray();
    }

    private static byte[] Patch(byte[] b, int at, params byte[] with)
    {
        byte[] c = (byte[])b.Clone();
        with.CopyTo(c, at);
        return c;
    }

    public static TheoryData<string, byte[], string> BadFiles()
    {
        byte[] ok = Valid();
        int typeAt = FindTensorType(ok);
        return new TheoryData<string, byte[], string>
        {
            { "empty", [], "magic" },
            { "not gguf", Encoding.ASCII.GetBytes("PK\x03\x04 this is a zip file, not a model at all"), "magic" },
            { "version 1", Patch(ok, 4, 1, 0, 0, 0), "version" },
            { "truncated in a key", ok[..40], "metadata[0].key" },
            { "truncated in a value", ok[..66], "general.architecture" },
            { "huge kv count", Patch(ok, 16, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0), "metadata_kv_count" },
            { "huge string", Patch(ok, 24, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0), "metadata[0].key" },
            { "unknown value type", Patch(ok, 24 + 8 + 20, 99, 0, 0, 0), "general.architecture.type" },
            { "unknown ggml type", Patch(ok, typeAt, 77, 0, 0, 0), "t.type" },
            { "misaligned offset", Patch(ok, typeAt + 4, 4, 0, 0, 0, 0, 0, 0, 0), "t.offset" },
            { "truncated data", ok[..^100], "t.offset" },
        };
    }

    private static int FindTensorType(byte[] b)
    {
        // tensor info: u64 len=1, 't', u32 n_dims=2, u64 ne0=32, u64 ne1=2, u32 type
        for (int i = 0; i < b.Length - 40; i++)
        {
            if (BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(i)) == 1 && b[i + 8] == (byte)'t' && BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(i + 9)) == 2)
                return i + 9 + 4 + 16;
        }
        throw new InvalidOperationException("tensor info not found");
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void CorruptFilesAreRejectedNamingFileAndField(string what, byte[] content, string field)
    {
        using var dir = new TempDir();
        string path = dir["bad.gguf"];
        File.WriteAllBytes(path, content);
        var e = Assert.Throws<InvalidDataException>(() => GgufFile.Read(path));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.True(e.Message.Contains(field, StringComparison.Ordinal), $"{what}: '{e.Message}' should name '{field}'");
    }

    [Fact]
    public void WriterRefusesRowsThatDoNotFillBlocks()
    {
        var w = new GgufWriter();
        Assert.Throws<ArgumentException>(() => w.AddTensor("t", [2, 20], new float[40], GgmlType.Q8_0));
        Assert.Throws<ArgumentException>(() => w.AddTensor(new string('x', 64), [2], new float[2], GgmlType.F32));
    }
}
