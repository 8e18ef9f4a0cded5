namespace Humpback.Model;

/// <summary>LoRA hyper-parameters: W' = W + (alpha/rank)·B·A on the chosen targets (q,k,v,o,gate,up,down).</summary>
public sealed record LoraSettings(int Rank = 16, float Alpha = 32f, IReadOnlyList<string>? Targets = null)
{
    public IReadOnlyList<string> ResolvedTargets => Targets ?? ["q", "k", "v", "o"];

    public float Scale => Alpha / Rank;

    public void Validate()
    {
        if (Rank <= 0) throw new ArgumentException($"lora rank must be > 0 (got {Rank})");
        if (!(Alpha > 0)) throw new ArgumentException($"lora alpha must be > 0 (got {Alpha})");
        foreach (string t in ResolvedTargets)
        {
            if (!LlamaTensorNames.LoraTargets.ContainsKey(t))
                throw new ArgumentException($"unknown lora target '{t}' (expected some of {string.Join(",", LlamaTensorNames.LoraTargets.Keys)})");
        }
        if (ResolvedTargets.Count == 0) throw new ArgumentException("lora targets must not be empty");
    }

    /// <summary>"q,k,v,o" or "all" → target list.</summary>
    public static IReadOnlyList<string> ParseTargets(string spec) =>
        spec.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)
            ? [.. LlamaTensorNames.LoraTargets.Keys]
            : spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(s => s.EndsWith("_proj", StringComparison.Ordinal) ? s[..^5] : s).ToArray();
}

public enum TrainMode
{
    Full,
    Lora,
}
