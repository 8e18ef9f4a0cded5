using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Humpback.Formats;
using Humpback.Model;
using Xunit;

namespace Humpback.Tests.Formats;

public class SafetensorsTests
{
    private static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1) * MathF.Pow(10, r.Next(-8, 8))).ToArray();
    }

    private static void Save(string path, StorageDType dtype, params HostTensor[] tensors)
    {
        using var fs = File.Create(path);
        SafetensorsWriter.Write(fs, tensors, dtype);
    }

    [Fact]
    public void F32RoundTripIsBitExactIncludingSpecialValues()
    {
        using var dir = new TempDir();
        float[] a = [.. Random(1000, 1), 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, -float.MaxValue, BitConverter.UInt32BitsToSingle(0x7FC00123)];
        var t = new HostTensor("a", [a.Length], a);
        var m = new HostTensor("m", [3, 5], Random(15, 2));
        Save(dir["x.safetensors"], StorageDType.F32, t, m);
        using var f = SafetensorsFile.Open(dir["x.safetensors"]);
        Assert.Equal(a.Select(BitConverter.SingleToUInt32Bits), f.ReadFloat32("a").Select(BitConverter.SingleToUInt32Bits));
        Assert.Equal(m.Data, f.ReadTensor("m").Data);
        Assert.Equal([3L, 5], f.Entry("m").Shape);
        Assert.Equal("pt", f.Metadata["format"]);
    }

    [Fact]
    public void Bf16AndF16RoundTripExactlyForRepresentableValues()
    {
        using var dir = new TempDir();
        float[] bf = Random(4096, 3).Select(x => FloatCodec.FromBFloat16(FloatCodec.ToBFloat16(x))).ToArray();
        float[] h = Random(4096, 4).Select(x => (float)(Half)Math.Clamp(x, -60000f, 60000f)).ToArray();
        Save(dir["bf.safetensors"], StorageDType.BF16, new HostTensor("w", [64, 64], bf));
        Save(dir["h.safetensors"], StorageDType.F16, new HostTensor("w", [4096], h));
        using var fb = SafetensorsFile.Open(dir["bf.safetensors"]);
        using var fh = SafetensorsFile.Open(dir["h.safetensors"]);
        Assert.Equal(StorageDType.BF16, fb.Entry("w").DType);
        Assert.Equal(bf, fb.ReadFloat32("w"));
        Assert.Equal(h, fh.ReadFloat32("w"));
    }

    [Fact]
    public void Bf16RoundsToNearestEven()
    {
        Assert.Equal(0x3F80, FloatCodec.ToBFloat16(1f + MathF.Pow(2, -8)));      // tie → even (1.0)
        Assert.Equal(0x3F82, FloatCodec.ToBFloat16(1f + 3 * MathF.Pow(2, -8)));  // tie → even (1 + 2^-6)
        Assert.Equal(0x3F81, FloatCodec.ToBFloat16(1f + MathF.Pow(2, -8) + MathF.Pow(2, -12))); // above the tie → up
        Assert.True(float.IsNaN(FloatCodec.FromBFloat16(FloatCodec.ToBFloat16(float.NaN))));
    }

    /// <summary>A file laid out by hand as the safetensors spec describes (not by our writer).</summary>
    [Fact]
    public void ReadsAHandBuiltFile()
    {
        using var dir = new TempDir();
        string header = "{\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[8,12]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"__metadata__\":{\"k\":\"v\"}}";
        var bytes = new List<byte>();
        bytes.AddRange(BitConverter.GetBytes((ulong)header.Length));
        bytes.AddRange(Encoding.UTF8.GetBytes(header));
        bytes.AddRange(BitConverter.GetBytes(1.5f));
        bytes.AddRange(BitConverter.GetBytes(-2f));
        bytes.AddRange([0x80, 0x3F, 0x40, 0xC0]); // bf16 1.0, -3.0
        File.WriteAllBytes(dir["h.safetensors"], bytes.ToArray());
        using var f = SafetensorsFile.Open(dir["h.safetensors"]);
        Assert.Equal(["a", "b"], f.Entries.Select(e => e.Name));
        Assert.Equal([1.5f, -2f], f.ReadFloat32("a"));
        Assert.Equal([1f, -3f], f.ReadFloat32("b"));
        Assert.Equal("v", f.Metadata["k"]);
    }

    [Fact]
    public void WrittenHeaderFollowsTheSpec()
    {
        using var dir = new TempDir();
        Save(dir["x.safetensors"], StorageDType.BF16, new HostTensor("p", [3]), new HostTensor("q", [2, 2]));
        byte[] b = File.ReadAllBytes(dir["x.safetensors"]);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(b);
        Assert.Equal(0UL, (8 + n) % 8);
        using var doc = JsonDocument.Parse(b.AsMemory(8, (int)n));
        Assert.Equal("[0,6]", doc.RootElement.GetProperty("p").GetProperty("data_offsets").GetRawText());
        Assert.Equal("[6,14]", doc.RootElement.GetProperty("q").GetProperty("data_offsets").GetRawText());
        Assert.Equal(8 + (long)n + 14, b.LongLength);
    }

    public static TheoryData<string, byte[], string> BadFiles()
    {
        static byte[] File(string header, int dataBytes, ulong? claimed = null)
        {
            var b = new List<byte>();
            b.AddRange(BitConverter.GetBytes(claimed ?? (ulong)Encoding.UTF8.GetByteCount(header)));
            b.AddRange(Encoding.UTF8.GetBytes(header));
            b.AddRange(new byte[dataBytes]);
            return b.ToArray();
        }
        const string ok = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
        return new TheoryData<string, byte[], string>
        {
            { "empty", [], "header length" },
            { "short", [1, 2, 3], "header length" },
            { "header claims more than the file", File(ok, 16, claimed: 10_000), "header length" },
            { "header not json", File("{\"w\": [", 16), "header" },
            { "unknown dtype", File(ok.Replace("F32", "F8_E4M3"), 16), "w.dtype" },
            { "integer dtype", File(ok.Replace("F32", "I64"), 16), "w.dtype" },
            { "truncated data", File(ok, 10), "w.data_offsets" },
            { "offsets disagree with shape", File(ok.Replace("[2,2]", "[2,3]"), 16), "w.data_offsets" },
            { "negative dimension", File(ok.Replace("[2,2]", "[-2,-2]"), 16), "w.shape" },
            { "overlap", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "overlaps" },
            { "missing offsets", File("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2]}}", 16), "w.data_offsets" },
        };
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void CorruptFilesAreRejectedNamingFileAndField(string what, byte[] content, string field)
    {
        using var dir = new TempDir();
        string path = dir["bad.safetensors"];
        File.WriteAllBytes(path, content);
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.True(e.Message.Contains(field, StringComparison.Ordinal), $"{what}: '{e.Message}' should name '{field}'");
    }
}
