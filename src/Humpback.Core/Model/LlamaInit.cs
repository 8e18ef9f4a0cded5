namespace Humpback.Model;

/// <summary>Random initialisation of a Llama as HF LlamaPreTrainedModel._init_weights does it: every linear and
/// embedding weight ~ normal(0, initializer_range = 0.02), every RMSNorm weight = 1. Each tensor draws from its own
/// stream seeded by (seed, tensor name), so the result does not depend on order or threads.</summary>
public static class LlamaInit
{
    public const float InitializerRange = 0.02f;

    public static Dictionary<string, HostTensor> Random(LlamaConfig config, ulong seed, float std = InitializerRange)
    {
        config.Validate();
        var tensors = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        var list = LlamaTensorNames.Expected(config).Select(e => new HostTensor(e.Name, e.Shape)).ToList();
        Parallel.ForEach(list, t =>
        {
            if (t.Shape.Length == 1) Array.Fill(t.Data, 1f);
            else FillNormal(t.Data, std, StreamSeed(seed, t.Name));
        });
        foreach (HostTensor t in list) tensors[t.Name] = t;
        return tensors;
    }

    /// <summary>Fills with normal(0, std) draws (Box–Muller on SplitMix64).</summary>
    public static void FillNormal(Span<float> data, float std, ulong seed)
    {
        var rng = new SplitMix64(seed);
        for (int i = 0; i < data.Length; i += 2)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1)) * std;
            data[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < data.Length) data[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
    }

    /// <summary>A per-tensor seed: FNV-1a of the name mixed with the run seed (stable across .NET versions).</summary>
    public static ulong StreamSeed(ulong seed, string name)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in name)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        return h ^ (seed * 0x9E3779B97F4A7C15UL);
    }
}

/// <summary>SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, well-mixed generator with a fixed specification.</summary>
public struct SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));
}
