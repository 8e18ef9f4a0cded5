namespace Humpback.Model;

/// <summary>LoRA hyper-parameters (PEFT adapter_config.json: r, lora_alpha, target_modules, lora_dropout).</summary>
public sealed record LoraConfig
{
    public int Rank { get; init; } = 8;
    public float Alpha { get; init; } = 16f;
    /// <summary>PEFT module names: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.</summary>
    public IReadOnlyList<string> TargetModules { get; init; } = ["q_proj", "k_proj", "v_proj", "o_proj"];
    public float Dropout { get; init; }
    /// <summary>PEFT "base_model_name_or_path": the base model's folder or hub id.</summary>
    public string BaseModel { get; init; } = "";

    /// <summary>The factor the update B·A is scaled by: alpha / r.</summary>
    public float Scale => Alpha / Rank;

    public void Validate(string source = "lora config")
    {
        if (Rank <= 0) throw new InvalidDataException($"{source}: r must be > 0 (got {Rank})");
        if (!float.IsFinite(Alpha)) throw new InvalidDataException($"{source}: lora_alpha must be finite (got {Alpha})");
        if (TargetModules.Count == 0) throw new InvalidDataException($"{source}: target_modules must not be empty");
        foreach (string m in TargetModules)
        {
            if (!LoraModules.IsKnown(m)) throw new InvalidDataException($"{source}: target_modules: '{m}' is not a Llama linear module ({string.Join(", ", LoraModules.All)})");
        }
    }
}

/// <summary>Names of the Llama linear layers LoRA can adapt.</summary>
public static class LoraModules
{
    public static readonly IReadOnlyList<string> All = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    public static bool IsKnown(string module) => All.Contains(module);

    /// <summary>"q" or "q_proj" → "q_proj".</summary>
    public static string Normalize(string module)
    {
        string m = module.EndsWith("_proj", StringComparison.Ordinal) ? module : module + "_proj";
        return IsKnown(m) ? m : throw new ArgumentException($"'{module}' is not a Llama linear module ({string.Join(", ", All)})", nameof(module));
    }

    /// <summary>"q_proj" → "self_attn.q_proj", "up_proj" → "mlp.up_proj".</summary>
    public static string Path(string module) => module is "gate_proj" or "up_proj" or "down_proj" ? "mlp." + module : "self_attn." + module;

    /// <summary>The HF weight a module adapts: model.layers.{i}.self_attn.q_proj.weight.</summary>
    public static string WeightName(int layer, string module) => LlamaTensorNames.Layer(layer, Path(module) + ".weight");

    /// <summary>(out, in) of a module's weight.</summary>
    public static (int Out, int In) Shape(LlamaConfig c, string module)
    {
        int d = c.HiddenSize, hd = c.ResolvedHeadDim, f = c.IntermediateSize;
        return module switch
        {
            "q_proj" => (c.NumHeads * hd, d),
            "k_proj" or "v_proj" => (c.NumKvHeads * hd, d),
            "o_proj" => (d, c.NumHeads * hd),
            "gate_proj" or "up_proj" => (f, d),
            "down_proj" => (d, f),
            _ => throw new ArgumentException($"'{module}' is not a Llama linear module", nameof(module)),
        };
    }
}

/// <summary>One adapted module: A is [r, in], B is [out, r]; the layer computes W·x + (alpha/r)·B·(A·x).</summary>
public sealed record LoraPair(HostTensor A, HostTensor B);

/// <summary>A LoRA adapter: config plus (A, B) per (layer, module). Modules without an entry are not adapted.
/// Tensor names are PEFT's without the "base_model.model." prefix: model.layers.{i}.self_attn.q_proj.lora_A.weight.</summary>
public sealed class LoraAdapter
{
    private readonly SortedDictionary<(int Layer, string Module), LoraPair> _weights = new();

    public LoraAdapter(LoraConfig config)
    {
        config.Validate();
        Config = config;
    }

    public LoraConfig Config { get; }

    public IReadOnlyDictionary<(int Layer, string Module), LoraPair> Weights => _weights;

    public static string TensorName(int layer, string module, char ab) => LlamaTensorNames.Layer(layer, $"{LoraModules.Path(module)}.lora_{ab}.weight");

    public LoraPair? Get(int layer, string module) => _weights.TryGetValue((layer, LoraModules.Normalize(module)), out LoraPair? p) ? p : null;

