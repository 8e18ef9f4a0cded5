using Humpback.Inference;
using Humpback.Prompts;
using Xunit;

namespace Humpback.Tests.Prompts;

/// <summary>A model must be prompted at inference exactly as it was trained: the training collator's text and the
/// inference renderer's text agree for every chat format and the Humpback templates.</summary>
public class PromptConsistencyTests
{
    [Theory]
    [InlineData(ChatFormatKind.Llama3, Humpback.Inference.ChatFormat.Llama3)]
    [InlineData(ChatFormatKind.Plain, Humpback.Inference.ChatFormat.Plain)]
    public void ForwardPromptsAgree(ChatFormatKind training, Humpback.Inference.ChatFormat inference)
    {
        string trained = Humpback.Prompts.ChatFormat.Prompt(training, HumpbackPrompts.InferenceSystem, "What is 3 plus 4?");
        string rendered = PromptRenderer.Wrap(PromptTemplate.Resolve("forward", HumpbackPrompts.InferenceSystem), inference)
            .Replace("{instruction}", "What is 3 plus 4?", StringComparison.Ordinal);
        Assert.Equal(trained, rendered);
    }

    [Fact]
    public void BackwardAndCurationPromptsAgree()
    {
        string segment = "16 minus 4 is 12.";
        string trainedBackward = Humpback.Prompts.ChatFormat.Prompt(ChatFormatKind.Llama3, null, HumpbackPrompts.BackwardPrompt(segment));
        string renderedBackward = PromptRenderer.Wrap(PromptTemplate.Resolve("backward"), Humpback.Inference.ChatFormat.Llama3).Replace("{output}", segment, StringComparison.Ordinal);
        Assert.Equal(trainedBackward, renderedBackward);

        string trainedJudge = Humpback.Prompts.ChatFormat.Prompt(ChatFormatKind.Llama3, HumpbackPrompts.SeedSystem, HumpbackPrompts.CurationInstruction("Q?", "A."));
        var curate = new PromptTemplate("curate", PromptTemplates.CurationUser, HumpbackPrompts.SeedSystem, PromptTemplates.ScorePrefill);
        string renderedJudge = PromptRenderer.Wrap(curate, Humpback.Inference.ChatFormat.Llama3)
            .Replace("{instruction}", "Q?", StringComparison.Ordinal).Replace("{output}", "A.", StringComparison.Ordinal);
        Assert.Equal(trainedJudge + "Score: ", renderedJudge);
    }
}
