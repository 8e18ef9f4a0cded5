namespace Humpback.Prompts;

/// <summary>How a (system, instruction, response) turn becomes text. Training (loss on the response only) and
/// inference (generation prompts) both render through this one place, so a model is always prompted the way it
/// was trained.</summary>
public enum ChatFormatKind
{
    /// <summary>Llama 3's chat format with its special tokens (Llama-3.2 checkpoints).</summary>
    Llama3,
    /// <summary>Plain-text markers for small models made from scratch, which need no special tokens beyond BOS/EOS.</summary>
    Plain,
}

/// <summary>A rendered turn: <see cref="Prompt"/> carries no loss; <see cref="Response"/> (which ends with the end-of-turn
/// marker) carries the loss during training, and is what a model generates at inference.</summary>
public sealed record RenderedTurn(string Prompt, string Response);

public static class ChatFormat
{
    public const string BeginOfText = "<|begin_of_text|>";
    public const string EndOfText = "<|end_of_text|>";
    public const string EndOfTurn = "<|eot_id|>";
    public const string StartHeader = "<|start_header_id|>";
    public const string EndHeader = "<|end_header_id|>";

    public static ChatFormatKind Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "llama3" or "llama-3" => ChatFormatKind.Llama3,
        "plain" => ChatFormatKind.Plain,
        _ => throw new ArgumentException($"unknown chat format '{name}' (expected llama3 or plain)"),
    };

    /// <summary>The text before the model's answer (including BOS where the format has it as text).</summary>
    public static string Prompt(ChatFormatKind kind, string? system, string instruction) => kind switch
    {
        ChatFormatKind.Llama3 =>
            BeginOfText
            + (string.IsNullOrEmpty(system) ? "" : $"{StartHeader}system{EndHeader}\n\n{system}{EndOfTurn}")
            + $"{StartHeader}user{EndHeader}\n\n{instruction}{EndOfTurn}"
            + $"{StartHeader}assistant{EndHeader}\n\n",
        ChatFormatKind.Plain =>
            (string.IsNullOrEmpty(system) ? "" : $"{system}\n\n")
            + $"### Instruction:\n{instruction}\n\n### Response:\n",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The marker that ends an answer: Llama 3's end-of-turn token; for plain models the tokenizer's EOS
    /// (added as a token id by the caller, so this returns "").</summary>
    public static string EndOfAnswer(ChatFormatKind kind) => kind == ChatFormatKind.Llama3 ? EndOfTurn : "";

    public static RenderedTurn Render(ChatFormatKind kind, string? system, string instruction, string response) =>
        new(Prompt(kind, system, instruction), response + EndOfAnswer(kind));
}
