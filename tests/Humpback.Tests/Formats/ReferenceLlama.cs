using Humpback.Model;

namespace Humpback.Tests.Formats;

/// <summary>The Llama forward pass written out in plain loops and doubles, following HF transformers'
/// modeling_llama.py: embedding → per layer [RMSNorm → q,k,v → RoPE (rotate_half, llama3 inv_freq) → causal GQA
/// attention → o_proj → residual → RMSNorm → down(silu(gate)·up) → residual] → RMSNorm → LM head (tied or not).
/// It is the independent side of the parity tests: slow and obvious on purpose.</summary>
internal static class ReferenceLlama
{
    /// <summary>Logits [T][vocab] for <paramref name="tokens"/> at positions 0..T−1. <paramref name="linearInput"/>, if
    /// given, transforms the input vector of every linear layer (to emulate llama.cpp's rounding of activations).</summary>
    public static double[][] Forward(LlamaConfig c, IReadOnlyDictionary<string, HostTensor> w, int[] tokens, Func<double[], double[]>? linearInput = null)
    {
        Func<double[], double[]> In = linearInput ?? (v => v);
        int T = tokens.Length, d = c.HiddenSize, hd = c.ResolvedHeadDim, nh = c.NumHeads, nkv = c.NumKvHeads, f = c.IntermediateSize;
        float[] W(string name) => w[name].Data;

        // x is (T, d)
        var x = new double[T][];
        float[] emb = W(LlamaTensorNames.Embedding);
        for (int t = 0; t < T; t++) x[t] = Enumerable.Range(0, d).Select(i => (double)emb[tokens[t] * d + i]).ToArray();

        double[] invFreq = InvFreq(c);
        for (int l = 0; l < c.NumLayers; l++)
        {
            string L(string s) => LlamaTensorNames.Layer(l, s);
            var h = x.Select(r => In(RmsNorm(r, W(L("input_layernorm.weight")), c.RmsNormEps))).ToArray();
            var q = h.Select(r => MatVec(W(L("self_attn.q_proj.weight")), r, nh * hd)).ToArray();
            var k = h.Select(r => MatVec(W(L("self_attn.k_proj.weight")), r, nkv * hd)).ToArray();
            var v = h.Select(r => MatVec(W(L("self_attn.v_proj.weight")), r, nkv * hd)).ToArray();
            for (int t = 0; t < T; t++)
            {
                for (int head = 0; head < nh; head++) Rope(q[t], head * hd, hd, t, invFreq);
                for (int head = 0; head < nkv; head++) Rope(k[t], head * hd, hd, t, invFreq);
            }
            var attn = new double[T][];
            for (int t = 0; t < T; t++)
            {
                attn[t] = new double[nh * hd];
                for (int head = 0; head < nh; head++)
                {
                    int kvh = head / (nh / nkv); // GQA: consecutive query heads share a KV head (repeat_kv)
                    var scores = new double[t + 1];
                    for (int s = 0; s <= t; s++)
                    {
                        double dot = 0;
                        for (int i = 0; i < hd; i++) dot += q[t][head * hd + i] * k[s][kvh * hd + i];
                        scores[s] = dot / Math.Sqrt(hd);
                    }
                    double max = scores.Max(), sum = 0;
                    for (int s = 0; s <= t; s++) sum += scores[s] = Math.Exp(scores[s] - max);
                    for (int s = 0; s <= t; s++)
                    {
                        for (int i = 0; i < hd; i++) attn[t][head * hd + i] += scores[s] / sum * v[s][kvh * hd + i];
                    }
                }
            }
            for (int t = 0; t < T; t++)
            {
                double[] o = MatVec(W(L("self_attn.o_proj.weight")), In(attn[t]), d);
                for (int i = 0; i < d; i++) x[t][i] += o[i];
                double[] h2 = In(RmsNorm(x[t], W(L("post_attention_layernorm.weight")), c.RmsNormEps));
                double[] gate = MatVec(W(L("mlp.gate_proj.weight")), h2, f);
                double[] up = MatVec(W(L("mlp.up_proj.weight")), h2, f);
                double[] act = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray();
                double[] down = MatVec(W(L("mlp.down_proj.weight")), In(act), d);
                for (int i = 0; i < d; i++) x[t][i] += down[i];
            }
        }
        float[] lmHead = W(c.TieWordEmbeddings ? LlamaTensorNames.Embedding : LlamaTensorNames.LmHead);
        return x.Select(r => MatVec(lmHead, In(RmsNorm(r, W(LlamaTensorNames.FinalNorm), c.RmsNormEps)), c.VocabSize)).ToArray();
    }

