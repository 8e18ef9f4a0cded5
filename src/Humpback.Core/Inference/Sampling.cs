using System.Numerics.Tensors;
using System.Text;

namespace Humpback.Inference;

/// <summary>Decoding parameters for generation. Sampling follows the Hugging Face order: temperature, then top-k,
/// then top-p (nucleus). Temperature 0 is greedy decoding.</summary>
/// <param name="MaxNewTokens">generation stops with finish reason "length" after this many tokens</param>
/// <param name="TopK">keep the k most likely tokens (0: no limit)</param>
/// <param name="TopP">keep the smallest set of most likely tokens whose probability reaches p (1: no limit)</param>
/// <param name="Seed">with the row's id, seeds the row's own random stream, so a row's text never depends on
/// batching, scheduling or sharding</param>
/// <param name="StopStrings">generation stops when the text contains one (finish reason "stop"; the text is cut before it)</param>
/// <param name="ExtraEndTokens">token ids ending generation besides the model's own end-of-generation tokens</param>
public sealed record GenerationSettings(
    float Temperature = 1.0f,
    float TopP = 0.9f,
    int TopK = 0,
    int MaxNewTokens = 256,
    ulong Seed = 1234,
    IReadOnlyList<string>? StopStrings = null,
    IReadOnlyList<int>? ExtraEndTokens = null)
{
    public void Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw new ArgumentException($"temperature must be ≥ 0 (got {Temperature})");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"top-p must be in (0, 1] (got {TopP})");
        if (TopK < 0) throw new ArgumentException($"top-k must be ≥ 0 (got {TopK})");
        if (MaxNewTokens < 1) throw new ArgumentException($"max new tokens must be ≥ 1 (got {MaxNewTokens})");
        if (StopStrings?.Any(string.IsNullOrEmpty) == true) throw new ArgumentException("stop strings must not be empty");
    }

    internal byte[][] StopBytes() => (StopStrings ?? []).Select(s => Encoding.UTF8.GetBytes(s)).ToArray();
}

/// <summary>A row's own random stream: xoshiro256** seeded through SplitMix64 from (seed, row key). Implemented
/// here rather than System.Random so the sequence is fixed by this code, not by a runtime version.</summary>
public struct RowRng
{
    private ulong _s0, _s1, _s2, _s3;

    public RowRng(ulong seed, ulong rowKey)
    {
        ulong x = seed ^ (rowKey * 0x9E3779B97F4A7C15UL);
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    /// <summary>A stable 64-bit key for a row id (FNV-1a over its UTF-8 bytes).</summary>
    public static ulong KeyOf(string id)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (byte b in Encoding.UTF8.GetBytes(id)) { h ^= b; h *= 0x100000001B3UL; }
        return h;
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
}

/// <summary>Scratch buffers for one sampling call (one per worker thread; the vocabulary can be 128k wide).</summary>
internal sealed class SamplerScratch(int vocab)
{
    public readonly float[] Values = new float[vocab];
    public readonly List<int> Candidates = new(1024);
    public readonly byte[] Mask = new byte[vocab];
    private int[] _ids = new int[1024];

