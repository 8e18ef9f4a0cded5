namespace Humpback.Training;

/// <summary>One training example: an SFT turn (system?, instruction, output) or, for the language-modelling
/// objective, raw text in <see cref="Output"/> with an empty instruction.</summary>
public sealed record TrainingExample(string Id, string? System, string Instruction, string Output);

public enum Objective
{
    /// <summary>Supervised fine-tuning: loss on the response tokens only.</summary>
    Sft,
    /// <summary>Language modelling on raw text: loss on every token (pre-training a small base model).</summary>
    Lm,
}

public enum OverlongPolicy
{
    Truncate,
    Skip,
}