    /// <summary>ggml's CPU matmul with F16 weights first converts the activations to F16.</summary>
    public static double[] RoundToF16(double[] x) => x.Select(v => (double)(float)(Half)(float)v).ToArray();

    /// <summary>ggml's CPU matmul with Q8_0/Q4_0 weights first quantizes the activations to Q8_0 (quantize_row_q8_0:
    /// per block of 32, scale d = amax/127 stored as F16, q = round-to-even(x·127/amax)).</summary>
    public static double[] RoundToQ8_0(double[] x)
    {
        var y = new double[x.Length];
        for (int b = 0; b < x.Length; b += 32)
        {
            float amax = 0;
            for (int i = b; i < b + 32; i++) amax = Math.Max(amax, Math.Abs((float)x[i]));
            float d = (float)(Half)(amax / 127f);
            float id = amax != 0 ? 127f / amax : 0f;
            for (int i = b; i < b + 32; i++) y[i] = MathF.Round((float)x[i] * id, MidpointRounding.ToEven) * d;
        }
        return y;
    }

    /// <summary>y = W·x for row-major W [rows, x.Length].</summary>
    private static double[] MatVec(float[] w, double[] x, int rows)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int i = 0; i < x.Length; i++) s += w[r * x.Length + i] * x[i];
            y[r] = s;
        }
        return y;
    }

    private static double[] RmsNorm(double[] x, float[] w, float eps)
    {
        double ms = x.Sum(v => v * v) / x.Length;
        double inv = 1 / Math.Sqrt(ms + eps);
        return x.Select((v, i) => v * inv * w[i]).ToArray();
    }

    /// <summary>HF's default inv_freq = θ^(−2i/d), then _compute_llama3_parameters when rope_scaling is llama3.</summary>
    public static double[] InvFreq(LlamaConfig c)
    {
        int hd = c.ResolvedHeadDim;
        var inv = new double[hd / 2];
        for (int i = 0; i < hd / 2; i++)
        {
            double freq = 1.0 / Math.Pow(c.RopeTheta, 2.0 * i / hd);
            if (c.RopeScaling is { } s)
            {
                double lowWavelen = s.OriginalMaxPosition / s.LowFreqFactor, highWavelen = s.OriginalMaxPosition / s.HighFreqFactor;
                double wavelen = 2 * Math.PI / freq;
                if (wavelen > lowWavelen) freq /= s.Factor;
                else if (wavelen >= highWavelen)
                {
                    double smooth = (s.OriginalMaxPosition / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                    freq = (1 - smooth) * freq / s.Factor + smooth * freq;
                }
            }
            inv[i] = freq;
        }
        return inv;
    }

    /// <summary>x·cos + rotate_half(x)·sin on one head: rotate_half pairs element i with i + d/2.</summary>
    private static void Rope(double[] x, int off, int hd, int pos, double[] invFreq)
    {
        int half = hd / 2;
        for (int i = 0; i < half; i++)
        {
            double a = pos * invFreq[i], cos = Math.Cos(a), sin = Math.Sin(a);
            double x1 = x[off + i], x2 = x[off + half + i];
            x[off + i] = x1 * cos - x2 * sin;
            x[off + half + i] = x2 * cos + x1 * sin;
        }
    }
}
