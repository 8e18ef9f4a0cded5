using Humpback.Native;

namespace Humpback.Engine.Profiling;

/// <summary>One kernel measured: time, achieved rates, and the share of the roofline bound
/// (max(FLOP ÷ SGEMM rate, bytes ÷ bandwidth)) it reaches.</summary>
public sealed record KernelTiming(string Op, string Shape, double Seconds, double Flops, double Bytes, MachineCeilings Ceilings)
{
    public double Gflops => Flops / Seconds / 1e9;
    public double GBs => Bytes / Seconds / 1e9;
    public double BoundSeconds => Math.Max(Flops / (Ceilings.GemmGflops * 1e9), Bytes / (Ceilings.BandwidthGBs * 1e9));
    public string BoundBy => Flops / (Ceilings.GemmGflops * 1e9) >= Bytes / (Ceilings.BandwidthGBs * 1e9) ? "compute" : "memory";
    public double ShareOfRoofline => BoundSeconds / Seconds;
}

/// <summary>Every kernel, forward and backward, at the shapes of one training step of a model (default: the CPU
/// engine's benchmark model, B·T = 2048 rows); with <c>bf16Ceilings</c>, also the bf16 variants a mixed-precision step
/// runs (GEMMs on bf16 operands, bf16 attention, norm and cross-entropy), measured against the bf16 GEMM ceiling.</summary>
public static class KernelProfiler
{
    public static IReadOnlyList<KernelTiming> Run(Device device, MachineCeilings ceilings, long n = 2048, long c = 512, long h = 8, long kvh = 4,
        long d = 64, long f = 1408, long v = 4096, long b = 8, long rank = 16, double secondsPerKernel = 0.4, MachineCeilings? bf16Ceilings = null)
    {
        long t = n / b;
        var k = new Kernels(device);
        using var arena = new DeviceArena(device, "kernel-profile");
        long big = Math.Max(n * f, Math.Max(v * c, n * h * d));
        int x = arena.Reserve("x", big), y = arena.Reserve("y", big), z = arena.Reserve("z", big), w = arena.Reserve("w", big);
        int q = arena.Reserve("q", n * h * d), kk = arena.Reserve("k", n * kvh * d), vv = arena.Reserve("v", n * kvh * d), o = arena.Reserve("o", n * h * d);
        int dq = arena.Reserve("dq", n * h * d), dk = arena.Reserve("dk", n * kvh * d), dv = arena.Reserve("dv", n * kvh * d);
        int lse = arena.Reserve("lse", n * h), rstd = arena.Reserve("rstd", n), tok = arena.Reserve("tok", n), pos = arena.Reserve("pos", n);
        int inv = arena.Reserve("inv", d / 2), la = arena.Reserve("la", rank * c), lb = arena.Reserve("lb", c * rank), xa = arena.Reserve("xa", n * rank);
        int work = arena.Reserve("work", n * rank), s1 = arena.Reserve("s1", 1), s2 = arena.Reserve("s2", 1);
        bool bf16 = bf16Ceilings != null;
        long one = bf16 ? 1 : 0; // the bf16 copies below are empty when not measured
        int xh = arena.Reserve("x.bf16", one * big, DType.Bf16), wh = arena.Reserve("w.bf16", one * big, DType.Bf16);
        int qh = arena.Reserve("q.bf16", one * n * h * d, DType.Bf16), kh = arena.Reserve("k.bf16", one * n * kvh * d, DType.Bf16);
        int vh = arena.Reserve("v.bf16", one * n * kvh * d, DType.Bf16), oh = arena.Reserve("o.bf16", one * n * h * d, DType.Bf16);
        arena.Allocate();
        var rng = new Random(3);
        float[] Rand(long count) => Enumerable.Range(0, (int)count).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.2f).ToArray();
        foreach (int i in new[] { x, y, z, w, q, kk, vv, dq }) device.Upload(arena[i], Rand(arena[i].Count));
        device.Upload(arena[tok], Enumerable.Range(0, (int)n).Select(i => i % (int)v).ToArray());
        device.Upload(arena[pos], Enumerable.Range(0, (int)n).Select(i => i % (int)t).ToArray());
        device.Upload(arena[inv], Kernels.RopeInvFreq((int)d, new HbRopeConfig { Theta = 500000f }));
        device.Upload(arena[la], Rand(rank * c));
        device.Upload(arena[lb], Rand(rank * c));
        var tokensAsTargets = arena[tok];
        var list = new List<KernelTiming>();
        void Measure(string op, string shape, double flops, double bytes, Action run) =>
            list.Add(new KernelTiming(op, shape, MachineCeilings.Best(device, secondsPerKernel, run), flops, bytes, ceilings));

