using System.Buffers.Binary;

namespace Humpback.Formats;

/// <summary>ggml tensor types (ggml.h enum ggml_type) that GGUF files of Llama models use.</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ4_NL = 20,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    BF16 = 30,
}

/// <summary>Block geometry of ggml types and the quantizers we write ourselves (ggml-quants.c reference versions).</summary>
public static class GgmlTypes
{
    /// <summary>(elements per block, bytes per block), or null for a type we do not know.</summary>
    public static (int BlockSize, int TypeSize)? Layout(GgmlType t) => t switch
    {
        GgmlType.F32 => (1, 4),
        GgmlType.F16 => (1, 2),
        GgmlType.BF16 => (1, 2),
        GgmlType.Q4_0 => (32, 18),
        GgmlType.Q4_1 => (32, 20),
        GgmlType.Q5_0 => (32, 22),
        GgmlType.Q5_1 => (32, 24),
        GgmlType.Q8_0 => (32, 34),
        GgmlType.Q8_1 => (32, 36),
        GgmlType.Q2_K => (256, 84),
        GgmlType.Q3_K => (256, 110),
        GgmlType.Q4_K => (256, 144),
        GgmlType.Q5_K => (256, 176),
        GgmlType.Q6_K => (256, 210),
        GgmlType.Q8_K => (256, 292),
        GgmlType.IQ4_NL => (32, 18),
        GgmlType.IQ4_XS => (256, 136),
        GgmlType.I8 => (1, 1),
        GgmlType.I16 => (1, 2),
        GgmlType.I32 => (1, 4),
        GgmlType.I64 => (1, 8),
        GgmlType.F64 => (1, 8),
        _ => null,
    };

    /// <summary>Bytes of a row of <paramref name="n"/> elements (n must be a multiple of the block size).</summary>
    public static long RowBytes(GgmlType t, long n)
    {
        var (bs, ts) = Layout(t) ?? throw new ArgumentException($"unknown ggml type {(uint)t}", nameof(t));
        if (n % bs != 0) throw new ArgumentException($"{t}: row of {n} elements is not a multiple of the block size {bs}", nameof(n));
        return n / bs * ts;
    }

    public static bool CanDequantize(GgmlType t) => t is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q8_0 or GgmlType.Q4_0;

    /// <summary>Encodes a row (or several whole rows) of fp32 values as <paramref name="t"/>.</summary>
    public static void Quantize(GgmlType t, ReadOnlySpan<float> src, Span<byte> dst)
    {
        switch (t)
        {
            case GgmlType.F32: FloatCodec.Encode(StorageDType.F32, src, dst); break;
            case GgmlType.F16: FloatCodec.Encode(StorageDType.F16, src, dst); break;
            case GgmlType.BF16: FloatCodec.Encode(StorageDType.BF16, src, dst); break;
            case GgmlType.Q8_0: QuantizeQ8_0(src, dst); break;
            case GgmlType.Q4_0: QuantizeQ4_0(src, dst); break;
            default: throw new NotSupportedException($"writing {t} is not supported (F32, F16, BF16, Q8_0, Q4_0)");
        }
    }

    public static void Dequantize(GgmlType t, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (t)
        {
            case GgmlType.F32: FloatCodec.Decode(StorageDType.F32, src, dst); break;
            case GgmlType.F16: FloatCodec.Decode(StorageDType.F16, src, dst); break;
            case GgmlType.BF16: FloatCodec.Decode(StorageDType.BF16, src, dst); break;
            case GgmlType.Q8_0: DequantizeQ8_0(src, dst); break;
            case GgmlType.Q4_0: DequantizeQ4_0(src, dst); break;
            default: throw new NotSupportedException($"reading {t} values is not supported (F32, F16, BF16, Q8_0, Q4_0)");
        }
    }

