/*
 * humpback.h — the one public header of libhumpback.
 *
 * Conventions (see docs/architecture.md):
 *  - Every export is prefixed `hb_` (LLamaSharp loads ggml_* / llama_* into the same process).
 *  - Every fallible call returns an hb_status; results come back through out-parameters.
 *  - On failure, hb_last_error() returns a message naming the function and the argument.
 *    The string is owned by the library, per thread, valid until the next hb_ call on that thread.
 *  - No C++ exception, abort() or exit() ever crosses this boundary.
 *  - Every free function accepts NULL.
 *  - Element counts and shapes are int64_t. Buffers are row-major, fp32 unless stated.
 *  - Kernels take a context: its backend decides whether pointers are host (CPU) or device (CUDA)
 *    memory. Memory for a context comes from hb_alloc on that context.
 *  - Gradient convention (llm.c): parameter gradients ACCUMULATE (+=), activation gradients are
 *    OVERWRITTEN (=) unless the comment of the function says otherwise.
 *  - Shapes in comments: B batch, T sequence, C model dim, H query heads, KVH key/value heads,
 *    D head dim, F FFN dim, V vocabulary, N = B*T rows, R LoRA rank.
 */
#ifndef HUMPBACK_H
#define HUMPBACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  if defined(HB_BUILDING_LIBRARY)
#    define HB_API __declspec(dllexport)
#  else
#    define HB_API __declspec(dllimport)
#  endif
#else
#  define HB_API __attribute__((visibility("default")))
#endif

/* Bump on any change of a signature or of a struct below; C# refuses a mismatched library. */
#define HB_ABI_VERSION 1

typedef enum hb_status {
    HB_OK = 0,
    HB_ERR_INVALID_ARGUMENT = 1, /* null pointer, negative size, inconsistent shapes */
    HB_ERR_OUT_OF_MEMORY = 2,
    HB_ERR_UNSUPPORTED = 3,      /* op or feature not available on this backend/build */
    HB_ERR_NO_DEVICE = 4,        /* no CUDA driver/device, or device index out of range */
    HB_ERR_BACKEND = 5,          /* a CUDA/cuBLAS/BLAS call failed; message has the detail */
    HB_ERR_INTERNAL = 6          /* a bug: an unexpected C++ exception was caught */
} hb_status;

typedef enum hb_backend_kind {
    HB_BACKEND_CPU = 0,
    HB_BACKEND_CUDA = 1
} hb_backend_kind;

/* ---------------------------------------------------------------- library */

HB_API uint32_t hb_abi_version(void);
HB_API const char* hb_status_to_string(hb_status status);
/* Message of the last failed call on this thread ("" when none). Owned by the library. */
HB_API const char* hb_last_error(void);
HB_API void hb_clear_error(void);

typedef struct hb_build_info {
    uint32_t abi_version;
    int32_t cuda_compiled;   /* 1 when the CUDA backend is part of this build */
    int32_t openmp;          /* 1 when CPU loops are threaded with OpenMP */
    int32_t max_threads;     /* threads the CPU backend uses by default */
    char version[32];        /* library version, e.g. "0.1.0" */
    char blas[64];           /* BLAS in use, e.g. "OpenBLAS 0.3.21 (Haswell)" */
    char cpu_features[128];  /* e.g. "avx2 fma avx512f" */
    char cuda_version[32];   /* CUDA runtime version compiled against, "" without CUDA */
} hb_build_info;

HB_API hb_status hb_get_build_info(hb_build_info* out);

/* Layout introspection for the managed side's struct tests: offset and size of a field of a
 * public struct, e.g. ("hb_build_info", "blas"). Field "" gives the struct's size in *size. */
HB_API hb_status hb_struct_layout(const char* struct_name, const char* field, int64_t* offset, int64_t* size);

/* ---------------------------------------------------------------- devices */

typedef struct hb_device_info {
    char name[256];
    uint64_t total_memory;   /* bytes */
    uint64_t free_memory;    /* bytes */
    int32_t compute_major;
    int32_t compute_minor;
    int32_t multiprocessors;
    int32_t reserved;
} hb_device_info;

/* Number of CUDA devices. 0 (and HB_OK) without a CUDA build, driver or GPU. */
HB_API hb_status hb_cuda_device_count(int32_t* count);
HB_API hb_status hb_cuda_device_info(int32_t device, hb_device_info* out);

