using Humpback.Native;

namespace Humpback.Engine;

/// <summary>Typed calls into libhumpback's kernels on a device. Shapes and conventions: native/include/humpback.h
/// (parameter gradients accumulate, activation gradients are overwritten unless noted).</summary>
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

    /// <summary>out (M,N) = alpha·op(a)·op(b) + beta·out.</summary>
    public void Matmul(DeviceSpan output, DeviceSpan a, DeviceSpan b, long m, long n, long k, bool transA, bool transB, float alpha = 1f, float beta = 0f)
    {
        long t0 = Begin();
        C(NativeMethods.Matmul(_ctx, output.Ptr, a.Ptr, b.Ptr, m, n, k, transA ? 1 : 0, transB ? 1 : 0, alpha, beta));
        End("matmul", t0);
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
        long t0 = Begin();
        C(NativeMethods.EmbeddingForward(_ctx, output.Ptr, tokens.Ptr, wte.Ptr, n, v, c));
        End("embedding_forward", t0);
    }
    public void EmbeddingBackward(DeviceSpan dwte, DeviceSpan dout, DeviceSpan tokens, long n, long v, long c)
    {
        long t0 = Begin();
        C(NativeMethods.EmbeddingBackward(_ctx, dwte.Ptr, dout.Ptr, tokens.Ptr, n, v, c));
        End("embedding_backward", t0);
    }

    public void RmsNormForward(DeviceSpan output, DeviceSpan rstd, DeviceSpan input, DeviceSpan weight, long n, long c, float eps)
    {
        long t0 = Begin();
        C(NativeMethods.RmsNormForward(_ctx, output.Ptr, rstd.Ptr, input.Ptr, weight.Ptr, n, c, eps));
        End("rms_norm_forward", t0);
    }
    /// <summary>dinput += …; dweight += … (Null when frozen).</summary>
    public void RmsNormBackward(DeviceSpan dinput, DeviceSpan dweight, DeviceSpan dout, DeviceSpan input, DeviceSpan weight, DeviceSpan rstd, long n, long c)
    {
        long t0 = Begin();
        C(NativeMethods.RmsNormBackward(_ctx, dinput.Ptr, dweight.Ptr, dout.Ptr, input.Ptr, weight.Ptr, rstd.Ptr, n, c));
        End("rms_norm_backward", t0);
    }

    public void RopeForward(DeviceSpan x, DeviceSpan positions, DeviceSpan invFreq, long n, long h, long d)
    {
        long t0 = Begin();
        C(NativeMethods.RopeForward(_ctx, x.Ptr, positions.Ptr, invFreq.Ptr, n, h, d));
        End("rope_forward", t0);
    }
    public void RopeBackward(DeviceSpan dx, DeviceSpan positions, DeviceSpan invFreq, long n, long h, long d)
    {
        long t0 = Begin();
        C(NativeMethods.RopeBackward(_ctx, dx.Ptr, positions.Ptr, invFreq.Ptr, n, h, d));
        End("rope_backward", t0);
    }

    public void AttentionForward(DeviceSpan output, DeviceSpan lse, DeviceSpan q, DeviceSpan k, DeviceSpan v, DeviceSpan segments,
        long b, long t, long h, long kvh, long d, float scale)
    {
        long t0 = Begin();
        C(NativeMethods.AttentionForward(_ctx, output.Ptr, lse.Ptr, q.Ptr, k.Ptr, v.Ptr, segments.Ptr, b, t, h, kvh, d, scale));
        End("attention_forward", t0);
    }
    public void AttentionBackward(DeviceSpan dq, DeviceSpan dk, DeviceSpan dv, DeviceSpan dout, DeviceSpan q, DeviceSpan k, DeviceSpan v,
        DeviceSpan output, DeviceSpan lse, DeviceSpan segments, long b, long t, long h, long kvh, long d, float scale)
    {
        long t0 = Begin();
        C(NativeMethods.AttentionBackward(_ctx, dq.Ptr, dk.Ptr, dv.Ptr, dout.Ptr, q.Ptr, k.Ptr, v.Ptr, output.Ptr, lse.Ptr, segments.Ptr, b, t, h, kvh, d, scale));
        End("attention_backward", t0);
    }

    public void SwiGluForward(DeviceSpan output, DeviceSpan gate, DeviceSpan up, long n)
    {
        long t0 = Begin();
        C(NativeMethods.SwiGluForward(_ctx, output.Ptr, gate.Ptr, up.Ptr, n));
        End("swi_glu_forward", t0);
    }
    public void SwiGluBackward(DeviceSpan dgate, DeviceSpan dup, DeviceSpan dout, DeviceSpan gate, DeviceSpan up, long n)
    {
        long t0 = Begin();
        C(NativeMethods.SwiGluBackward(_ctx, dgate.Ptr, dup.Ptr, dout.Ptr, gate.Ptr, up.Ptr, n));
        End("swi_glu_backward", t0);
    }

    public void CrossEntropyForward(DeviceSpan losses, DeviceSpan lse, DeviceSpan h, DeviceSpan w, DeviceSpan targets, long n, long v, long c, long chunk = 0)
    {
        long t0 = Begin();
        C(NativeMethods.CrossEntropyForward(_ctx, losses.Ptr, lse.Ptr, h.Ptr, w.Ptr, targets.Ptr, n, v, c, chunk));
        End("cross_entropy_forward", t0);
    }
    public void CrossEntropyBackward(DeviceSpan dh, DeviceSpan dw, DeviceSpan h, DeviceSpan w, DeviceSpan targets, DeviceSpan lse, float lossScale,
        long n, long v, long c, long chunk = 0)
    {
        long t0 = Begin();
        C(NativeMethods.CrossEntropyBackward(_ctx, dh.Ptr, dw.Ptr, h.Ptr, w.Ptr, targets.Ptr, lse.Ptr, lossScale, n, v, c, chunk));
        End("cross_entropy_backward", t0);
    }

    public void LoraForward(DeviceSpan y, DeviceSpan xa, DeviceSpan x, DeviceSpan a, DeviceSpan b, long n, long inDim, long outDim, long r, float scale)
    {
        long t0 = Begin();
        C(NativeMethods.LoraForward(_ctx, y.Ptr, xa.Ptr, x.Ptr, a.Ptr, b.Ptr, n, inDim, outDim, r, scale));
        End("lora_forward", t0);
    }
    public void LoraBackward(DeviceSpan dx, DeviceSpan da, DeviceSpan db, DeviceSpan work, DeviceSpan dy, DeviceSpan x, DeviceSpan xa,
        DeviceSpan a, DeviceSpan b, long n, long inDim, long outDim, long r, float scale)
    {
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

    /// <summary>RoPE inverse frequencies (host computation), D/2 floats.</summary>
    public static unsafe float[] RopeInvFreq(int headDim, in HbRopeConfig config)
    {
        HumpbackLibrary.EnsureLoaded();
        var f = new float[headDim / 2];
        fixed (float* p = f) HbCheck.Check(NativeMethods.RopeInvFreq(p, headDim, config));
        return f;
    }
}
