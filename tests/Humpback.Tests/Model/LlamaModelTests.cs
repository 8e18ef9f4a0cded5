using Humpback.Engine;
using Humpback.Model;
using Xunit;
using Xunit.Abstractions;

namespace Humpback.Tests.Model;

public class LlamaModelTests(ITestOutputHelper output)
{
    /// <summary>2 layers, GQA 2, tied embeddings, llama3 RoPE scaling active at these positions.</summary>
    internal static LlamaConfig Tiny => new()
    {
        VocabSize = 37, HiddenSize = 24, IntermediateSize = 40, NumLayers = 2, NumHeads = 4, NumKvHeads = 2,
        MaxPositionEmbeddings = 64, RmsNormEps = 1e-5f, RopeTheta = 10000f,
        RopeScaling = new RopeScaling(Factor: 4f, LowFreqFactor: 1f, HighFreqFactor: 4f, OriginalMaxPosition: 16),
        TieWordEmbeddings = true, BosTokenId = 1, EosTokenId = 2,
    };

    /// <summary>Two rows: the first packs two examples (segments 0 and 1), the second is one example with a prompt
    /// (no loss on its first tokens).</summary>
    internal static TrainingBatch PackedBatch(int vocab, int seed)
    {
        var rng = new Random(seed);
        var b = new TrainingBatch(2, 7);
        for (int i = 0; i < b.N; i++) b.Tokens[i] = rng.Next(vocab);
        int[] seg0 = [0, 0, 0, 1, 1, 1, 1];
        for (int t = 0; t < 7; t++)
        {
            b.Segments[t] = seg0[t];
            b.Positions[t] = seg0[t] == 0 ? t : t - 3;
            b.Targets[t] = t + 1 < 7 && seg0[t + 1] == seg0[t] ? b.Tokens[t + 1] : -1;
            b.Segments[7 + t] = 2;
            b.Positions[7 + t] = t;
            b.Targets[7 + t] = t >= 2 && t + 1 < 7 ? b.Tokens[7 + t + 1] : -1;
        }
        return b;
    }

    private static double Loss(LlamaModel m, TrainingBatch b, float scale)
    {
        float[] losses = m.ForwardLosses(b);
        double s = 0;
        foreach (float l in losses) s += l;
        return s * scale;
    }

    private void GradientCheck(TrainMode mode)
    {
        using var dev = Device.Create();
        var cfg = Tiny;
        using var m = new LlamaModel(dev, cfg, mode, 2, 7, mode == TrainMode.Lora ? new LoraSettings(4, 8f, ["q", "k", "v", "o", "gate", "up", "down"]) : null);
        m.LoadWeights(LlamaInit.Random(cfg, 3, 0.3f));
        if (mode == TrainMode.Lora)
        {
            m.InitLora(5);
            // B starts at zero; give it values so the A gradients are not trivially zero.
            foreach (string name in m.TrainableNames.Where(n => n.Contains("lora_B", StringComparison.Ordinal)))
            {
                var rng = new Random(name.Length);
                for (int i = 0; i < 6; i++) m.SetParameter(name, rng.Next(4), (float)(rng.NextDouble() - 0.5));
            }
        }
        TrainingBatch batch = PackedBatch(cfg.VocabSize, 11);
        float scale = 1f / batch.CountTargets();
        m.ZeroGradients();
        m.ForwardBackward(batch, scale);

        int checkedCount = 0;
        foreach (string name in m.TrainableNames)
        {
            float[] g = m.GetGradient(name);
            // The 2 largest-gradient entries plus one random entry of every trainable tensor.
            var picks = g.Select((v, i) => (v, i)).OrderByDescending(p => MathF.Abs(p.v)).Take(2).Select(p => p.i).ToList();
            picks.Add(new Random(name.GetHashCode(StringComparison.Ordinal)).Next(g.Length));
            foreach (int idx in picks)
            {
                float orig = m.GetParameter(name, idx);
                const float eps = 1e-2f;
                m.SetParameter(name, idx, orig + eps);
                double lp = Loss(m, batch, scale);
                m.SetParameter(name, idx, orig - eps);
                double lm = Loss(m, batch, scale);
                m.SetParameter(name, idx, orig);
                double fd = (lp - lm) / (2 * eps);
                double err = Math.Abs(fd - g[idx]);
                Assert.True(err <= 2e-4 + 2e-2 * Math.Abs(fd),
                    $"{mode} {name}[{idx}]: analytic {g[idx]:G6}, finite difference {fd:G6}");
                checkedCount++;
            }
        }
        output.WriteLine($"{mode}: {checkedCount} gradient entries checked");
        Assert.True(checkedCount > 20);
    }

    [Fact]
    public void FullFineTuningGradientsMatchFiniteDifferences() => GradientCheck(TrainMode.Full);

