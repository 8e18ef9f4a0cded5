using Humpback.Engine.Profiling;
using Humpback.Model;
using Humpback.Training;
using Xunit;

namespace Humpback.Tests.Training;

/// <summary>The second way `profile train` measures a step: the Trainer on synthetic documents must run exactly the
/// profile's step shape (B full rows of T tokens), or the comparison of the two measurements means nothing.</summary>
public class TrainerThroughputTests
{
    private static LlamaConfig Tiny => TrainProfiler.DefaultConfig with
    {
        VocabSize = 96, HiddenSize = 32, IntermediateSize = 64, NumLayers = 2, NumHeads = 4, NumKvHeads = 2, MaxPositionEmbeddings = 64,
    };

    [Theory]
    [InlineData(TrainMode.Full)]
    [InlineData(TrainMode.Lora)]
    public void TrainerStepsHaveTheProfilesShape(TrainMode mode)
    {
        const int batch = 3, seq = 24, steps = 2;
        TrainerThroughputResult r = TrainerThroughput.Measure(Tiny, mode, batch, seq, steps, "cpu", 1);
        Assert.Equal(steps, r.StepTokensPerSecond.Count); // the warm-up step is not counted
        Assert.Equal(batch * seq, r.TokensPerStep);
        Assert.All(r.StepTokensPerSecond, v => Assert.True(v > 0 && double.IsFinite(v), $"tokens/s {v}"));
        Assert.True(r.Best >= r.Median);
    }

    [Fact]
    public void CrossCheckAgreesOnlyWithinTenPercent()
    {
        TrainProfile p = new("full", Tiny, 1, 1, 1, 1, 1, TokensPerSecond: 1000, 1, 1, 1, new PhaseTimes(0, 0, 0), [], 0, 0);
        Assert.Null(p.CrossCheckRatio);
        Assert.False(p.CrossCheckAgrees);
        Assert.True((p with { TrainerTokensPerSecond = 1095 }).CrossCheckAgrees);
        Assert.True((p with { TrainerTokensPerSecond = 905 }).CrossCheckAgrees);
        Assert.False((p with { TrainerTokensPerSecond = 1120 }).CrossCheckAgrees);
        Assert.False((p with { TrainerTokensPerSecond = 880 }).CrossCheckAgrees);
    }
}