    public int[] Ids(int count) => _ids.Length >= count ? _ids : _ids = new int[Math.Max(count, _ids.Length * 2)];
}

/// <summary>Samples one token from a row of logits. Pure given (logits, settings, rng state): ties are broken by the
/// lower token id and sums run in a fixed order, so equal logits always give equal tokens.</summary>
internal static class TokenSampler
{
    public static int Sample(ReadOnlySpan<float> logits, GenerationSettings s, ref RowRng rng, SamplerScratch scratch)
    {
        if (s.Temperature == 0) return ArgMax(logits);
        int n = logits.Length;
        Span<float> v = scratch.Values.AsSpan(0, n);
        TensorPrimitives.Multiply(logits, 1f / s.Temperature, v);

        List<int> cand = scratch.Candidates;
        cand.Clear();
        if (s.TopK > 0 && s.TopK < n)
        {
            TopK(v, s.TopK, cand);
            return SampleSorted(v, cand, s.TopP, ref rng);
        }

        // Full vocabulary: weights e_i = exp(v_i − max) in (0, 1], total Z.
        float max = TensorPrimitives.Max(v);
        TensorPrimitives.Subtract(v, max, v);
        TensorPrimitives.Exp(v, v);
        double z = Sum(v);
        if (s.TopP >= 1f)
        {
            double u = rng.NextDouble() * z, acc = 0;
            for (int i = 0; i < n; i++)
            {
                acc += v[i];
                if (u < acc) return i;
            }
            return LastPositive(v);
        }
        // Nucleus: gather the tokens above a threshold; when they already hold p·Z, the nucleus lies among them
        // (every other token is smaller than each of them). Otherwise lower the threshold.
        double need = s.TopP * z;
        for (float theta = 1e-3f; ; theta = theta > 1e-30f ? theta * 1e-3f : 0f)
        {
            cand.Clear();
            double mass = 0;
            for (int i = 0; i < n; i++)
            {
                if (v[i] >= theta) { cand.Add(i); mass += v[i]; }
            }
            if (mass >= need || theta == 0f) break;
        }
        int[] ids = scratch.Ids(cand.Count);
        cand.CopyTo(ids);
        int keep = SelectNucleus(v, ids, cand.Count, need);
        // Draw within the nucleus walking ids in ascending order (any fixed order gives the same distribution; this
        // one needs no sort, which matters for flat distributions where the nucleus is most of the vocabulary).
        byte[] mask = scratch.Mask;
        double total = 0;
        for (int k = 0; k < keep; k++) { mask[ids[k]] = 1; total += v[ids[k]]; }
        double draw = rng.NextDouble() * total, run = 0;
        int chosen = -1, lastIn = -1;
        foreach (int i in cand)
        {
            if (mask[i] == 0) continue;
            lastIn = i;
            run += v[i];
            if (chosen < 0 && draw < run) chosen = i;
        }
        for (int k = 0; k < keep; k++) mask[ids[k]] = 0;
        return chosen >= 0 ? chosen : lastIn;
    }

    /// <summary>Reorders ids[0, count) so that ids[0, keep) is the nucleus: the smallest prefix, in the order (weight
    /// descending, id ascending), whose weight reaches <paramref name="need"/>. Returns keep. Quickselect on cumulative
    /// weight with a deterministic pivot: expected O(count), and the set is unique whatever the algorithm.</summary>
    internal static int SelectNucleus(ReadOnlySpan<float> w, int[] ids, int count, double need)
    {
        int lo = 0, hi = count;
        while (hi - lo > 16)
        {
            int a = ids[lo], b = ids[lo + (hi - lo) / 2], c = ids[hi - 1];
            int pivot = Before(w, a, b) ? (Before(w, b, c) ? b : Before(w, a, c) ? c : a) : (Before(w, a, c) ? a : Before(w, b, c) ? c : b);
            // Partition [lo, hi): ids strictly before the pivot first.
            int p = lo;
            double front = 0;
            for (int k = lo; k < hi; k++)
            {
                int id = ids[k];
                if (Before(w, id, pivot))
                {
                    (ids[k], ids[p]) = (ids[p], id);
                    front += w[id];
                    p++;
                }
            }
            if (front >= need)
            {
                hi = p; // the nucleus ends among the ids before the pivot
                continue;
            }
            // Everything before the pivot is in; put the pivot next and include it too.
            int at = Array.IndexOf(ids, pivot, p, hi - p);
            (ids[p], ids[at]) = (ids[at], ids[p]);
            need -= front + w[pivot];
            lo = p + 1;
            if (need <= 0) return lo;
        }
        // A few left: insertion-sort them and take what is still needed.
        for (int k = lo + 1; k < hi; k++)
        {
            int id = ids[k], j = k - 1;
            for (; j >= lo && Before(w, id, ids[j]); j--) ids[j + 1] = ids[j];
            ids[j + 1] = id;
        }
        for (int k = lo; k < hi; k++)
        {
            need -= w[ids[k]];
            if (need <= 0) return k + 1;
        }
        return hi;
    }