/* ---------------------------------------------------------------- contexts and memory */

typedef struct hb_context hb_context;

/* device: CUDA device index (ignored for CPU). num_threads: CPU threads, 0 = all cores. */
HB_API hb_status hb_context_create(hb_backend_kind kind, int32_t device, int32_t num_threads, hb_context** out);
HB_API void hb_context_free(hb_context* ctx);
HB_API hb_status hb_context_backend(const hb_context* ctx, hb_backend_kind* out);
/* Waits for all queued work (a no-op on the CPU). The only call that syncs with the host. */
HB_API hb_status hb_context_synchronize(hb_context* ctx);

HB_API hb_status hb_alloc(hb_context* ctx, int64_t bytes, void** out);
HB_API void hb_free(hb_context* ctx, void* ptr);
HB_API hb_status hb_memset(hb_context* ctx, void* dst, int32_t value, int64_t bytes);
HB_API hb_status hb_copy_to_device(hb_context* ctx, void* dst_device, const void* src_host, int64_t bytes);
HB_API hb_status hb_copy_to_host(hb_context* ctx, void* dst_host, const void* src_device, int64_t bytes);
HB_API hb_status hb_copy_device(hb_context* ctx, void* dst_device, const void* src_device, int64_t bytes);

/* ---------------------------------------------------------------- dense math */

/* out (M,N) = alpha * op(a) @ op(b) + beta * out.
 * op(a) is (M,K): a is (M,K) row-major, or (K,M) when trans_a. op(b) is (K,N): b is (K,N), or (N,K)
 * when trans_b. A linear layer y = x W^T with W (out,in) is hb_matmul(y, x, W, N, out, in, 0, 1, 1, 0). */
HB_API hb_status hb_matmul(hb_context* ctx, float* out, const float* a, const float* b,
                           int64_t M, int64_t N, int64_t K, int32_t trans_a, int32_t trans_b,
                           float alpha, float beta);

/* y (n) += alpha * x (n) — residual adds and gradient accumulation. */
HB_API hb_status hb_axpy(hb_context* ctx, float* y, const float* x, float alpha, int64_t n);
/* out (n) = a (n) + b (n); out may alias a or b. */
HB_API hb_status hb_add(hb_context* ctx, float* out, const float* a, const float* b, int64_t n);
/* x (n) *= alpha */
HB_API hb_status hb_scale(hb_context* ctx, float* x, float alpha, int64_t n);

/* ---------------------------------------------------------------- bf16 storage
 * bf16 (bfloat16: the upper 16 bits of an IEEE fp32, stored as uint16_t) holds frozen weights and activations in half
 * the memory of fp32; every product below accumulates in fp32. f32 -> bf16 rounds to nearest, ties to even; NaN stays
 * a (quiet) NaN; values beyond the bf16 range round to infinity. bf16 -> f32 is exact. */

/* out (n) = bf16(in (n)) */
HB_API hb_status hb_convert_f32_to_bf16(hb_context* ctx, uint16_t* out, const float* in, int64_t n);
/* out (n) = float(in (n)) */
HB_API hb_status hb_convert_bf16_to_f32(hb_context* ctx, float* out, const uint16_t* in, int64_t n);
/* hb_matmul with bf16 operands: out (M,N) fp32 = alpha * op(a) @ op(b) + beta * out, with op() as in hb_matmul.
 * A product of two bf16 values is exact in fp32, so the only rounding is the fp32 accumulation. */
HB_API hb_status hb_matmul_bf16(hb_context* ctx, float* out, const uint16_t* a, const uint16_t* b,
                                int64_t M, int64_t N, int64_t K, int32_t trans_a, int32_t trans_b,
                                float alpha, float beta);

/* ---------------------------------------------------------------- bf16 activations (mixed precision)
 * The variants below are what a bf16 mixed-precision training step needs: the activations a step saves for its
 * backward (norm outputs, q/k/v, attention output, SwiGLU output) and the frozen weights are bf16; the residual
 * stream, every gradient, rstd / lse, the trainable (master) weights and the optimizer state stay fp32; every sum
 * (GEMM, softmax, norm) accumulates in fp32. Each computes exactly what its fp32 twin computes on the widened bf16
 * inputs, then rounds its bf16 outputs once (the CPU backend is that definition). */

