using System.Runtime.CompilerServices;

namespace Humpback.Data;

/// <summary>Hashes that never change between runs, processes or .NET versions (string.GetHashCode does), used
/// for deterministic sampling, ordering, ids and deduplication. FNV-1a 64 over the input, finished with the
/// SplitMix64 mixer so that every output bit depends on every input bit.</summary>
public static class StableHash
{
    private const ulong FnvOffset = 14695981039346656037UL;
    private const ulong FnvPrime = 1099511628211UL;

    /// <summary>SplitMix64's finaliser (Steele et al. 2014): a bijection on 64-bit values with good avalanche.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong x)
    {
        x ^= x >> 30;
        x *= 0xBF58476D1CE4E5B9UL;
        x ^= x >> 27;
        x *= 0x94D049BB133111EBUL;
        x ^= x >> 31;
        return x;
    }

    /// <summary>Hash of UTF-16 code units.</summary>
    public static ulong Of(ReadOnlySpan<char> s)
    {
        ulong h = FnvOffset;
        foreach (char c in s)
        {
            h ^= c;
            h *= FnvPrime;
        }
        return Mix(h ^ (ulong)s.Length);
    }

    public static ulong Of(ReadOnlySpan<byte> s)
    {
        ulong h = FnvOffset;
        foreach (byte b in s)
        {
            h ^= b;
            h *= FnvPrime;
        }
        return Mix(h ^ (ulong)s.Length);
    }

    /// <summary>A key in [0, 2^64) that orders strings pseudo-randomly for a given <paramref name="seed"/>:
    /// sorting by it is a deterministic shuffle that does not depend on the input order.</summary>
    public static ulong Keyed(string s, long seed) => Mix(Of(s) ^ Mix((ulong)seed + 0x9E3779B97F4A7C15UL));

    /// <summary>Combines two hashes (order matters).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Combine(ulong a, ulong b) => Mix(a * 31 + b + 0x9E3779B97F4A7C15UL);
}
