using Humpback.Native;

namespace Humpback.Engine;

/// <summary>Typed calls into libhumpback's kernels on a device. Shapes and conventions: native/include/humpback.h
/// (parameter gradients accumulate, activation gradients are overwritten unless noted).</summary>
/// <remarks>Mixed precision is decided by the spans, not by the caller: an op whose saved activation or weight span
/// is bf16 runs its bf16 variant (a GEMM with any bf16 operand runs on bf16 operands with fp32 accumulation, an
/// RMSNorm or SwiGLU with a bf16 output rounds it, attention on bf16 q/k/v…). So the model graph is the same code
/// in fp32 and in bf16; only its buffer plan differs.</remarks>
public sealed class Kernels(Device device)
{
    private readonly ContextHandle _ctx = device.Context;

    public Device Device { get; } = device;

    private static void C(HbStatus s) => HbCheck.Check(s);

    /// <summary>When set, every kernel call is timed by op name (profiling; on CUDA each op then waits for the device).</summary>
    public OpTimer? Timer { get; set; }

    private long Begin() => Timer == null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();

    private void End(string op, long start)
    {
        if (Timer == null) return;
        if (Device.Kind != HbBackendKind.Cpu) Device.Synchronize();
        Timer.Add(op, System.Diagnostics.Stopwatch.GetElapsedTime(start));
    }

    private static void RequireF32(DeviceSpan s, string op, string name)
    {
        if (s.Type != DType.F32) throw new ArgumentException($"{op}: {name} must be fp32 (got {s.Type.Name()})", name);
    }

    // Ops without a bf16 variant refuse bf16 spans rather than read their bytes as floats.
    private static void RequireF32(string op, params (DeviceSpan Span, string Name)[] spans)
    {
        foreach (var (span, name) in spans) RequireF32(span, op, name);
    }

    private static bool AllBf16(string op, params (DeviceSpan Span, string Name)[] spans)
    {
        bool bf16 = spans[0].Span.Type == DType.Bf16;
        foreach (var (span, name) in spans)
            if (span.Type != spans[0].Span.Type)
                throw new ArgumentException($"{op}: {name} is {span.Type.Name()} but {spans[0].Name} is {spans[0].Span.Type.Name()}", name);
        return bf16;
    }

    /// <summary>out (M,N) fp32 = alpha·op(a)·op(b) + beta·out. With a bf16 operand the product is a bf16 GEMM with fp32
    /// accumulation (an fp32 operand beside a bf16 one is rounded to bf16 first).</summary>
    public void Matmul(DeviceSpan output, DeviceSpan a, DeviceSpan b, long m, long n, long k, bool transA, bool transB, float alpha = 1f, float beta = 0f)
    {
        RequireF32(output, "matmul", nameof(output));
        long t0 = Begin();
        int ta = transA ? 1 : 0, tb = transB ? 1 : 0;
        if (a.Type == DType.F32 && b.Type == DType.F32)
        {
            C(NativeMethods.Matmul(_ctx, output.Ptr, a.Ptr, b.Ptr, m, n, k, ta, tb, alpha, beta));
            End("matmul", t0);
            return;
        }
        if (a.Type == DType.Bf16 && b.Type == DType.Bf16) C(NativeMethods.MatmulBf16(_ctx, output.Ptr, a.Ptr, b.Ptr, m, n, k, ta, tb, alpha, beta));
        else C(NativeMethods.MatmulBf16Mixed(_ctx, output.Ptr, a.Ptr, (int)a.Type, b.Ptr, (int)b.Type, m, n, k, ta, tb, alpha, beta));
        End("matmul_bf16", t0);
    }

    /// <summary>dst = src, converting fp32 ↔ bf16 when their types differ; nothing when they are the same span.</summary>
    public void Convert(DeviceSpan dst, DeviceSpan src, long n)
    {
        if (dst.Ptr == src.Ptr && dst.Type == src.Type) return;
        long t0 = Begin();
        if (dst.Type == src.Type) Device.Copy(dst.Slice(0, n), src.Slice(0, n));
        else if (dst.Type == DType.Bf16) C(NativeMethods.ConvertF32ToBf16(_ctx, dst.Ptr, src.Ptr, n));
        else C(NativeMethods.ConvertBf16ToF32(_ctx, dst.Ptr, src.Ptr, n));
        End("convert", t0);
    }