typedef enum hb_dtype {
    HB_DTYPE_F32 = 0,
    HB_DTYPE_BF16 = 1
} hb_dtype;

/* hb_matmul_bf16 where each operand is bf16 (uint16_t) or fp32 (float), as a_type / b_type say; an fp32 operand is
 * rounded to bf16 first, so the result is hb_matmul_bf16(bf16(a), bf16(b)): what a tensor-core GEMM of an fp32
 * gradient with a bf16 weight computes. */
HB_API hb_status hb_matmul_bf16_mixed(hb_context* ctx, float* out, const void* a, hb_dtype a_type, const void* b,
                                      hb_dtype b_type, int64_t M, int64_t N, int64_t K, int32_t trans_a,
                                      int32_t trans_b, float alpha, float beta);
/* hb_embedding_forward with a bf16 table: out (N,C) fp32 = float(wte[tokens[i]]). */
HB_API hb_status hb_embedding_forward_bf16(hb_context* ctx, float* out, const int32_t* tokens, const uint16_t* wte,
                                           int64_t N, int64_t V, int64_t C);
/* hb_rmsnorm_forward with a bf16 output: out (N,C) = bf16(inp / rms(inp) * weight); inp, weight, rstd fp32.
 * The backward is hb_rmsnorm_backward (it reads the fp32 input, not the output). */
HB_API hb_status hb_rmsnorm_forward_bf16(hb_context* ctx, uint16_t* out, float* rstd, const float* inp,
                                         const float* weight, int64_t N, int64_t C, float eps);
/* hb_swiglu_forward with a bf16 output: out (n) = bf16(silu(gate) * up); gate, up fp32. The backward is
 * hb_swiglu_backward. */
HB_API hb_status hb_swiglu_forward_bf16(hb_context* ctx, uint16_t* out, const float* gate, const float* up, int64_t n);
/* hb_attention_forward on bf16 q, k, v, writing a bf16 out; lse (B,H,T) fp32; scores, softmax and the P·V
 * accumulation in fp32. */
HB_API hb_status hb_attention_forward_bf16(hb_context* ctx, uint16_t* out, float* lse, const uint16_t* q,
                                           const uint16_t* k, const uint16_t* v, const int32_t* segments, int64_t B,
                                           int64_t T, int64_t H, int64_t KVH, int64_t D, float scale);
/* hb_attention_backward reading bf16 q, k, v, out (as saved by the forward) and fp32 dout, lse; dq, dk, dv fp32
 * (overwritten). */
HB_API hb_status hb_attention_backward_bf16(hb_context* ctx, float* dq, float* dk, float* dv, const float* dout,
                                            const uint16_t* q, const uint16_t* k, const uint16_t* v,
                                            const uint16_t* out, const float* lse, const int32_t* segments, int64_t B,
                                            int64_t T, int64_t H, int64_t KVH, int64_t D, float scale);
/* hb_cross_entropy_forward with bf16 h (N,C) and w (V,C); the logits accumulate in fp32; losses, lse fp32. */
HB_API hb_status hb_cross_entropy_forward_bf16(hb_context* ctx, float* losses, float* lse, const uint16_t* h,
                                               const uint16_t* w, const int32_t* targets, int64_t N, int64_t V,
                                               int64_t C, int64_t chunk);
/* hb_cross_entropy_backward with bf16 h and w: dh (N,C) fp32 overwritten, dw (V,C) fp32 += (NULL when frozen).
 * The logit gradients loss_scale * (softmax - onehot) are rounded to bf16 before the two GEMMs that consume them
 * (dh = dlogits @ w, dw += dlogits^T @ h), as a tensor-core GEMM needs. */
HB_API hb_status hb_cross_entropy_backward_bf16(hb_context* ctx, float* dh, float* dw, const uint16_t* h,
                                                const uint16_t* w, const int32_t* targets, const float* lse,
                                                float loss_scale, int64_t N, int64_t V, int64_t C, int64_t chunk);

/* ---------------------------------------------------------------- embedding */

/* out (N,C) = wte[tokens[i]]; tokens (N) in [0,V). */
HB_API hb_status hb_embedding_forward(hb_context* ctx, float* out, const int32_t* tokens, const float* wte,
                                      int64_t N, int64_t V, int64_t C);
