// backend.hpp — the internal table of function pointers behind every hb_ export (ggml habit).
// The API layer (api-*.cpp) validates arguments once, then calls ctx->ops->op. A backend fills in
// the ops it implements; a NULL entry is reported as HB_ERR_UNSUPPORTED naming the op and backend.
// Backend functions may throw hb::Error; the API layer's guard turns it into a status.
#pragma once

#include <cstdint>

#include "humpback.h"

struct hb_backend_ops {
    const char* name;  // "cpu", "cuda"

    // memory
    void* (*alloc)(hb_context* ctx, int64_t bytes);
    void (*free)(hb_context* ctx, void* ptr);
    void (*memset)(hb_context* ctx, void* dst, int32_t value, int64_t bytes);
    void (*copy_to_device)(hb_context* ctx, void* dst, const void* src, int64_t bytes);
    void (*copy_to_host)(hb_context* ctx, void* dst, const void* src, int64_t bytes);
    void (*copy_device)(hb_context* ctx, void* dst, const void* src, int64_t bytes);
    void (*synchronize)(hb_context* ctx);
    void (*destroy)(hb_context* ctx);  // frees backend_state

    // dense math
    void (*matmul)(hb_context* ctx, float* out, const float* a, const float* b, int64_t M, int64_t N, int64_t K,
                   int32_t trans_a, int32_t trans_b, float alpha, float beta);
    void (*axpy)(hb_context* ctx, float* y, const float* x, float alpha, int64_t n);
    // bf16 storage
    void (*convert_f32_to_bf16)(hb_context* ctx, uint16_t* out, const float* in, int64_t n);
    void (*convert_bf16_to_f32)(hb_context* ctx, float* out, const uint16_t* in, int64_t n);
    void (*matmul_bf16)(hb_context* ctx, float* out, const uint16_t* a, const uint16_t* b, int64_t M, int64_t N,
                        int64_t K, int32_t trans_a, int32_t trans_b, float alpha, float beta);
    // bf16 activations (mixed precision)
    void (*matmul_bf16_mixed)(hb_context* ctx, float* out, const void* a, hb_dtype a_type, const void* b,
                              hb_dtype b_type, int64_t M, int64_t N, int64_t K, int32_t trans_a, int32_t trans_b,
                              float alpha, float beta);
    void (*embedding_forward_bf16)(hb_context* ctx, float* out, const int32_t* tokens, const uint16_t* wte, int64_t N,
                                   int64_t V, int64_t C);
    void (*rmsnorm_forward_bf16)(hb_context* ctx, uint16_t* out, float* rstd, const float* inp, const float* weight,
                                 int64_t N, int64_t C, float eps);
    void (*swiglu_forward_bf16)(hb_context* ctx, uint16_t* out, const float* gate, const float* up, int64_t n);
    void (*attention_forward_bf16)(hb_context* ctx, uint16_t* out, float* lse, const uint16_t* q, const uint16_t* k,
                                   const uint16_t* v, const int32_t* segments, int64_t B, int64_t T, int64_t H,
                                   int64_t KVH, int64_t D, float scale);
    void (*attention_backward_bf16)(hb_context* ctx, float* dq, float* dk, float* dv, const float* dout,
                                    const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* out,
                                    const float* lse, const int32_t* segments, int64_t B, int64_t T, int64_t H,
                                    int64_t KVH, int64_t D, float scale);
    void (*cross_entropy_forward_bf16)(hb_context* ctx, float* losses, float* lse, const uint16_t* h,
                                       const uint16_t* w, const int32_t* targets, int64_t N, int64_t V, int64_t C,
                                       int64_t chunk);
    void (*cross_entropy_backward_bf16)(hb_context* ctx, float* dh, float* dw, const uint16_t* h, const uint16_t* w,
                                        const int32_t* targets, const float* lse, float loss_scale, int64_t N,
                                        int64_t V, int64_t C, int64_t chunk);
    void (*add)(hb_context* ctx, float* out, const float* a, const float* b, int64_t n);
    void (*scale)(hb_context* ctx, float* x, float alpha, int64_t n);