    /// <summary>y (N,out) = x (N,in) · W(out,in)ᵀ (+ y when accumulate).</summary>
    public void Linear(DeviceSpan y, DeviceSpan x, DeviceSpan w, long n, long inDim, long outDim, bool accumulate = false) =>
        Matmul(y, x, w, n, outDim, inDim, false, true, 1f, accumulate ? 1f : 0f);

    /// <summary>dx (N,in) = dy (N,out) · W (out,in) (+ dx when accumulate).</summary>
    public void LinearBackwardInput(DeviceSpan dx, DeviceSpan dy, DeviceSpan w, long n, long inDim, long outDim, bool accumulate = false) =>
        Matmul(dx, dy, w, n, inDim, outDim, false, false, 1f, accumulate ? 1f : 0f);

    /// <summary>dW (out,in) += dyᵀ (out,N) · x (N,in).</summary>
    public void LinearBackwardWeight(DeviceSpan dw, DeviceSpan dy, DeviceSpan x, long n, long inDim, long outDim) =>
        Matmul(dw, dy, x, outDim, inDim, n, true, false, 1f, 1f);

    public void Axpy(DeviceSpan y, DeviceSpan x, float alpha, long n)
    {
        long t0 = Begin();
        C(NativeMethods.Axpy(_ctx, y.Ptr, x.Ptr, alpha, n));
        End("axpy", t0);
    }
    public void Add(DeviceSpan output, DeviceSpan a, DeviceSpan b, long n)
    {
        long t0 = Begin();
        C(NativeMethods.Add(_ctx, output.Ptr, a.Ptr, b.Ptr, n));
        End("add", t0);
    }
    public void Scale(DeviceSpan x, float alpha, long n)
    {
        long t0 = Begin();
        C(NativeMethods.Scale(_ctx, x.Ptr, alpha, n));
        End("scale", t0);
    }

    public void EmbeddingForward(DeviceSpan output, DeviceSpan tokens, DeviceSpan wte, long n, long v, long c)
    {
        RequireF32(output, "embedding_forward", nameof(output));
        long t0 = Begin();
        if (wte.Type == DType.Bf16) C(NativeMethods.EmbeddingForwardBf16(_ctx, output.Ptr, tokens.Ptr, wte.Ptr, n, v, c));
        else C(NativeMethods.EmbeddingForward(_ctx, output.Ptr, tokens.Ptr, wte.Ptr, n, v, c));
        End("embedding_forward", t0);
    }
    public void EmbeddingBackward(DeviceSpan dwte, DeviceSpan dout, DeviceSpan tokens, long n, long v, long c)
    {
        RequireF32("embedding_backward", (dwte, nameof(dwte)), (dout, nameof(dout)));
        long t0 = Begin();
        C(NativeMethods.EmbeddingBackward(_ctx, dwte.Ptr, dout.Ptr, tokens.Ptr, n, v, c));
        End("embedding_backward", t0);
    }

    public void RmsNormForward(DeviceSpan output, DeviceSpan rstd, DeviceSpan input, DeviceSpan weight, long n, long c, float eps)
    {
        RequireF32(input, "rms_norm_forward", nameof(input));
        long t0 = Begin();
        if (output.Type == DType.Bf16) C(NativeMethods.RmsNormForwardBf16(_ctx, output.Ptr, rstd.Ptr, input.Ptr, weight.Ptr, n, c, eps));
        else C(NativeMethods.RmsNormForward(_ctx, output.Ptr, rstd.Ptr, input.Ptr, weight.Ptr, n, c, eps));
        End("rms_norm_forward", t0);
    }
    /// <summary>dinput += …; dweight += … (Null when frozen).</summary>
    public void RmsNormBackward(DeviceSpan dinput, DeviceSpan dweight, DeviceSpan dout, DeviceSpan input, DeviceSpan weight, DeviceSpan rstd, long n, long c)
    {
        RequireF32("rms_norm_backward", (dinput, nameof(dinput)), (dweight, nameof(dweight)), (dout, nameof(dout)), (input, nameof(input)), (weight, nameof(weight)));
        long t0 = Begin();
        C(NativeMethods.RmsNormBackward(_ctx, dinput.Ptr, dweight.Ptr, dout.Ptr, input.Ptr, weight.Ptr, rstd.Ptr, n, c));
        End("rms_norm_backward", t0);
    }

