using System.Numerics;
using System.Runtime.InteropServices;

namespace Humpback.Data;

/// <summary>MinHash signatures over word shingles, reduced to LSH band hashes (Broder 1997; Leskovec et al.,
/// Mining of Massive Datasets, ch. 3). Each shingle (k consecutive word hashes) becomes a 32-bit value x; the
/// i-th of Bands × RowsPerBand hash functions is h_i(x) = f((x ^ b_i) · a_i) with a_i odd, b_i random and f an
/// xor-shift, evaluated for all i at once with SIMD (System.Numerics.Vector). The constants come from a fixed
/// seed, so signatures are the same in every run.</summary>
public sealed class MinHasher
{
    private readonly uint[] _a;
    private readonly uint[] _b;
    private readonly int _lanes;

    public MinHasher(int bands, int rowsPerBand, int shingleWords, ulong seed = 0x48756D706261636BUL)
    {
        Bands = bands;
        RowsPerBand = rowsPerBand;
        ShingleWords = shingleWords;
        int perms = bands * rowsPerBand;
        int width = Vector<uint>.Count;
        _lanes = (perms + width - 1) / width * width;
        _a = new uint[_lanes];
        _b = new uint[_lanes];
        ulong state = seed;
        for (int i = 0; i < _lanes; i++)
        {
            state += 0x9E3779B97F4A7C15UL;
            ulong r = StableHash.Mix(state);
            _a[i] = (uint)r | 1u;
            _b[i] = (uint)(r >> 32);
        }
    }

    public int Bands { get; }
    public int RowsPerBand { get; }
    public int ShingleWords { get; }
    public int Permutations => Bands * RowsPerBand;

    /// <summary>The MinHash signature of <paramref name="words"/> (length ≥ <see cref="Permutations"/>, padded to a
    /// SIMD multiple). Returns false for a text without words.</summary>
    public bool Signature(ReadOnlySpan<ulong> words, Span<uint> signature)
    {
        if (words.IsEmpty) return false;
        Span<Vector<uint>> mins = MemoryMarshal.Cast<uint, Vector<uint>>(signature[.._lanes]);
        ReadOnlySpan<Vector<uint>> a = MemoryMarshal.Cast<uint, Vector<uint>>(_a);
        ReadOnlySpan<Vector<uint>> b = MemoryMarshal.Cast<uint, Vector<uint>>(_b);
        mins.Fill(new Vector<uint>(uint.MaxValue));
        int k = Math.Min(ShingleWords, words.Length);
        for (int i = 0; i + k <= words.Length; i++)
        {
            ulong h = 0xB7E151628AED2A6BUL;
            for (int j = i; j < i + k; j++) h = SegmentWords.Combine(h, words[j]);
            h = StableHash.Mix(h);
            var x = new Vector<uint>((uint)(h ^ (h >> 32)));
            for (int v = 0; v < mins.Length; v++)
            {
                Vector<uint> y = (x ^ b[v]) * a[v];
                y ^= Vector.ShiftRightLogical(y, 15);
                mins[v] = Vector.Min(mins[v], y);
            }
        }
        return true;
    }

    /// <summary>Scratch size for <see cref="Signature"/>.</summary>
    public int SignatureLength => _lanes;

    /// <summary>One 64-bit hash per band of the signature (the band index is mixed in, so all bands can share one set).</summary>
    public void BandHashes(ReadOnlySpan<uint> signature, Span<ulong> bands)
    {
        for (int band = 0; band < Bands; band++)
        {
            ulong h = 0x9E3779B97F4A7C15UL * (ulong)(band + 1);
            ReadOnlySpan<uint> rows = signature.Slice(band * RowsPerBand, RowsPerBand);
            foreach (uint r in rows) h = SegmentWords.Combine(h, r);
            bands[band] = StableHash.Mix(h);
        }
    }

    /// <summary>Estimated Jaccard similarity of two signatures (fraction of equal positions).</summary>
    public double Similarity(ReadOnlySpan<uint> x, ReadOnlySpan<uint> y)
    {
        int same = 0;
        for (int i = 0; i < Permutations; i++)
            if (x[i] == y[i]) same++;
        return (double)same / Permutations;
    }
}

/// <summary>A set of 64-bit keys with open addressing and linear probing: 8 bytes a slot, no per-entry object,
/// so the dedup indexes stay small (about 13 bytes a key at the 0.6 maximum load). Key 0 is stored as 1.</summary>
public sealed class LongHashSet
{
    private ulong[] _slots;
    private int _mask;

    public LongHashSet(int capacity = 1 << 16)
    {
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, capacity));
        _slots = new ulong[size];
        _mask = size - 1;
    }

    public int Count { get; private set; }

    /// <summary>Bytes held by the slots.</summary>
    public long Bytes => (long)_slots.Length * sizeof(ulong);

    public bool Contains(ulong key)
    {
        key = key == 0 ? 1 : key;
        int i = (int)(StableHash.Mix(key) & (ulong)_mask);
        while (true)
        {
            ulong s = _slots[i];
            if (s == key) return true;
            if (s == 0) return false;
            i = (i + 1) & _mask;
        }
    }

    /// <summary>Adds <paramref name="key"/>; false when it was already there.</summary>
    public bool Add(ulong key)
    {
        if (Count + 1 > _slots.Length * 0.6) Grow();
        key = key == 0 ? 1 : key;
        int i = (int)(StableHash.Mix(key) & (ulong)_mask);
        while (true)
        {
            ulong s = _slots[i];
            if (s == key) return false;
            if (s == 0)
            {
                _slots[i] = key;
                Count++;
                return true;
            }
            i = (i + 1) & _mask;
        }
    }

    private void Grow()
    {
        ulong[] old = _slots;
        _slots = new ulong[old.Length * 2];
        _mask = _slots.Length - 1;
        Count = 0;
        foreach (ulong k in old)
            if (k != 0) Add(k);
    }
}