    [Fact]
    public void LoraGradientsMatchFiniteDifferences() => GradientCheck(TrainMode.Lora);

    [Fact]
    public void PackedExamplesDoNotSeeEachOther()
    {
        using var dev = Device.Create();
        var cfg = Tiny;
        using var m = new LlamaModel(dev, cfg, TrainMode.Full, 2, 7);
        m.LoadWeights(LlamaInit.Random(cfg, 4, 0.3f));
        TrainingBatch packed = PackedBatch(cfg.VocabSize, 2);
        float[] lossPacked = m.ForwardLosses(packed);
        // The second example of row 0 alone, at the start of a row.
        var alone = new TrainingBatch(1, 4);
        for (int t = 0; t < 4; t++)
        {
            alone.Tokens[t] = packed.Tokens[3 + t];
            alone.Targets[t] = packed.Targets[3 + t];
            alone.Positions[t] = t;
            alone.Segments[t] = 0;
        }
        float[] lossAlone = m.ForwardLosses(alone);
        for (int t = 0; t < 3; t++) Assert.Equal(lossAlone[t], lossPacked[3 + t], 4);
    }

    private static TrainingBatch RepeatingText(int vocab, int rows, int seqLen)
    {
        int[] pattern = [3, 7, 1, 9, 4, 4, 12, 5];
        var seqs = new List<int[]>();
        for (int r = 0; r < rows; r++) seqs.Add(Enumerable.Range(r, seqLen).Select(i => pattern[i % pattern.Length] % vocab).ToArray());
        return TrainingBatch.FromSequences(seqs, seqLen);
    }

    [Theory]
    [InlineData(TrainMode.Full, 0.05)]
    [InlineData(TrainMode.Lora, 0.5)]
    public void TinyModelLearnsARepeatingText(TrainMode mode, double target)
    {
        using var dev = Device.Create();
        var cfg = Tiny with { VocabSize = 16 };
        using var m = new LlamaModel(dev, cfg, mode, 4, 24, mode == TrainMode.Lora ? new LoraSettings(8, 16f, ["q", "k", "v", "o", "gate", "up", "down"]) : null);
        var w = LlamaInit.Random(cfg, 1);
        if (mode == TrainMode.Lora)
        {
            // LoRA adapts a trained model: give the frozen (tied) embedding a trained model's scale, otherwise the
            // frozen head cannot express confident predictions whatever the adapters do.
            foreach (ref float x in w[LlamaTensorNames.Embedding].Data.AsSpan()) x *= 10f;
        }
        m.LoadWeights(w);
        if (mode == TrainMode.Lora) m.InitLora(1);
        TrainingBatch b = RepeatingText(cfg.VocabSize, 4, 24);
        float scale = 1f / b.CountTargets();
        double first = 0, last = 0;
        for (int step = 0; step < 300; step++)
        {
            m.ZeroGradients();
            var (sum, count) = m.ForwardBackward(b, scale);
            m.OptimizerStep(lr: mode == TrainMode.Full ? 1e-2f : 2e-2f, weightDecay: 0f);
            if (step == 0) first = sum / count;
            last = sum / count;
        }
        output.WriteLine($"{mode}: loss {first:F4} -> {last:F4}");
        Assert.True(first > 2.0, $"initial loss {first}");
        Assert.True(last < target, $"{mode} final loss {last} (from {first})");
    }

    [Fact]
    public void RecomputationGivesTheSameGradients()
    {
        using var dev = Device.Create();
        var cfg = Tiny;
        var w = LlamaInit.Random(cfg, 9, 0.2f);
        TrainingBatch b = PackedBatch(cfg.VocabSize, 5);
        float scale = 1f / b.CountTargets();
        float[] Grad(bool recompute)
        {
            using var m = new LlamaModel(dev, cfg, TrainMode.Full, 2, 7, recompute: recompute);
            m.LoadWeights(w);
            m.ZeroGradients();
            m.ForwardBackward(b, scale);
            return m.GetGradient("model.layers.0.self_attn.q_proj.weight");
        }
        Assert.Equal(Grad(false), Grad(true));
    }