    public void RopeForward(DeviceSpan x, DeviceSpan positions, DeviceSpan invFreq, long n, long h, long d)
    {
        RequireF32(x, "rope_forward", nameof(x));
        long t0 = Begin();
        C(NativeMethods.RopeForward(_ctx, x.Ptr, positions.Ptr, invFreq.Ptr, n, h, d));
        End("rope_forward", t0);
    }
    public void RopeBackward(DeviceSpan dx, DeviceSpan positions, DeviceSpan invFreq, long n, long h, long d)
    {
        RequireF32(dx, "rope_backward", nameof(dx));
        long t0 = Begin();
        C(NativeMethods.RopeBackward(_ctx, dx.Ptr, positions.Ptr, invFreq.Ptr, n, h, d));
        End("rope_backward", t0);
    }

    public void AttentionForward(DeviceSpan output, DeviceSpan lse, DeviceSpan q, DeviceSpan k, DeviceSpan v, DeviceSpan segments,
        long b, long t, long h, long kvh, long d, float scale)
    {
        bool bf16 = AllBf16("attention_forward", (q, nameof(q)), (k, nameof(k)), (v, nameof(v)), (output, nameof(output)));
        long t0 = Begin();
        if (bf16) C(NativeMethods.AttentionForwardBf16(_ctx, output.Ptr, lse.Ptr, q.Ptr, k.Ptr, v.Ptr, segments.Ptr, b, t, h, kvh, d, scale));
        else C(NativeMethods.AttentionForward(_ctx, output.Ptr, lse.Ptr, q.Ptr, k.Ptr, v.Ptr, segments.Ptr, b, t, h, kvh, d, scale));
        End("attention_forward", t0);
    }
    public void AttentionBackward(DeviceSpan dq, DeviceSpan dk, DeviceSpan dv, DeviceSpan dout, DeviceSpan q, DeviceSpan k, DeviceSpan v,
        DeviceSpan output, DeviceSpan lse, DeviceSpan segments, long b, long t, long h, long kvh, long d, float scale)
    {
        bool bf16 = AllBf16("attention_backward", (q, nameof(q)), (k, nameof(k)), (v, nameof(v)), (output, nameof(output)));
        RequireF32("attention_backward", (dq, nameof(dq)), (dk, nameof(dk)), (dv, nameof(dv)), (dout, nameof(dout)), (lse, nameof(lse)));
        long t0 = Begin();
        if (bf16) C(NativeMethods.AttentionBackwardBf16(_ctx, dq.Ptr, dk.Ptr, dv.Ptr, dout.Ptr, q.Ptr, k.Ptr, v.Ptr, output.Ptr, lse.Ptr, segments.Ptr, b, t, h, kvh, d, scale));
        else C(NativeMethods.AttentionBackward(_ctx, dq.Ptr, dk.Ptr, dv.Ptr, dout.Ptr, q.Ptr, k.Ptr, v.Ptr, output.Ptr, lse.Ptr, segments.Ptr, b, t, h, kvh, d, scale));
        End("attention_backward", t0);
    }