        const double F4 = 4;
        Measure("matmul (linear fwd)", $"{n}x{c} · {f}x{c}ᵀ", 2.0 * n * c * f, F4 * (n * c + f * c + n * f), () => k.Linear(arena[y], arena[x], arena[w], n, c, f));
        Measure("matmul (linear dx)", $"{n}x{f} · {f}x{c}", 2.0 * n * c * f, F4 * (n * c + f * c + n * f), () => k.LinearBackwardInput(arena[y], arena[x], arena[w], n, c, f));
        Measure("matmul (linear dW)", $"{f}x{n} · {n}x{c}", 2.0 * n * c * f, F4 * (n * c + 2 * f * c + n * f), () => k.LinearBackwardWeight(arena[w], arena[x], arena[y], n, c, f));
        Measure("embedding fwd", $"N={n} C={c}", 0, F4 * 2 * n * c, () => k.EmbeddingForward(arena[y], arena[tok], arena[w], n, v, c));
        Measure("embedding bwd", $"N={n} C={c}", n * c, F4 * 3 * n * c, () => k.EmbeddingBackward(arena[w], arena[x], arena[tok], n, v, c));
        Measure("rmsnorm fwd", $"N={n} C={c}", 4.0 * n * c, F4 * (2 * n * c + c), () => k.RmsNormForward(arena[y], arena[rstd], arena[x], arena[w], n, c, 1e-5f));
        Measure("rmsnorm bwd", $"N={n} C={c}", 8.0 * n * c, F4 * (4 * n * c + 2 * c), () => k.RmsNormBackward(arena[z], arena[w], arena[y], arena[x], arena[w], arena[rstd], n, c));
        Measure("rope fwd", $"N={n} H={h} D={d}", 3.0 * n * h * d, F4 * 2 * n * h * d, () => k.RopeForward(arena[q], arena[pos], arena[inv], n, h, d));
        Measure("rope bwd", $"N={n} H={h} D={d}", 3.0 * n * h * d, F4 * 2 * n * h * d, () => k.RopeBackward(arena[dq], arena[pos], arena[inv], n, h, d));
        double attnFlops = 4.0 * b * t * t * h * d / 2; // causal: half of QKᵀ and PV
        Measure("attention fwd", $"B={b} T={t} H={h} KVH={kvh} D={d}", attnFlops, F4 * (2 * n * h * d + 2 * n * kvh * d),
            () => k.AttentionForward(arena[o], arena[lse], arena[q], arena[kk], arena[vv], DeviceSpan.Null, b, t, h, kvh, d, 0.125f));
        Measure("attention bwd", $"B={b} T={t} H={h} KVH={kvh} D={d}", 2.5 * attnFlops, F4 * (4 * n * h * d + 4 * n * kvh * d),
            () => k.AttentionBackward(arena[dq], arena[dk], arena[dv], arena[o], arena[q], arena[kk], arena[vv], arena[o], arena[lse], DeviceSpan.Null, b, t, h, kvh, d, 0.125f));
        Measure("swiglu fwd", $"n={n * f}", 5.0 * n * f, F4 * 3 * n * f, () => k.SwiGluForward(arena[z], arena[x], arena[y], n * f));
        Measure("swiglu bwd", $"n={n * f}", 10.0 * n * f, F4 * 5 * n * f, () => k.SwiGluBackward(arena[z], arena[w], arena[x], arena[y], arena[z], n * f));
        Measure("cross-entropy fwd", $"N={n} V={v} C={c}", 2.0 * n * v * c, F4 * (n * c + v * c), () => k.CrossEntropyForward(arena[rstd], arena[lse], arena[x], arena[w], tokensAsTargets, n, v, c));
        Measure("cross-entropy bwd", $"N={n} V={v} C={c}", 6.0 * n * v * c, F4 * (2 * n * c + 2 * v * c), () => k.CrossEntropyBackward(arena[y], arena[z], arena[x], arena[w], tokensAsTargets, arena[lse], 1f / n, n, v, c));
        Measure("lora fwd", $"N={n} {c}->{c} r={rank}", 4.0 * n * c * rank, F4 * (3 * n * c), () => k.LoraForward(arena[y], arena[xa], arena[x], arena[la], arena[lb], n, c, c, rank, 2f));
        Measure("lora bwd", $"N={n} {c}->{c} r={rank}", 8.0 * n * c * rank, F4 * (4 * n * c), () => k.LoraBackward(arena[z], arena[la], arena[lb], arena[work], arena[y], arena[x], arena[xa], arena[la], arena[lb], n, c, c, rank, 2f));
        long p = n * f;
        Measure("sum_squares", $"n={p}", 2.0 * p, F4 * p, () => k.SumSquares(arena[s1], arena[x], p));
        Measure("adamw", $"n={p}", 12.0 * p, F4 * 7 * p, () =>
            k.AdamW(arena[w], arena[x], arena[y], arena[z], arena[s2], p, new HbAdamWConfig { Lr = 1e-9f, Beta1 = 0.9f, Beta2 = 0.999f, Eps = 1e-8f, Step = 1 }));
        device.Upload(arena[s2], [1f]);
        if (!bf16) return list;

