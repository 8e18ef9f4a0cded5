namespace Humpback.Model;

/// <summary>LoRA hyper-parameters as training takes them: W' = W + (alpha/rank)·B·A on the chosen targets, named
/// by their short names (q, k, v, o, gate, up, down). The module names, paths and shapes behind them are
/// <see cref="LoraModules"/>'s; a saved adapter's adapter_config.json is <see cref="LoraConfig"/>
/// (<see cref="ToPeftConfig"/> / <see cref="FromPeftConfig"/> convert).</summary>
public sealed record LoraSettings(int Rank = 16, float Alpha = 32f, IReadOnlyList<string>? Targets = null)
{
    /// <summary>Every linear module of a Llama layer, by short name.</summary>
    public static IReadOnlyList<string> AllTargets { get; } = LoraModules.All.Select(ShortName).ToArray();

    public IReadOnlyList<string> ResolvedTargets => Targets ?? ["q", "k", "v", "o"];

    public float Scale => Alpha / Rank;

    public void Validate()
    {
        if (Rank <= 0) throw new ArgumentException($"lora rank must be > 0 (got {Rank})");
        if (!(Alpha > 0)) throw new ArgumentException($"lora alpha must be > 0 (got {Alpha})");
        foreach (string t in ResolvedTargets)
        {
            if (!AllTargets.Contains(t))
                throw new ArgumentException($"unknown lora target '{t}' (expected some of {string.Join(",", AllTargets)})");
        }
        if (ResolvedTargets.Count == 0) throw new ArgumentException("lora targets must not be empty");
    }

    /// <summary>"q,k,v,o" or "all" → target list ("q_proj" is accepted for "q").</summary>
    public static IReadOnlyList<string> ParseTargets(string spec) =>
        spec.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)
            ? AllTargets
            : spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ShortName).ToArray();

    /// <summary>The module path inside a layer of a target: "q" → "self_attn.q_proj".</summary>
    public static string ModulePath(string target) => LoraModules.Path(LoraModules.Normalize(target));

    /// <summary>The PEFT adapter_config.json of these settings.</summary>
    public LoraConfig ToPeftConfig(string baseModel) => new()
    {
        Rank = Rank, Alpha = Alpha, BaseModel = baseModel, TargetModules = ResolvedTargets.Select(LoraModules.Normalize).ToList(),
    };

    public static LoraSettings FromPeftConfig(LoraConfig c) => new(c.Rank, c.Alpha, c.TargetModules.Select(ShortName).ToList());

    private static string ShortName(string module) => module.EndsWith("_proj", StringComparison.Ordinal) ? module[..^"_proj".Length] : module;
}

public enum TrainMode
{
    Full,
    Lora,
}
