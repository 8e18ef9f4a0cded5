namespace Humpback.Model;

/// <summary>A named fp32 tensor in host memory, row-major. The currency between Formats (files) and the model.</summary>
public sealed class HostTensor
{
    public HostTensor(string name, long[] shape, float[]? data = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        long n = 1;
        foreach (long s in shape)
        {
            if (s <= 0) throw new ArgumentException($"tensor {name}: shape [{string.Join(", ", shape)}] has a non-positive dimension", nameof(shape));
            n = checked(n * s);
        }
        if (n > Array.MaxLength) throw new ArgumentException($"tensor {name}: {n} elements exceed one .NET array", nameof(shape));
        if (data != null && data.LongLength != n)
            throw new ArgumentException($"tensor {name}: data has {data.LongLength} elements, shape [{string.Join(", ", shape)}] needs {n}", nameof(data));
        Name = name;
        Shape = shape;
        Data = data ?? new float[n];
    }

    public string Name { get; }
    public long[] Shape { get; }
    public float[] Data { get; }
    public long Count => Data.LongLength;

    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";
}

/// <summary>HF parameter names of a Llama checkpoint: the canonical names used everywhere in Humpback.</summary>
public static class LlamaTensorNames
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    public static string Layer(int i, string suffix) => $"model.layers.{i}.{suffix}";

    /// <summary>Per-layer suffixes, in checkpoint order.</summary>
    public static readonly string[] LayerSuffixes =
    [
        "input_layernorm.weight",
        "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
        "post_attention_layernorm.weight",
        "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
    ];

    /// <summary>Expected shape of every parameter of a config, row-major ([out, in] for linear weights).</summary>
    public static IEnumerable<(string Name, long[] Shape)> Expected(LlamaConfig c)
    {
        long d = c.HiddenSize, hd = c.ResolvedHeadDim, f = c.IntermediateSize;
        yield return (Embedding, [c.VocabSize, d]);
        for (int i = 0; i < c.NumLayers; i++)
        {
            yield return (Layer(i, "input_layernorm.weight"), [d]);
            yield return (Layer(i, "self_attn.q_proj.weight"), [c.NumHeads * hd, d]);
            yield return (Layer(i, "self_attn.k_proj.weight"), [c.NumKvHeads * hd, d]);
            yield return (Layer(i, "self_attn.v_proj.weight"), [c.NumKvHeads * hd, d]);
            yield return (Layer(i, "self_attn.o_proj.weight"), [d, c.NumHeads * hd]);
            yield return (Layer(i, "post_attention_layernorm.weight"), [d]);
            yield return (Layer(i, "mlp.gate_proj.weight"), [f, d]);
            yield return (Layer(i, "mlp.up_proj.weight"), [f, d]);
            yield return (Layer(i, "mlp.down_proj.weight"), [d, f]);
        }
        yield return (FinalNorm, [d]);
        if (!c.TieWordEmbeddings) yield return (LmHead, [c.VocabSize, d]);
    }
}