    /// <summary>The total order of the nucleus: larger weight first, then lower id.</summary>
    private static bool Before(ReadOnlySpan<float> w, int x, int y) => w[x] > w[y] || (w[x] == w[y] && x < y);

    /// <summary>Top-k candidates are already selected; softmax over them, then the nucleus.</summary>
    private static int SampleSorted(Span<float> v, List<int> cand, float topP, ref RowRng rng)
    {
        SortDescending(v, cand);
        float max = v[cand[0]];
        double z = 0;
        foreach (int i in cand) { v[i] = MathF.Exp(v[i] - max); z += v[i]; }
        return SampleNucleus(v, cand, topP >= 1f ? z : topP * z, ref rng);
    }

    /// <summary>Keeps the smallest prefix of the sorted candidates whose weight reaches <paramref name="need"/> and
    /// draws from it in proportion to the weights.</summary>
    private static int SampleNucleus(Span<float> w, List<int> sorted, double need, ref RowRng rng)
    {
        int keep = sorted.Count;
        double acc = 0;
        for (int k = 0; k < sorted.Count; k++)
        {
            acc += w[sorted[k]];
            if (acc >= need) { keep = k + 1; break; }
        }
        double total = 0;
        for (int k = 0; k < keep; k++) total += w[sorted[k]];
        double u = rng.NextDouble() * total;
        acc = 0;
        for (int k = 0; k < keep; k++)
        {
            acc += w[sorted[k]];
            if (u < acc) return sorted[k];
        }
        return sorted[keep - 1];
    }

    private static void SortDescending(ReadOnlySpan<float> v, List<int> cand)
    {
        var items = new (float Value, int Id)[cand.Count];
        for (int k = 0; k < items.Length; k++) items[k] = (v[cand[k]], cand[k]);
        // Descending value, then ascending id: a total order, so the result is unique.
        Array.Sort(items, static (a, b) =>
        {
            int c = b.Value.CompareTo(a.Value);
            return c != 0 ? c : a.Id.CompareTo(b.Id);
        });
        cand.Clear();
        foreach (var (_, id) in items) cand.Add(id);
    }

    /// <summary>The k largest values (ties: lower id first) by a bounded min-heap, O(n log k).</summary>
    private static void TopK(ReadOnlySpan<float> v, int k, List<int> result)
    {
        var heap = new PriorityQueue<int, (float Value, int NegId)>(k + 1);
        for (int i = 0; i < v.Length; i++)
        {
            var key = (v[i], -i);
            if (heap.Count < k) heap.Enqueue(i, key);
            else if (heap.TryPeek(out _, out var top) && Compare(key, top) > 0)
            {
                heap.DequeueEnqueue(i, key);
            }
        }
        while (heap.Count > 0) result.Add(heap.Dequeue());
    }

    private static int Compare((float Value, int NegId) a, (float Value, int NegId) b)
    {
        int c = a.Value.CompareTo(b.Value);
        return c != 0 ? c : a.NegId.CompareTo(b.NegId);
    }

    internal static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best]) best = i;
        }
        return best;
    }

    private static double Sum(ReadOnlySpan<float> v)
    {
        // Fixed-order double accumulation over float blocks: deterministic and accurate for 128k-wide rows.
        double total = 0;
        for (int i = 0; i < v.Length; i += 4096) total += TensorPrimitives.Sum(v.Slice(i, Math.Min(4096, v.Length - i)));
        return total;
    }

    private static int LastPositive(ReadOnlySpan<float> v)
    {
        for (int i = v.Length - 1; i >= 0; i--) if (v[i] > 0) return i;
        return 0;
    }
}