    /// <summary>Q8_0 block = {f16 d; i8 q[32]}: d = max|x|/127, q = round(x/d) (ggml quantize_row_q8_0_ref).</summary>
    public static void QuantizeQ8_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        const int qk = 32;
        if (x.Length % qk != 0 || y.Length != x.Length / qk * 34) throw new ArgumentException("Q8_0: sizes do not match whole blocks", nameof(y));
        for (int i = 0; i < x.Length / qk; i++)
        {
            ReadOnlySpan<float> b = x.Slice(i * qk, qk);
            Span<byte> o = y.Slice(i * 34, 34);
            float amax = 0;
            foreach (float v in b) amax = Math.Max(amax, Math.Abs(v));
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            BinaryPrimitives.WriteUInt16LittleEndian(o, FloatCodec.ToHalfBits(d));
            for (int j = 0; j < qk; j++) o[2 + j] = (byte)(sbyte)MathF.Round(b[j] * id, MidpointRounding.AwayFromZero);
        }
    }

    public static void DequantizeQ8_0(ReadOnlySpan<byte> y, Span<float> x)
    {
        const int qk = 32;
        if (x.Length % qk != 0 || y.Length != x.Length / qk * 34) throw new ArgumentException("Q8_0: sizes do not match whole blocks", nameof(y));
        for (int i = 0; i < x.Length / qk; i++)
        {
            ReadOnlySpan<byte> b = y.Slice(i * 34, 34);
            float d = FloatCodec.FromHalfBits(BinaryPrimitives.ReadUInt16LittleEndian(b));
            for (int j = 0; j < qk; j++) x[i * qk + j] = (sbyte)b[2 + j] * d;
        }
    }

    /// <summary>Q4_0 block = {f16 d; u8 q[16]}: d = (value of largest magnitude)/−8, q = min(15, (int)(x/d + 8.5));
    /// element j in the low nibble of byte j, element j+16 in its high nibble (ggml quantize_row_q4_0_ref).</summary>
    public static void QuantizeQ4_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        const int qk = 32;
        if (x.Length % qk != 0 || y.Length != x.Length / qk * 18) throw new ArgumentException("Q4_0: sizes do not match whole blocks", nameof(y));
        for (int i = 0; i < x.Length / qk; i++)
        {
            ReadOnlySpan<float> b = x.Slice(i * qk, qk);
            Span<byte> o = y.Slice(i * 18, 18);
            float amax = 0, max = 0;
            foreach (float v in b)
            {
                if (amax < Math.Abs(v))
                {
                    amax = Math.Abs(v);
                    max = v;
                }
            }
            float d = max / -8f;
            float id = d != 0 ? 1f / d : 0f;
            BinaryPrimitives.WriteUInt16LittleEndian(o, FloatCodec.ToHalfBits(d));
            for (int j = 0; j < qk / 2; j++)
            {
                int x0 = Math.Min(15, (int)(sbyte)(b[j] * id + 8.5f));
                int x1 = Math.Min(15, (int)(sbyte)(b[qk / 2 + j] * id + 8.5f));
                o[2 + j] = (byte)(x0 | (x1 << 4));
            }
        }
    }

    public static void DequantizeQ4_0(ReadOnlySpan<byte> y, Span<float> x)
    {
        const int qk = 32;
        if (x.Length % qk != 0 || y.Length != x.Length / qk * 18) throw new ArgumentException("Q4_0: sizes do not match whole blocks", nameof(y));
        for (int i = 0; i < x.Length / qk; i++)
        {
            ReadOnlySpan<byte> b = y.Slice(i * 18, 18);
            float d = FloatCodec.FromHalfBits(BinaryPrimitives.ReadUInt16LittleEndian(b));
            for (int j = 0; j < qk / 2; j++)
            {
                x[i * qk + j] = ((b[2 + j] & 0x0F) - 8) * d;
                x[i * qk + qk / 2 + j] = ((b[2 + j] >> 4) - 8) * d;
            }
        }
    }
}