/* dwte (V,C) += scatter of dout (N,C). */
HB_API hb_status hb_embedding_backward(hb_context* ctx, float* dwte, const float* dout, const int32_t* tokens,
                                       int64_t N, int64_t V, int64_t C);

/* ---------------------------------------------------------------- RMSNorm */

/* out (N,C) = inp / rms(inp) * weight (C); rstd (N) saves 1/rms for the backward. */
HB_API hb_status hb_rmsnorm_forward(hb_context* ctx, float* out, float* rstd, const float* inp, const float* weight,
                                    int64_t N, int64_t C, float eps);
/* dinp (N,C) += (it feeds the residual stream, whose gradient is a sum); dweight (C) += (may be NULL
 * when the norm weight is frozen). */
HB_API hb_status hb_rmsnorm_backward(hb_context* ctx, float* dinp, float* dweight, const float* dout,
                                     const float* inp, const float* weight, const float* rstd, int64_t N, int64_t C);

/* ---------------------------------------------------------------- RoPE */

typedef struct hb_rope_config {
    float theta;                        /* rope_theta, 500000 for Llama 3 */
    int32_t scaling;                    /* 0 none, 1 llama3 */
    float factor;                       /* llama3: 32 for Llama 3.2 */
    float low_freq_factor;              /* llama3: 1 */
    float high_freq_factor;             /* llama3: 4 */
    int32_t original_max_position;      /* llama3: 8192 */
} hb_rope_config;

/* inv_freq (D/2) in host memory: theta^(-2i/D), divided by the llama3 factor where it applies.
 * Copy it to the device for the kernels. */
HB_API hb_status hb_rope_inv_freq(float* inv_freq, int64_t D, const hb_rope_config* config);

/* x (N, H, D) rotated in place (HF "rotate_half" layout: pairs (i, i + D/2)) by angle pos[n] * inv_freq[i].
 * positions (N) restart at 0 for each packed example. */
HB_API hb_status hb_rope_forward(hb_context* ctx, float* x, const int32_t* positions, const float* inv_freq,
                                 int64_t N, int64_t H, int64_t D);
/* dx (N,H,D) rotated back in place (the transpose of the forward rotation). */
HB_API hb_status hb_rope_backward(hb_context* ctx, float* dx, const int32_t* positions, const float* inv_freq,
                                  int64_t N, int64_t H, int64_t D);

/* ---------------------------------------------------------------- attention */

/* Causal grouped-query attention, flash style (online softmax, never a (T,T) matrix per batch).
 * q (B,T,H,D), k and v (B,T,KVH,D), H % KVH == 0; query head h reads KV head h / (H/KVH).
 * segments (B,T) or NULL: token t attends to s <= t only when segments[b,s] == segments[b,t]
 * (packed examples never see each other). out (B,T,H,D); lse (B,H,T) saves the row logsumexp.
 * scale: usually 1/sqrt(D). */
HB_API hb_status hb_attention_forward(hb_context* ctx, float* out, float* lse,
                                      const float* q, const float* k, const float* v, const int32_t* segments,
                                      int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t D, float scale);
/* dq (B,T,H,D), dk and dv (B,T,KVH,D) are overwritten. Recomputes the scores from q, k, lse. */
HB_API hb_status hb_attention_backward(hb_context* ctx, float* dq, float* dk, float* dv,
                                       const float* dout, const float* q, const float* k, const float* v,
                                       const float* out, const float* lse, const int32_t* segments,
                                       int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t D, float scale);

/* ---------------------------------------------------------------- SwiGLU */

/* out (n) = silu(gate) * up */
HB_API hb_status hb_swiglu_forward(hb_context* ctx, float* out, const float* gate, const float* up, int64_t n);
/* dgate, dup (n) overwritten. */
HB_API hb_status hb_swiglu_backward(hb_context* ctx, float* dgate, float* dup, const float* dout,
                                    const float* gate, const float* up, int64_t n);

/* ---------------------------------------------------------------- fused cross-entropy */

/* Fused LM head + cross-entropy over vocabulary chunks: logits = h (N,C) @ w (V,C)^T are computed
 * chunk by chunk and never stored whole. targets (N): index in [0,V), or < 0 to ignore the row.
 * losses (N) = lse - logit[target] (0 for ignored rows); lse (N) saved for the backward.
 * chunk: vocabulary columns per chunk, 0 = the backend's default. */