    public void SwiGluForward(DeviceSpan output, DeviceSpan gate, DeviceSpan up, long n)
    {
        RequireF32("swi_glu_forward", (gate, nameof(gate)), (up, nameof(up)));
        long t0 = Begin();
        if (output.Type == DType.Bf16) C(NativeMethods.SwiGluForwardBf16(_ctx, output.Ptr, gate.Ptr, up.Ptr, n));
        else C(NativeMethods.SwiGluForward(_ctx, output.Ptr, gate.Ptr, up.Ptr, n));
        End("swi_glu_forward", t0);
    }
    public void SwiGluBackward(DeviceSpan dgate, DeviceSpan dup, DeviceSpan dout, DeviceSpan gate, DeviceSpan up, long n)
    {
        RequireF32("swi_glu_backward", (dgate, nameof(dgate)), (dup, nameof(dup)), (dout, nameof(dout)), (gate, nameof(gate)), (up, nameof(up)));
        long t0 = Begin();
        C(NativeMethods.SwiGluBackward(_ctx, dgate.Ptr, dup.Ptr, dout.Ptr, gate.Ptr, up.Ptr, n));
        End("swi_glu_backward", t0);
    }

    public void CrossEntropyForward(DeviceSpan losses, DeviceSpan lse, DeviceSpan h, DeviceSpan w, DeviceSpan targets, long n, long v, long c, long chunk = 0)
    {
        bool bf16 = AllBf16("cross_entropy_forward", (h, nameof(h)), (w, nameof(w)));
        long t0 = Begin();
        if (bf16) C(NativeMethods.CrossEntropyForwardBf16(_ctx, losses.Ptr, lse.Ptr, h.Ptr, w.Ptr, targets.Ptr, n, v, c, chunk));
        else C(NativeMethods.CrossEntropyForward(_ctx, losses.Ptr, lse.Ptr, h.Ptr, w.Ptr, targets.Ptr, n, v, c, chunk));
        End("cross_entropy_forward", t0);
    }
    public void CrossEntropyBackward(DeviceSpan dh, DeviceSpan dw, DeviceSpan h, DeviceSpan w, DeviceSpan targets, DeviceSpan lse, float lossScale,
        long n, long v, long c, long chunk = 0)
    {
        bool bf16 = AllBf16("cross_entropy_backward", (h, nameof(h)), (w, nameof(w)));
        RequireF32("cross_entropy_backward", (dh, nameof(dh)), (dw, nameof(dw)));
        long t0 = Begin();
        if (bf16) C(NativeMethods.CrossEntropyBackwardBf16(_ctx, dh.Ptr, dw.Ptr, h.Ptr, w.Ptr, targets.Ptr, lse.Ptr, lossScale, n, v, c, chunk));
        else C(NativeMethods.CrossEntropyBackward(_ctx, dh.Ptr, dw.Ptr, h.Ptr, w.Ptr, targets.Ptr, lse.Ptr, lossScale, n, v, c, chunk));
        End("cross_entropy_backward", t0);
    }

    public void LoraForward(DeviceSpan y, DeviceSpan xa, DeviceSpan x, DeviceSpan a, DeviceSpan b, long n, long inDim, long outDim, long r, float scale)
    {
        RequireF32("lora_forward", (y, nameof(y)), (xa, nameof(xa)), (a, nameof(a)), (b, nameof(b)));
        if (x.Type == DType.Bf16)
        {
            // hb_lora_forward's two products with a bf16 input: xa = x·Aᵀ on bf16 operands (A rounded), y += s·xa·Bᵀ in fp32.
            Matmul(xa, x, a, n, r, inDim, false, true);
            Matmul(y, xa, b, n, outDim, r, false, true, scale, 1f);
            return;
        }
        long t0 = Begin();
        C(NativeMethods.LoraForward(_ctx, y.Ptr, xa.Ptr, x.Ptr, a.Ptr, b.Ptr, n, inDim, outDim, r, scale));
        End("lora_forward", t0);
    }
    public void LoraBackward(DeviceSpan dx, DeviceSpan da, DeviceSpan db, DeviceSpan work, DeviceSpan dy, DeviceSpan x, DeviceSpan xa,
        DeviceSpan a, DeviceSpan b, long n, long inDim, long outDim, long r, float scale)
    {
        RequireF32("lora_backward", (dx, nameof(dx)), (da, nameof(da)), (db, nameof(db)), (work, nameof(work)), (dy, nameof(dy)),
            (xa, nameof(xa)), (a, nameof(a)), (b, nameof(b)));
        if (x.Type == DType.Bf16)
        {
            // hb_lora_backward's products with a bf16 input x: only dA's meets x, so only it runs on bf16 operands.
            Matmul(work, dy, b, n, r, outDim, false, false, scale, 0f);
            Matmul(db, dy, xa, outDim, r, n, true, false, scale, 1f);
            Matmul(da, work, x, r, inDim, n, true, false, 1f, 1f);
            if (dx.Ptr != 0) Matmul(dx, work, a, n, inDim, r, false, false, 1f, 1f);
            return;
        }
        long t0 = Begin();
        C(NativeMethods.LoraBackward(_ctx, dx.Ptr, da.Ptr, db.Ptr, work.Ptr, dy.Ptr, x.Ptr, xa.Ptr, a.Ptr, b.Ptr, n, inDim, outDim, r, scale));
        End("lora_backward", t0);
    }

