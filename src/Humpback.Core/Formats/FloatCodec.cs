using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Humpback.Formats;

/// <summary>Element types of stored float tensors (safetensors dtype names; GGUF uses its own ggml types).</summary>
public enum StorageDType
{
    F32,
    F16,
    BF16,
}

/// <summary>Conversions between fp32 and the 16-bit float formats, little-endian bytes on both sides.</summary>
public static class FloatCodec
{
    public static int SizeOf(StorageDType t) => t == StorageDType.F32 ? 4 : 2;

    /// <summary>safetensors dtype string ("F32", "F16", "BF16").</summary>
    public static string SafetensorsName(StorageDType t) => t switch
    {
        StorageDType.F32 => "F32",
        StorageDType.F16 => "F16",
        _ => "BF16",
    };

    public static bool TryParseSafetensorsName(string s, out StorageDType t)
    {
        switch (s)
        {
            case "F32": t = StorageDType.F32; return true;
            case "F16": t = StorageDType.F16; return true;
            case "BF16": t = StorageDType.BF16; return true;
            default: t = default; return false;
        }
    }

    /// <summary>HF config.json "torch_dtype" ("float32", "float16", "bfloat16").</summary>
    public static string TorchName(StorageDType t) => t switch
    {
        StorageDType.F32 => "float32",
        StorageDType.F16 => "float16",
        _ => "bfloat16",
    };

    public static bool TryParseTorchName(string s, out StorageDType t)
    {
        switch (s)
        {
            case "float32" or "float": t = StorageDType.F32; return true;
            case "float16" or "half": t = StorageDType.F16; return true;
            case "bfloat16": t = StorageDType.BF16; return true;
            default: t = default; return false;
        }
    }

    /// <summary>fp32 → bf16 with round-to-nearest-even (what torch's .to(bfloat16) does); NaN stays a quiet NaN.</summary>
    public static ushort ToBFloat16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((u >> 16) | 0x40);
        u += 0x7FFFu + ((u >> 16) & 1u);
        return (ushort)(u >> 16);
    }

    public static float FromBFloat16(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    public static ushort ToHalfBits(float f) => BitConverter.HalfToUInt16Bits((Half)f);

    public static float FromHalfBits(ushort h) => (float)BitConverter.UInt16BitsToHalf(h);

    /// <summary>Decodes <paramref name="src"/> (little-endian elements of <paramref name="type"/>) into <paramref name="dst"/>.</summary>
    public static void Decode(StorageDType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (src.Length != dst.Length * SizeOf(type))
            throw new ArgumentException($"{type}: {src.Length} bytes do not hold {dst.Length} elements", nameof(src));
        switch (type)
        {
            case StorageDType.F32:
                if (BitConverter.IsLittleEndian) MemoryMarshal.Cast<byte, float>(src).CopyTo(dst);
                else for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]);
                break;
            case StorageDType.F16:
                for (int i = 0; i < dst.Length; i++) dst[i] = FromHalfBits(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]));
                break;
            case StorageDType.BF16:
                for (int i = 0; i < dst.Length; i++) dst[i] = FromBFloat16(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]));
                break;
        }
    }

    /// <summary>Encodes <paramref name="src"/> as little-endian elements of <paramref name="type"/> into <paramref name="dst"/>.</summary>
    public static void Encode(StorageDType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (dst.Length != src.Length * SizeOf(type))
            throw new ArgumentException($"{type}: {dst.Length} bytes do not hold {src.Length} elements", nameof(dst));
        switch (type)
        {
            case StorageDType.F32:
                if (BitConverter.IsLittleEndian) MemoryMarshal.AsBytes(src).CopyTo(dst);
                else for (int i = 0; i < src.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(dst[(4 * i)..], src[i]);
                break;
            case StorageDType.F16:
                for (int i = 0; i < src.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], ToHalfBits(src[i]));
                break;
            case StorageDType.BF16:
                for (int i = 0; i < src.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], ToBFloat16(src[i]));
                break;
        }
    }

    /// <summary>Writes <paramref name="data"/> to <paramref name="stream"/> as <paramref name="type"/>, in bounded chunks.</summary>
    public static void Write(Stream stream, StorageDType type, ReadOnlySpan<float> data)
    {
        const int chunk = 1 << 16;
        int size = SizeOf(type);
        byte[] buf = new byte[chunk * size];
        for (int i = 0; i < data.Length; i += chunk)
        {
            int n = Math.Min(chunk, data.Length - i);
            Encode(type, data.Slice(i, n), buf.AsSpan(0, n * size));
            stream.Write(buf, 0, n * size);
        }
    }
}
