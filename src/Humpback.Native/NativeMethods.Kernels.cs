using System.Runtime.InteropServices;

namespace Humpback.Native;

// Raw declarations of the kernel exports. Buffers are context memory (nint): host memory for the CPU
// backend, device memory for CUDA. Shapes and gradient conventions: native/include/humpback.h.
internal static unsafe partial class NativeMethods
{
    [LibraryImport(LibraryName, EntryPoint = "hb_matmul")]
    internal static partial HbStatus Matmul(ContextHandle ctx, nint output, nint a, nint b, long m, long n, long k,
        int transA, int transB, float alpha, float beta);

    // bf16 storage: bf16 buffers hold ushort elements (2 bytes); products accumulate in fp32.
    [LibraryImport(LibraryName, EntryPoint = "hb_convert_f32_to_bf16")]
    internal static partial HbStatus ConvertF32ToBf16(ContextHandle ctx, nint output, nint input, long n);

    [LibraryImport(LibraryName, EntryPoint = "hb_convert_bf16_to_f32")]
    internal static partial HbStatus ConvertBf16ToF32(ContextHandle ctx, nint output, nint input, long n);

    [LibraryImport(LibraryName, EntryPoint = "hb_matmul_bf16")]
    internal static partial HbStatus MatmulBf16(ContextHandle ctx, nint output, nint a, nint b, long m, long n, long k,
        int transA, int transB, float alpha, float beta);

    // bf16 activations (mixed precision): the variants a bf16 training step uses; dtype is HbDType.
    [LibraryImport(LibraryName, EntryPoint = "hb_matmul_bf16_mixed")]
    internal static partial HbStatus MatmulBf16Mixed(ContextHandle ctx, nint output, nint a, int aType, nint b, int bType,
        long m, long n, long k, int transA, int transB, float alpha, float beta);

    [LibraryImport(LibraryName, EntryPoint = "hb_embedding_forward_bf16")]
    internal static partial HbStatus EmbeddingForwardBf16(ContextHandle ctx, nint output, nint tokens, nint wte, long n, long v, long c);

    [LibraryImport(LibraryName, EntryPoint = "hb_rmsnorm_forward_bf16")]
    internal static partial HbStatus RmsNormForwardBf16(ContextHandle ctx, nint output, nint rstd, nint input, nint weight, long n, long c, float eps);

    [LibraryImport(LibraryName, EntryPoint = "hb_swiglu_forward_bf16")]
    internal static partial HbStatus SwiGluForwardBf16(ContextHandle ctx, nint output, nint gate, nint up, long n);

    [LibraryImport(LibraryName, EntryPoint = "hb_attention_forward_bf16")]
    internal static partial HbStatus AttentionForwardBf16(ContextHandle ctx, nint output, nint lse, nint q, nint k, nint v, nint segments,
        long b, long t, long h, long kvh, long d, float scale);

    [LibraryImport(LibraryName, EntryPoint = "hb_attention_backward_bf16")]
    internal static partial HbStatus AttentionBackwardBf16(ContextHandle ctx, nint dq, nint dk, nint dv, nint dout, nint q, nint k, nint v,
        nint output, nint lse, nint segments, long b, long t, long h, long kvh, long d, float scale);

    [LibraryImport(LibraryName, EntryPoint = "hb_cross_entropy_forward_bf16")]
    internal static partial HbStatus CrossEntropyForwardBf16(ContextHandle ctx, nint losses, nint lse, nint h, nint w, nint targets,
        long n, long v, long c, long chunk);

    [LibraryImport(LibraryName, EntryPoint = "hb_cross_entropy_backward_bf16")]
    internal static partial HbStatus CrossEntropyBackwardBf16(ContextHandle ctx, nint dh, nint dw, nint h, nint w, nint targets, nint lse,
        float lossScale, long n, long v, long c, long chunk);

    [LibraryImport(LibraryName, EntryPoint = "hb_axpy")]
    internal static partial HbStatus Axpy(ContextHandle ctx, nint y, nint x, float alpha, long n);

    [LibraryImport(LibraryName, EntryPoint = "hb_add")]
    internal static partial HbStatus Add(ContextHandle ctx, nint output, nint a, nint b, long n);

    [LibraryImport(LibraryName, EntryPoint = "hb_scale")]
    internal static partial HbStatus Scale(ContextHandle ctx, nint x, float alpha, long n);

    [LibraryImport(LibraryName, EntryPoint = "hb_embedding_forward")]
    internal static partial HbStatus EmbeddingForward(ContextHandle ctx, nint output, nint tokens, nint wte, long n, long v, long c);