HB_API hb_status hb_cross_entropy_forward(hb_context* ctx, float* losses, float* lse, const float* h, const float* w,
                                          const int32_t* targets, int64_t N, int64_t V, int64_t C, int64_t chunk);
/* d loss_total / d h and / d w, where loss_total = loss_scale * sum(losses) (loss_scale = 1/unmasked
 * tokens for a mean). dh (N,C) overwritten; dw (V,C) += (NULL when the head is frozen). */
HB_API hb_status hb_cross_entropy_backward(hb_context* ctx, float* dh, float* dw, const float* h, const float* w,
                                           const int32_t* targets, const float* lse, float loss_scale,
                                           int64_t N, int64_t V, int64_t C, int64_t chunk);

/* ---------------------------------------------------------------- LoRA */

/* y (N,out) += scale * (x (N,in) @ a (R,in)^T) @ b (out,R)^T; xa (N,R) = x @ a^T saved for the backward. */
HB_API hb_status hb_lora_forward(hb_context* ctx, float* y, float* xa, const float* x, const float* a, const float* b,
                                 int64_t N, int64_t in, int64_t out, int64_t R, float scale);
/* da (R,in) +=, db (out,R) +=, dx (N,in) += (NULL to skip; it adds to the frozen path's dx).
 * work (N,R) is scratch. The frozen W never gets a gradient. */
HB_API hb_status hb_lora_backward(hb_context* ctx, float* dx, float* da, float* db, float* work,
                                  const float* dy, const float* x, const float* xa, const float* a, const float* b,
                                  int64_t N, int64_t in, int64_t out, int64_t R, float scale);

/* ---------------------------------------------------------------- optimizer */

/* sumsq (1 float, context memory) += sum(x^2). Use over all gradients, then hb_clip_scale. */
HB_API hb_status hb_sum_squares(hb_context* ctx, float* sumsq, const float* x, int64_t n);
/* scale (1 float) = min(1, max_norm / (sqrt(*sumsq) + 1e-6)); max_norm <= 0 means no clipping (scale 1).
 * Computed on the backend so a training step never waits for the host. */
HB_API hb_status hb_clip_scale(hb_context* ctx, float* scale, const float* sumsq, float max_norm);

typedef struct hb_adamw_config {
    float lr;
    float beta1;
    float beta2;
    float eps;
    float weight_decay;  /* decoupled: param -= lr * wd * param */
    int32_t step;        /* 1-based, for bias correction */
} hb_adamw_config;

/* AdamW on n elements; grad is multiplied by *grad_scale (context memory, from hb_clip_scale; NULL = 1). */
HB_API hb_status hb_adamw_update(hb_context* ctx, float* param, const float* grad, float* m, float* v,
                                 const float* grad_scale, int64_t n, const hb_adamw_config* config);

/* One tensor of hb_adamw_update_multi (host memory; the pointers are context memory). */
typedef struct hb_adamw_tensor {
    float* param;
    const float* grad;
    float* m;
    float* v;
    int64_t n;
    float weight_decay;  /* per tensor (matrices decay, norms do not); finite, >= 0 */
    int32_t reserved;    /* 0 */
} hb_adamw_tensor;

/* AdamW on `count` tensors in one call: each exactly as hb_adamw_update with its own weight_decay
 * (config->weight_decay is ignored); the results equal per-tensor calls bit for bit. `tensors` is a host array,
 * read during the call only; count 0 is a no-op. CUDA: one kernel launch per batch of up to 64 tensors. */
HB_API hb_status hb_adamw_update_multi(hb_context* ctx, const hb_adamw_tensor* tensors, int32_t count,
                                       const float* grad_scale, const hb_adamw_config* config);
/* sumsq (1 float, context memory) += sum over i of sum(xs[i][0..ns[i])^2): hb_sum_squares on each tensor in
 * order, in one call. xs and ns are host arrays (xs[i] context memory), read during the call only; count 0 is a
 * no-op. CUDA: one kernel launch per batch of up to 128 tensors. */
HB_API hb_status hb_sum_squares_multi(hb_context* ctx, float* sumsq, const float* const* xs, const int64_t* ns,
                                      int32_t count);

#ifdef __cplusplus
}
#endif

#endif /* HUMPBACK_H */
