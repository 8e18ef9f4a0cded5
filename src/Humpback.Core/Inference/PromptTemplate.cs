using Humpback.Prompts;
using System.Text.RegularExpressions;

namespace Humpback.Inference;

public enum ChatFormat
{
    /// <summary>Llama-3 chat: &lt;|begin_of_text|&gt;&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\n…&lt;|eot_id|&gt;.</summary>
    Llama3,
    /// <summary>"### Instruction:" / "### Response:" text, for small models without chat special tokens.</summary>
    Plain,
    /// <summary>The template text as it is (after BOS when the model asks for it).</summary>
    None,
}

/// <summary>A prompt template: an optional system message, a user message with placeholders ({instruction},
/// {output}, {text}, and the judge's {response_a}, {response_b}) filled from input columns, and text the assistant
/// turn starts with (e.g. "Score: ").</summary>
public sealed partial class PromptTemplate
{
    public static readonly IReadOnlyList<string> KnownPlaceholders = ["instruction", "output", "text", "response_a", "response_b"];

    /// <summary>The placeholder names as a regex alternation (one list for this class and <see cref="PromptRenderer"/>).</summary>
    internal const string PlaceholderNames = "instruction|output|text|response_a|response_b";

    public PromptTemplate(string name, string user, string? system = null, string assistantPrefill = "")
    {
        Name = name;
        User = user;
        System = system;
        AssistantPrefill = assistantPrefill;
        Placeholders = PlaceholderPattern().Matches(user).Select(m => m.Groups[1].Value).Distinct().ToArray();
        if (Placeholders.Count == 0)
            throw new ArgumentException($"template '{name}' has no placeholder; use {string.Join(", ", KnownPlaceholders.Select(p => "{" + p + "}"))}");
    }

    public string Name { get; }
    public string? System { get; }
    public string User { get; }
    public string AssistantPrefill { get; }

    /// <summary>Placeholder names in order of first appearance.</summary>
    public IReadOnlyList<string> Placeholders { get; }

    /// <summary>A built-in template (backward, forward, curate, curate-generate, judge) or a template file whose whole
    /// content is the user message.</summary>
    public static PromptTemplate Resolve(string nameOrFile, string? system = null)
    {
        switch (nameOrFile)
        {
            case "backward": return new PromptTemplate("backward", PromptTemplates.BackwardUser, system);
            case "forward": return new PromptTemplate("forward", "{instruction}", system ?? PromptTemplates.ForwardSystem);
            case "curate": return PromptTemplates.Curation(logits: true);
            case "curate-generate": return PromptTemplates.Curation(logits: false);
            case "judge": return PromptTemplates.Judge(system);
        }
        if (!File.Exists(nameOrFile))
            throw new FileNotFoundException($"template '{nameOrFile}' is neither a built-in (backward, forward, curate, curate-generate, judge) nor an existing file", nameOrFile);
        string text = File.ReadAllText(nameOrFile);
        return new PromptTemplate(Path.GetFileName(nameOrFile), text.TrimEnd('\n'), system);
    }

    [GeneratedRegex(@"\{(" + PlaceholderNames + @")\}")]
    internal static partial Regex PlaceholderPattern();
}

/// <summary>The prompts of the method, verbatim where the paper gives them.</summary>
public static class PromptTemplates
{
    /// <summary>The self-curation prompt (Li et al. 2023, Table 1) up to the instruction and answer, which follow it after a blank line
    /// as "{instruction}\n{output}". Copied verbatim, curly apostrophes included.</summary>
    public const string CurationPrompt = HumpbackPrompts.CurationRubric;

    /// <summary>The backward model's prompt (follow-up paper): the header, the response, then the seed tag.</summary>
    public const string BackwardHeader = HumpbackPrompts.BackwardInstruction;

    /// <summary>System sentence of seed examples (and of the backward prompt's last line).</summary>
    public const string SeedTag = HumpbackPrompts.SeedSystem;

    /// <summary>System sentence of augmented examples.</summary>
    public const string AugmentedTag = HumpbackPrompts.AugmentedSystem;

    public const string BackwardUser = BackwardHeader + "\n\n{output}\n\n" + SeedTag;

    /// <summary>At inference both tags together worked best (paper).</summary>
    public const string ForwardSystem = SeedTag + " " + AugmentedTag;

    /// <summary>The user message of the curation prompt: the verbatim prompt, a blank line, the instruction, the answer.</summary>
    public const string CurationUser = CurationPrompt + "\n\n{instruction}\n{output}";

    /// <summary>Logits mode stops the assistant turn at "Score: " so the next token is the rating digit;
    /// generate mode lets the model reason first and write "Score: N" on its last line (paper).</summary>
    public const string ScorePrefill = "Score: ";

    public static PromptTemplate Curation(bool logits) =>
        new(logits ? "curate" : "curate-generate", CurationUser, null, logits ? ScorePrefill : "");

    /// <summary>The judge's user message: the rubric, then the instruction and the responses shown as A and B.</summary>
    public const string JudgeUser = HumpbackPrompts.JudgeRubric + "\n\nInstruction:\n{instruction}\n\nResponse A:\n{response_a}\n\nResponse B:\n{response_b}";

    /// <summary>The judge's assistant turn stops at the lead-in, so the next token is " A" or " B".</summary>
    public const string JudgePrefill = HumpbackPrompts.JudgeLeadIn;

    public static PromptTemplate Judge(string? system = null) => new("judge", JudgeUser, system, JudgePrefill);
}