    [LibraryImport(LibraryName, EntryPoint = "hb_embedding_backward")]
    internal static partial HbStatus EmbeddingBackward(ContextHandle ctx, nint dwte, nint dout, nint tokens, long n, long v, long c);

    [LibraryImport(LibraryName, EntryPoint = "hb_rmsnorm_forward")]
    internal static partial HbStatus RmsNormForward(ContextHandle ctx, nint output, nint rstd, nint input, nint weight,
        long n, long c, float eps);

    [LibraryImport(LibraryName, EntryPoint = "hb_rmsnorm_backward")]
    internal static partial HbStatus RmsNormBackward(ContextHandle ctx, nint dinput, nint dweight, nint dout, nint input,
        nint weight, nint rstd, long n, long c);

    [LibraryImport(LibraryName, EntryPoint = "hb_rope_forward")]
    internal static partial HbStatus RopeForward(ContextHandle ctx, nint x, nint positions, nint invFreq, long n, long h, long d);

    [LibraryImport(LibraryName, EntryPoint = "hb_rope_backward")]
    internal static partial HbStatus RopeBackward(ContextHandle ctx, nint dx, nint positions, nint invFreq, long n, long h, long d);

    [LibraryImport(LibraryName, EntryPoint = "hb_attention_forward")]
    internal static partial HbStatus AttentionForward(ContextHandle ctx, nint output, nint lse, nint q, nint k, nint v,
        nint segments, long b, long t, long h, long kvh, long d, float scale);

    [LibraryImport(LibraryName, EntryPoint = "hb_attention_backward")]
    internal static partial HbStatus AttentionBackward(ContextHandle ctx, nint dq, nint dk, nint dv, nint dout, nint q,
        nint k, nint v, nint output, nint lse, nint segments, long b, long t, long h, long kvh, long d, float scale);

    [LibraryImport(LibraryName, EntryPoint = "hb_swiglu_forward")]
    internal static partial HbStatus SwiGluForward(ContextHandle ctx, nint output, nint gate, nint up, long n);

    [LibraryImport(LibraryName, EntryPoint = "hb_swiglu_backward")]
    internal static partial HbStatus SwiGluBackward(ContextHandle ctx, nint dgate, nint dup, nint dout, nint gate, nint up, long n);

    [LibraryImport(LibraryName, EntryPoint = "hb_cross_entropy_forward")]
    internal static partial HbStatus CrossEntropyForward(ContextHandle ctx, nint losses, nint lse, nint h, nint w,
        nint targets, long n, long v, long c, long chunk);

    [LibraryImport(LibraryName, EntryPoint = "hb_cross_entropy_backward")]
    internal static partial HbStatus CrossEntropyBackward(ContextHandle ctx, nint dh, nint dw, nint h, nint w,
        nint targets, nint lse, float lossScale, long n, long v, long c, long chunk);

    [LibraryImport(LibraryName, EntryPoint = "hb_lora_forward")]
    internal static partial HbStatus LoraForward(ContextHandle ctx, nint y, nint xa, nint x, nint a, nint b,
        long n, long inDim, long outDim, long r, float scale);

    [LibraryImport(LibraryName, EntryPoint = "hb_lora_backward")]
    internal static partial HbStatus LoraBackward(ContextHandle ctx, nint dx, nint da, nint db, nint work, nint dy,
        nint x, nint xa, nint a, nint b, long n, long inDim, long outDim, long r, float scale);

    [LibraryImport(LibraryName, EntryPoint = "hb_sum_squares")]
    internal static partial HbStatus SumSquares(ContextHandle ctx, nint sumsq, nint x, long n);

    [LibraryImport(LibraryName, EntryPoint = "hb_clip_scale")]
    internal static partial HbStatus ClipScale(ContextHandle ctx, nint scale, nint sumsq, float maxNorm);

    [LibraryImport(LibraryName, EntryPoint = "hb_adamw_update")]
    internal static partial HbStatus AdamWUpdate(ContextHandle ctx, nint param, nint grad, nint m, nint v,
        nint gradScale, long n, in HbAdamWConfig config);

    // Multi-tensor optimizer ops: the arrays are host memory, read during the call only.
    [LibraryImport(LibraryName, EntryPoint = "hb_adamw_update_multi")]
    internal static partial HbStatus AdamWUpdateMulti(ContextHandle ctx, HbAdamWTensor* tensors, int count,
        nint gradScale, in HbAdamWConfig config);

    [LibraryImport(LibraryName, EntryPoint = "hb_sum_squares_multi")]
    internal static partial HbStatus SumSquaresMulti(ContextHandle ctx, nint sumsq, nint* xs, long* ns, int count);
}