    [Fact]
    public void GradientAccumulationEqualsOneBigBatch()
    {
        using var dev = Device.Create();
        var cfg = Tiny;
        var w = LlamaInit.Random(cfg, 9, 0.2f);
        TrainingBatch both = PackedBatch(cfg.VocabSize, 5);
        var first = new TrainingBatch(1, 7);
        var second = new TrainingBatch(1, 7);
        foreach (var (dst, row) in new[] { (first, 0), (second, 1) })
        {
            Array.Copy(both.Tokens, row * 7, dst.Tokens, 0, 7);
            Array.Copy(both.Targets, row * 7, dst.Targets, 0, 7);
            Array.Copy(both.Positions, row * 7, dst.Positions, 0, 7);
            Array.Copy(both.Segments, row * 7, dst.Segments, 0, 7);
        }
        float scale = 1f / both.CountTargets();
        using var m = new LlamaModel(dev, cfg, TrainMode.Full, 2, 7);
        m.LoadWeights(w);
        m.ZeroGradients();
        m.ForwardBackward(both, scale);
        float[] g1 = m.GetGradient("model.layers.1.mlp.up_proj.weight");
        m.ZeroGradients();
        m.ForwardBackward(first, scale);
        m.ForwardBackward(second, scale);
        float[] g2 = m.GetGradient("model.layers.1.mlp.up_proj.weight");
        for (int i = 0; i < g1.Length; i++) Assert.Equal(g1[i], g2[i], 1e-5);
    }

    [Fact]
    public void AStepReportsTheLossOfAllItsMicroBatchesAtTheEnd()
    {
        using var dev = Device.Create();
        var cfg = Tiny;
        using var a = new LlamaModel(dev, cfg, TrainMode.Full, 2, 7);
        using var b = new LlamaModel(dev, cfg, TrainMode.Full, 2, 7);
        var w = LlamaInit.Random(cfg, 2, 0.3f);
        a.LoadWeights(w);
        b.LoadWeights(w);
        TrainingBatch first = PackedBatch(cfg.VocabSize, 3), second = PackedBatch(cfg.VocabSize, 4);
        float scale = 1f / (first.CountTargets() + second.CountTargets());
        for (int step = 0; step < 2; step++)
        {
            // the queued path (what the Trainer runs) against per-micro-batch read-backs
            a.ZeroGradients();
            int n = a.Accumulate(first, scale) + a.Accumulate(second, scale);
            var (norm, lossSum) = a.OptimizerStepWithLoss(1e-3f, 0.1f);
            b.ZeroGradients();
            var (s1, n1) = b.ForwardBackward(first, scale);
            var (s2, n2) = b.ForwardBackward(second, scale);
            float normB = b.OptimizerStep(1e-3f, 0.1f);
            Assert.Equal(n1 + n2, n);
            Assert.True(Math.Abs(lossSum - (s1 + s2)) <= 1e-5 * (s1 + s2), $"step {step}: device loss sum {lossSum} vs {s1 + s2}");
            Assert.Equal(normB, norm);
        }
    }

    [Fact]
    public void APlanThatDoesNotFitTheGpuIsRefusedWithWhatToChange()
    {
        const long GiB = 1L << 30;
        LlamaModel.EnsureFits("cuda:0", 80 * GiB, 13 * GiB, 13 * GiB, 26 * GiB, 5 * GiB, 4, 2048); // fits
        LlamaModel.EnsureFits("cpu", null, 13 * GiB, 13 * GiB, 26 * GiB, 500 * GiB, 32, 2048);    // no limit known
        var e = Assert.Throws<InsufficientMemoryException>(() => LlamaModel.EnsureFits("cuda:0", 80 * GiB, 13 * GiB, 13 * GiB, 26 * GiB, 240 * GiB, 32, 2048));
        Assert.Contains("needs 292.0 GiB on cuda:0 but 80.0 GiB are free", e.Message, StringComparison.Ordinal);
        Assert.Contains("activations 240.0 GiB for 32 x 2048 tokens", e.Message, StringComparison.Ordinal);
        Assert.Contains("--recompute", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WrongShapedWeightsAreRejectedByName()
    {
        using var dev = Device.Create();
        var cfg = Tiny;
        using var m = new LlamaModel(dev, cfg, TrainMode.Full, 1, 4);
        var w = LlamaInit.Random(cfg, 1);
        w["model.layers.1.mlp.up_proj.weight"] = new HostTensor("model.layers.1.mlp.up_proj.weight", [cfg.IntermediateSize, cfg.HiddenSize + 1]);
        var e = Assert.Throws<InvalidDataException>(() => m.LoadWeights(w, "ckpt"));
        Assert.Contains("model.layers.1.mlp.up_proj.weight", e.Message, StringComparison.Ordinal);
        w = LlamaInit.Random(cfg, 1);
        w.Remove("model.norm.weight");
        e = Assert.Throws<InvalidDataException>(() => m.LoadWeights(w, "ckpt"));
        Assert.Contains("model.norm.weight", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OutOfVocabularyTokenIsAClearError()
    {
        using var dev = Device.Create();
        using var m = new LlamaModel(dev, Tiny, TrainMode.Full, 1, 4);
        var b = new TrainingBatch(1, 4);
        b.Tokens[2] = 999;
        var e = Assert.Throws<ArgumentException>(() => m.ForwardLosses(b));
        Assert.Contains("999", e.Message, StringComparison.Ordinal);
    }
}
