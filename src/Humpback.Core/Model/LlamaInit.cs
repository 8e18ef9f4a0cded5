namespace Humpback.Model;

/// <summary>Random initialisation of a Llama from a seed: N(0, std) for matrices (the output projections of
/// each block scaled by 1/√(2·layers), GPT-2's habit), ones for RMSNorm weights.</summary>
public static class LlamaInit
{
    public static Dictionary<string, HostTensor> RandomWeights(LlamaConfig config, int seed, float std = 0.02f)
    {
        config.Validate();
        var rng = new Random(seed);
        var d = new Dictionary<string, HostTensor>();
        float residualStd = std / MathF.Sqrt(2f * config.NumLayers);
        foreach (var (name, shape) in LlamaTensorNames.Expected(config))
        {
            var t = new HostTensor(name, shape);
            if (shape.Length == 1)
            {
                Array.Fill(t.Data, 1f);
            }
            else
            {
                bool residualOut = name.EndsWith("o_proj.weight", StringComparison.Ordinal) || name.EndsWith("down_proj.weight", StringComparison.Ordinal);
                FillNormal(t.Data, rng, residualOut ? residualStd : std);
            }
            d[name] = t;
        }
        return d;
    }

    /// <summary>Box–Muller normal samples; deterministic for a given <see cref="Random"/> seed.</summary>
    public static void FillNormal(Span<float> data, Random rng, float std)
    {
        for (int i = 0; i < data.Length; i += 2)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1));
            data[i] = (float)(r * Math.Cos(2 * Math.PI * u2) * std);
            if (i + 1 < data.Length) data[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2) * std);
        }
    }
}
