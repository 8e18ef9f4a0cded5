using Humpback.Inference.Profiling;
using Xunit;

namespace Humpback.Tests.Inference;

public class RandomShapeTests
{
    [Fact]
    public void ShapesParseAndRoundTrip()
    {
        RandomLlamaSpec s = InferenceProfile.DefaultRandomModel.WithShape("d192-l4-h4-k2-f512-v1562");
        Assert.Equal((192, 4, 4, 2, 512, 1562), (s.Dim, s.Layers, s.Heads, s.KvHeads, s.FeedForward, s.VocabSize));
        Assert.Equal("d192-l4-h4-k2-f512-v1562", s.ShapeName);
        Assert.Equal(s, InferenceProfile.DefaultRandomModel.WithShape(s.ShapeName));
        // Fields not named keep the default's values.
        Assert.Equal(InferenceProfile.DefaultRandomModel.Layers, InferenceProfile.DefaultRandomModel.WithShape("d256").Layers);
    }

    [Theory]
    [InlineData("d64-x2", "'x'")]
    [InlineData("d", "'d'")]
    [InlineData("d0", "'d0'")]
    [InlineData("d100", "heads")]
    [InlineData("d80-h4-k2", "multiples of 32")]
    public void BadShapesNameTheProblem(string shape, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => InferenceProfile.DefaultRandomModel.WithShape(shape));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