        // The bf16 variants: operands rounded from the fp32 data above; 2 bytes per bf16 element.
        foreach (var (dst, src) in new[] { (xh, x), (wh, w), (qh, q), (kh, kk), (vh, vv) }) k.Convert(arena[dst], arena[src], arena[dst].Count);
        const double F2 = 2;
        void MeasureBf16(string op, string shape, double flops, double bytes, Action run) =>
            list.Add(new KernelTiming(op + " [bf16]", shape, MachineCeilings.Best(device, secondsPerKernel, run), flops, bytes, bf16Ceilings!));
        MeasureBf16("matmul (linear fwd)", $"{n}x{c} · {f}x{c}ᵀ", 2.0 * n * c * f, F2 * (n * c + f * c) + F4 * n * f, () => k.Linear(arena[y], arena[xh], arena[wh], n, c, f));
        MeasureBf16("matmul (linear dx)", $"{n}x{f} · {f}x{c}", 2.0 * n * c * f, F4 * n * f + F2 * f * c + F4 * n * c, () => k.LinearBackwardInput(arena[y], arena[x], arena[wh], n, c, f));
        MeasureBf16("rmsnorm fwd", $"N={n} C={c}", 4.0 * n * c, F4 * (n * c + c) + F2 * n * c, () => k.RmsNormForward(arena[xh], arena[rstd], arena[x], arena[w], n, c, 1e-5f));
        MeasureBf16("attention fwd", $"B={b} T={t} H={h} KVH={kvh} D={d}", attnFlops, F2 * (2 * n * h * d + 2 * n * kvh * d),
            () => k.AttentionForward(arena[oh], arena[lse], arena[qh], arena[kh], arena[vh], DeviceSpan.Null, b, t, h, kvh, d, 0.125f));
        MeasureBf16("attention bwd", $"B={b} T={t} H={h} KVH={kvh} D={d}", 2.5 * attnFlops, F2 * (2 * n * h * d + 2 * n * kvh * d) + F4 * (2 * n * h * d + 2 * n * kvh * d),
            () => k.AttentionBackward(arena[dq], arena[dk], arena[dv], arena[o], arena[qh], arena[kh], arena[vh], arena[oh], arena[lse], DeviceSpan.Null, b, t, h, kvh, d, 0.125f));
        MeasureBf16("cross-entropy fwd", $"N={n} V={v} C={c}", 2.0 * n * v * c, F2 * (n * c + v * c), () => k.CrossEntropyForward(arena[rstd], arena[lse], arena[xh], arena[wh], tokensAsTargets, n, v, c));
        MeasureBf16("cross-entropy bwd", $"N={n} V={v} C={c}", 6.0 * n * v * c, F2 * (n * c + v * c) + F4 * (n * c + v * c), () => k.CrossEntropyBackward(arena[y], arena[z], arena[xh], arena[wh], tokensAsTargets, arena[lse], 1f / n, n, v, c));
        return list;
    }
}