    /// <summary>Sets a module's pair; A must be [r, in], B [out, r] with r = Config.Rank.</summary>
    public void Set(int layer, string module, HostTensor a, HostTensor b)
    {
        module = LoraModules.Normalize(module);
        if (layer < 0) throw new ArgumentOutOfRangeException(nameof(layer));
        if (!Config.TargetModules.Contains(module)) throw new ArgumentException($"{module} is not in target_modules [{string.Join(", ", Config.TargetModules)}]", nameof(module));
        if (a.Shape.Length != 2 || a.Shape[0] != Config.Rank) throw new ArgumentException($"{a.Name}: lora_A must be [r={Config.Rank}, in], got [{string.Join(", ", a.Shape)}]", nameof(a));
        if (b.Shape.Length != 2 || b.Shape[1] != Config.Rank) throw new ArgumentException($"{b.Name}: lora_B must be [out, r={Config.Rank}], got [{string.Join(", ", b.Shape)}]", nameof(b));
        _weights[(layer, module)] = new LoraPair(a, b);
    }

    /// <summary>Checks every pair against the model's shapes; throws <see cref="InvalidDataException"/> naming the tensor.</summary>
    public void Validate(LlamaConfig model, string source = "adapter")
    {
        foreach (var ((layer, module), p) in _weights)
        {
            if (layer >= model.NumLayers) throw new InvalidDataException($"{source}: {p.A.Name}: layer {layer} but the model has {model.NumLayers}");
            var (o, i) = LoraModules.Shape(model, module);
            if (p.A.Shape[1] != i) throw new InvalidDataException($"{source}: {p.A.Name}.shape: [{string.Join(", ", p.A.Shape)}] but the model needs [{Config.Rank}, {i}]");
            if (p.B.Shape[0] != o) throw new InvalidDataException($"{source}: {p.B.Name}.shape: [{string.Join(", ", p.B.Shape)}] but the model needs [{o}, {Config.Rank}]");
        }
    }

    /// <summary>A fresh adapter as PEFT initialises one: A ~ U(−1/√in, 1/√in) (kaiming-uniform with a=√5), B = 0,
    /// for every layer and target module; deterministic from <paramref name="seed"/>.</summary>
    public static LoraAdapter CreateInitial(LlamaConfig model, LoraConfig config, ulong seed)
    {
        var adapter = new LoraAdapter(config);
        for (int l = 0; l < model.NumLayers; l++)
        {
            foreach (string m in config.TargetModules)
            {
                var (o, i) = LoraModules.Shape(model, m);
                var a = new HostTensor(TensorName(l, m, 'A'), [config.Rank, i]);
                var rng = new SplitMix64(LlamaInit.StreamSeed(seed, a.Name));
                float bound = 1f / MathF.Sqrt(i);
                for (int k = 0; k < a.Data.Length; k++) a.Data[k] = (float)((rng.NextDouble() * 2 - 1) * bound);
                adapter.Set(l, m, a, new HostTensor(TensorName(l, m, 'B'), [o, config.Rank]));
            }
        }
        return adapter;
    }

    /// <summary>Returns a copy of <paramref name="baseTensors"/> with W += (alpha/r)·B·A folded into every adapted weight
    /// (accumulated in double per element).</summary>
    public Dictionary<string, HostTensor> MergeInto(IReadOnlyDictionary<string, HostTensor> baseTensors)
    {
        var result = new Dictionary<string, HostTensor>(baseTensors, StringComparer.Ordinal);
        double scale = Config.Scale;
        int r = Config.Rank;
        foreach (var ((layer, module), p) in _weights)
        {
            string name = LoraModules.WeightName(layer, module);
            if (!baseTensors.TryGetValue(name, out HostTensor? w)) throw new InvalidDataException($"adapter: {name}: not in the base model");
            int outDim = (int)w.Shape[0], inDim = (int)w.Shape[1];
            if (p.A.Shape[1] != inDim || p.B.Shape[0] != outDim)
                throw new InvalidDataException($"adapter: {p.A.Name}: shapes A [{string.Join(", ", p.A.Shape)}], B [{string.Join(", ", p.B.Shape)}] do not fit {name} [{outDim}, {inDim}]");
            var merged = new HostTensor(name, w.Shape, (float[])w.Data.Clone());
            float[] a = p.A.Data, b = p.B.Data, m = merged.Data;
            Parallel.For(0, outDim, o =>
            {
                for (int i = 0; i < inDim; i++)
                {
                    double s = 0;
                    for (int k = 0; k < r; k++) s += (double)b[o * r + k] * a[k * inDim + i];
                    m[o * inDim + i] = (float)(m[o * inDim + i] + scale * s);
                }
            });
            result[name] = merged;
        }
        return result;
    }
}
