using Humpback.Inference;
using Xunit;

namespace Humpback.Tests.Inference;

public class SamplerTests
{
    /// <summary>The nucleus by definition: sort by (weight desc, id asc), keep the shortest prefix reaching p·Z.</summary>
    private static HashSet<int> ReferenceNucleus(float[] w, double need)
    {
        var order = Enumerable.Range(0, w.Length).OrderByDescending(i => w[i]).ThenBy(i => i).ToArray();
        var set = new HashSet<int>();
        double acc = 0;
        foreach (int i in order)
        {
            set.Add(i);
            acc += w[i];
            if (acc >= need) break;
        }
        return set;
    }

    [Theory]
    [InlineData(0, 0.9)]   // peaked
    [InlineData(1, 0.9)]   // flat: the nucleus is most of the vocabulary
    [InlineData(2, 0.5)]   // many exact ties
    [InlineData(0, 0.999)]
    public void QuickselectNucleusEqualsTheSortedDefinition(int shape, double topP)
    {
        var rng = new Random(shape * 31 + (int)(topP * 1000));
        for (int trial = 0; trial < 20; trial++)
        {
            int n = rng.Next(1, 3000);
            float[] w = Enumerable.Range(0, n).Select(_ => shape switch
            {
                0 => MathF.Exp(-10f * (float)rng.NextDouble()),
                1 => 0.9f + 0.1f * (float)rng.NextDouble(),
                _ => rng.Next(4) / 4f + 0.25f,
            }).ToArray();
            double need = topP * w.Sum(x => (double)x);
            int[] ids = Enumerable.Range(0, n).ToArray();
            int keep = TokenSampler.SelectNucleus(w, ids, n, need);
            var expected = ReferenceNucleus(w, need);
            Assert.Equal(expected.Count, keep);
            Assert.True(expected.SetEquals(ids.Take(keep)), $"trial {trial}: nucleus differs");
        }
    }

    [Fact]
    public void SamplingFollowsTheNucleusDistribution()
    {
        float[] logits = [2f, 1f, 0f, -1f, -8f];
        var s = new GenerationSettings(Temperature: 1f, TopP: 0.9f);
        var scratch = new SamplerScratch(logits.Length);
        var rng = new RowRng(1, 2);
        var counts = new int[logits.Length];
        for (int i = 0; i < 20000; i++) counts[TokenSampler.Sample(logits, s, ref rng, scratch)]++;
        // softmax ≈ [.644 .237 .087 .032 .0002]: the 0.9 nucleus is {0, 1, 2}, renormalised ≈ [.665 .245 .090].
        Assert.Equal(0, counts[3] + counts[4]);
        Assert.InRange(counts[0] / 20000.0, 0.645, 0.685);
        Assert.InRange(counts[1] / 20000.0, 0.225, 0.265);
        Assert.Equal(TokenSampler.ArgMax(logits), TokenSampler.Sample(logits, s with { Temperature = 0 }, ref rng, scratch));
    }
}