    public void SumSquares(DeviceSpan sumsq, DeviceSpan x, long n)
    {
        long t0 = Begin();
        C(NativeMethods.SumSquares(_ctx, sumsq.Ptr, x.Ptr, n));
        End("sum_squares", t0);
    }
    public void ClipScale(DeviceSpan scale, DeviceSpan sumsq, float maxNorm)
    {
        long t0 = Begin();
        C(NativeMethods.ClipScale(_ctx, scale.Ptr, sumsq.Ptr, maxNorm));
        End("clip_scale", t0);
    }
    public void AdamW(DeviceSpan param, DeviceSpan grad, DeviceSpan m, DeviceSpan v, DeviceSpan gradScale, long n, in HbAdamWConfig config)
    {
        long t0 = Begin();
        C(NativeMethods.AdamWUpdate(_ctx, param.Ptr, grad.Ptr, m.Ptr, v.Ptr, gradScale.Ptr, n, config));
        End("adam_w_update", t0);
    }

    /// <summary>AdamW on every tensor of <paramref name="tensors"/> in one native call (one launch per batch on CUDA),
    /// each with its own weight decay (<paramref name="config"/>'s is ignored); equal to <see cref="AdamW"/> per tensor
    /// bit for bit.</summary>
    public unsafe void AdamWMulti(ReadOnlySpan<HbAdamWTensor> tensors, DeviceSpan gradScale, in HbAdamWConfig config)
    {
        long t0 = Begin();
        fixed (HbAdamWTensor* p = tensors) C(NativeMethods.AdamWUpdateMulti(_ctx, p, tensors.Length, gradScale.Ptr, config));
        End("adam_w_update", t0);
    }

    /// <summary>sumsq += Σᵢ Σ xs[i][0..ns[i])² in one native call; equal to <see cref="SumSquares"/> per tensor in order.</summary>
    public unsafe void SumSquaresMulti(DeviceSpan sumsq, ReadOnlySpan<nint> xs, ReadOnlySpan<long> ns)
    {
        if (xs.Length != ns.Length) throw new ArgumentException($"sum_squares_multi: {xs.Length} tensors but {ns.Length} sizes", nameof(ns));
        long t0 = Begin();
        fixed (nint* px = xs)
        fixed (long* pn = ns)
            C(NativeMethods.SumSquaresMulti(_ctx, sumsq.Ptr, px, pn, xs.Length));
        End("sum_squares", t0);
    }

    /// <summary>RoPE inverse frequencies (host computation), D/2 floats.</summary>
    public static unsafe float[] RopeInvFreq(int headDim, in HbRopeConfig config)
    {
        HumpbackLibrary.EnsureLoaded();
        var f = new float[headDim / 2];
        fixed (float* p = f) HbCheck.Check(NativeMethods.RopeInvFreq(p, headDim, config));
        return f;
    }
}
