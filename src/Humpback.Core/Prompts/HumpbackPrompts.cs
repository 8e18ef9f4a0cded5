namespace Humpback.Prompts;

/// <summary>The prompts and tags of the Humpback method (paper, Table 1, and the follow-up paper), verbatim.</summary>
public static class HumpbackPrompts
{
    /// <summary>System sentence for seed (human-written) training examples.</summary>
    public const string SeedSystem = "Answer in the style of an AI Assistant.";

    /// <summary>System sentence for augmented (web) training examples.</summary>
    public const string AugmentedSystem = "Answer with knowledge from web search.";

    /// <summary>Both tags together: what worked best at inference in the paper.</summary>
    public const string InferenceSystem = SeedSystem + " " + AugmentedSystem;

    /// <summary>The backward model's instruction (follow-up paper): the response comes after it, then the tag.</summary>
    public const string BackwardInstruction =
        "Below is a candidate answer to a question or instruction from an user. Write the most likely question to which the text below would be a great answer.";

    /// <summary>Input of the backward model Myx for a response/segment.</summary>
    public static string BackwardPrompt(string response) => $"{BackwardInstruction}\n\n{response}\n\n{SeedSystem}";

    /// <summary>The curation prompt of the paper (Table 1), up to the generated instruction and the output.</summary>
    public const string CurationRubric =
        "Below is an instruction from an user and a candidate answer. Evaluate whether or not the answer is a good example of how AI Assistant should respond to the user's instruction. Please assign a score using the following 5-point scale:\n"
        + "1: It means the answer is incomplete, vague, off-topic, controversial, or not exactly what the user asked for. For example, some content seems missing, numbered list does not start from the beginning, the opening sentence repeats user's question. Or the response is from another person’s perspective with their personal experience (e.g. taken from blog posts), or looks like an answer from a forum. Or it contains promotional text, navigation text, or other irrelevant information.\n"
        + "2: It means the answer addresses most of the asks from the user. It does not directly address the user's question. For example, it only provides a high-level methodology instead of the exact solution to user's question.\n"
        + "3: It means the answer is helpful but not written by an AI Assistant. It addresses all the basic asks from the user. It is complete and self contained with the drawback that the response is not written from an AI assistant's perspective, but from other people's perspective. The content looks like an excerpt from a blog post, web page, or web search results. For example, it contains personal experience or opinion, mentions comments section, or share on social media, etc.\n"
        + "4: It means the answer is written from an AI assistant's perspective with a clear focus of addressing the instruction. It provide a complete, clear, and comprehensive response to user’s question or instruction without missing or irrelevant information. It is well organized, self-contained, and written in a helpful tone. It has minor room for improvement, e.g. more concise and focused.\n"
        + "5: It means it is a perfect answer from an AI Assistant. It has a clear focus on being a helpful AI Assistant, where the response looks like intentionally written to address the user's question or instruction without any irrelevant sentences. The answer provides high quality content, demonstrating expert knowledge in the area, is very well written, logical, easy-to-follow, engaging and insightful.\n"
        + "\n"
        + "Please first provide a brief reasoning you used to derive the rating score, and then write \"Score: <rating>\" in the last line.";

    /// <summary>The rubric and the blank line after it: everything before the instruction and the answer.</summary>
    public const string CurationPreamble = CurationRubric + "\n\n";

    /// <summary>The full curation instruction for one pair (the shared preamble comes first, so it can be
    /// decoded once and shared by every row).</summary>
    public static string CurationInstruction(string instruction, string output) => $"{CurationPreamble}{instruction}\n{output}";

    /// <summary>The pairwise judge of `humpback judge` / eval (ours: the paper judged with GPT-4 and Claude and does
    /// not print its prompt). A third model reads the instruction and two responses labelled A and B and answers with
    /// one letter; every pair is judged in both orders, so a preference for a position cancels out.</summary>
    public const string JudgeRubric =
        "Below is an instruction from a user and two candidate responses, labelled A and B. Decide which response follows the instruction better: "
        + "the one that is more helpful, more correct and more relevant to what the user asked. Judge the content only; the order of the responses "
        + "and their length do not matter. Answer with a single letter: A or B.";

    /// <summary>The assistant turn of the judge starts with this lead-in, so the next token is the verdict letter.
    /// No trailing space: Llama-3's pre-tokenizer reads "is: A" as ":" then " A", so the letter token carries the
    /// space (see <see cref="JudgeLetters"/>).</summary>
    public const string JudgeLeadIn = "The better response is:";

    /// <summary>The two answer tokens after <see cref="JudgeLeadIn"/>, spelled with their leading space.</summary>
    public static readonly IReadOnlyList<string> JudgeLetters = [" A", " B"];

    /// <summary>The judge's user message for one pair: the rubric (shared by every row), then the instruction and
    /// the two responses.</summary>
    public static string JudgeInstruction(string instruction, string responseA, string responseB) =>
        $"{JudgeRubric}\n\nInstruction:\n{instruction}\n\nResponse A:\n{responseA}\n\nResponse B:\n{responseB}";
}