    // model ops
    void (*embedding_forward)(hb_context* ctx, float* out, const int32_t* tokens, const float* wte, int64_t N,
                              int64_t V, int64_t C);
    void (*embedding_backward)(hb_context* ctx, float* dwte, const float* dout, const int32_t* tokens, int64_t N,
                               int64_t V, int64_t C);
    void (*rmsnorm_forward)(hb_context* ctx, float* out, float* rstd, const float* inp, const float* weight,
                            int64_t N, int64_t C, float eps);
    void (*rmsnorm_backward)(hb_context* ctx, float* dinp, float* dweight, const float* dout, const float* inp,
                             const float* weight, const float* rstd, int64_t N, int64_t C);
    void (*rope_forward)(hb_context* ctx, float* x, const int32_t* positions, const float* inv_freq, int64_t N,
                         int64_t H, int64_t D);
    void (*rope_backward)(hb_context* ctx, float* dx, const int32_t* positions, const float* inv_freq, int64_t N,
                          int64_t H, int64_t D);
    void (*attention_forward)(hb_context* ctx, float* out, float* lse, const float* q, const float* k,
                              const float* v, const int32_t* segments, int64_t B, int64_t T, int64_t H,
                              int64_t KVH, int64_t D, float scale);
    void (*attention_backward)(hb_context* ctx, float* dq, float* dk, float* dv, const float* dout, const float* q,
                               const float* k, const float* v, const float* out, const float* lse,
                               const int32_t* segments, int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t D,
                               float scale);
    void (*swiglu_forward)(hb_context* ctx, float* out, const float* gate, const float* up, int64_t n);
    void (*swiglu_backward)(hb_context* ctx, float* dgate, float* dup, const float* dout, const float* gate,
                            const float* up, int64_t n);
    void (*cross_entropy_forward)(hb_context* ctx, float* losses, float* lse, const float* h, const float* w,
                                  const int32_t* targets, int64_t N, int64_t V, int64_t C, int64_t chunk);
    void (*cross_entropy_backward)(hb_context* ctx, float* dh, float* dw, const float* h, const float* w,
                                   const int32_t* targets, const float* lse, float loss_scale, int64_t N,
                                   int64_t V, int64_t C, int64_t chunk);
    void (*lora_forward)(hb_context* ctx, float* y, float* xa, const float* x, const float* a, const float* b,
                         int64_t N, int64_t in, int64_t out, int64_t R, float scale);
    void (*lora_backward)(hb_context* ctx, float* dx, float* da, float* db, float* work, const float* dy,
                          const float* x, const float* xa, const float* a, const float* b, int64_t N, int64_t in,
                          int64_t out, int64_t R, float scale);

    // optimizer
    void (*sum_squares)(hb_context* ctx, float* sumsq, const float* x, int64_t n);
    void (*clip_scale)(hb_context* ctx, float* scale, const float* sumsq, float max_norm);
    void (*adamw_update)(hb_context* ctx, float* param, const float* grad, float* m, float* v,
                         const float* grad_scale, int64_t n, const hb_adamw_config* config);
    void (*sum_squares_multi)(hb_context* ctx, float* sumsq, const float* const* xs, const int64_t* ns,
                              int32_t count);
    void (*adamw_update_multi)(hb_context* ctx, const hb_adamw_tensor* tensors, int32_t count,
                               const float* grad_scale, const hb_adamw_config* config);
};

struct hb_context {
    hb_backend_kind kind;
    const hb_backend_ops* ops;
    int32_t device;
    int32_t num_threads;
    void* backend_state;  // owned by the backend (e.g. CUDA stream, cuBLAS handle, workspaces)
};

namespace hb {
// Each backend provides a constructor; it fills ctx->ops and ctx->backend_state or throws hb::Error.
void cpu_context_init(hb_context* ctx);
#if defined(HB_WITH_CUDA)
void cuda_context_init(hb_context* ctx);
int32_t cuda_device_count();
void cuda_device_info(int32_t device, hb_device_info* out);
const char* cuda_runtime_version();
#endif
// CPU backend facts for hb_get_build_info.
const char* cpu_blas_description();
const char* cpu_feature_string();
int32_t cpu_default_threads();
int32_t cpu_openmp_enabled();
}  // namespace hb
