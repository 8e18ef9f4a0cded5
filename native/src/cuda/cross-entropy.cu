// cross-entropy.cu — fused LM head + cross-entropy over vocabulary chunks (the (N,V) logits never exist
// whole). Per chunk [v0, v0+cw): logits (N,cw) = h (N,C) @ w[v0:v0+cw] (cw,C)^T by cuBLAS into scratch, then
//  forward:  one block per row folds the chunk into a running (max, sum of exp) — online logsumexp
//            (Milakov & Gimelshein 2018) — and picks up the target's logit when it falls in the chunk;
//  backward: dlogits = loss_scale * (softmax - onehot(target)) formed in place, then
//            dh (N,C) (=, then +=) dlogits @ w_chunk and dw_chunk (cw,C) += dlogits^T @ h.
// The bf16 variants (bf16 h and w) run the same chunks with the bf16 GEMM (fp32 logits in scratch); their backward
// writes dlogits as bf16 into scratch for the two bf16 GEMMs that consume them.
#include <cmath>
#include <type_traits>

#include "cross-entropy-kernels.cuh"
#include "cuda-ops.cuh"

namespace hb::cuda {

using namespace cross_entropy_kernels;

namespace {

constexpr int64_t kScratchFloats = 32ll << 20;  // default chunk keeps the logits chunk under 128 MiB

int64_t chunk_columns(int64_t N, int64_t V, int64_t chunk) {
    if (chunk <= 0) {
        chunk = kScratchFloats / N;
        if (chunk < 256) chunk = 256;
    }
    return chunk < V ? chunk : V;
}

}  // namespace

namespace {

// logits (N,cw) fp32 = h (N,C) @ w_chunk (cw,C)^T and the backward's GEMMs: fp32 operands through the fp32 GEMM,
// bf16 ones through the bf16 GEMM (fp32 accumulation).
void gemm_of(hb_context* ctx, float* out, const float* a, const float* b, int64_t M, int64_t N, int64_t K,
             int32_t trans_a, int32_t trans_b, float beta) {
    matmul(ctx, out, a, b, M, N, K, trans_a, trans_b, 1.0f, beta);
}
void gemm_of(hb_context* ctx, float* out, const uint16_t* a, const uint16_t* b, int64_t M, int64_t N, int64_t K,
             int32_t trans_a, int32_t trans_b, float beta) {
    matmul_bf16(ctx, out, a, b, M, N, K, trans_a, trans_b, 1.0f, beta);
}

// T: float, or uint16_t for bf16 h and w.
template <typename T>
void forward_chunks(hb_context* ctx, const char* fn, float* losses, float* lse, const T* h, const T* w,
                    const int32_t* targets, int64_t N, int64_t V, int64_t C, int64_t chunk) {
    set_device(ctx);
    if (N > INT32_MAX) throw_error(HB_ERR_UNSUPPORTED, "%s: cuda backend takes N < 2^31 rows", fn);
    const int64_t cw_max = chunk_columns(N, V, chunk);
    float* logits = static_cast<float*>(scratch(ctx, (size_t)(N * cw_max + N) * sizeof(float)));
    float* run_sum = logits + N * cw_max;
    cudaStream_t s = stream(ctx);
    // A target outside [0,V) never matches a chunk: make its loss finite (lse - 0) rather than garbage.
    HB_CUDA_CHECK(cudaMemsetAsync(losses, 0, (size_t)N * sizeof(float), s));
    for (int64_t v0 = 0; v0 < V; v0 += cw_max) {
        const int64_t cw = V - v0 < cw_max ? V - v0 : cw_max;
        gemm_of(ctx, logits, h, w + v0 * C, N, cw, C, 0, 1, 0.0f);
        ce_chunk_kernel<<<(unsigned)N, kThreads, 0, s>>>(lse, run_sum, losses, logits, targets, cw, v0, v0 == 0);
        HB_CUDA_LAUNCH_CHECK();
    }
    ce_finish_kernel<<<grid_stride_blocks(N, kThreads), kThreads, 0, s>>>(losses, lse, run_sum, targets, N);
    HB_CUDA_LAUNCH_CHECK();
}

// The dlogits have the operand type T of the GEMMs that consume them: fp32 ones overwrite the logits in place;
// bf16 ones (rounded once) go to a second scratch area after the logits.
template <typename T>
void backward_chunks(hb_context* ctx, float* dh, float* dw, const T* h, const T* w, const int32_t* targets,
                     const float* lse, float loss_scale, int64_t N, int64_t V, int64_t C, int64_t chunk) {
    set_device(ctx);
    const int64_t cw_max = chunk_columns(N, V, chunk);
    constexpr bool in_place = std::is_same<T, float>::value;
    const size_t logit_bytes = ((size_t)(N * cw_max) * sizeof(float) + 255) / 256 * 256;
    char* base = static_cast<char*>(scratch(ctx, logit_bytes + (in_place ? 0 : (size_t)(N * cw_max) * sizeof(T))));
    float* logits = reinterpret_cast<float*>(base);
    T* dlogits = in_place ? reinterpret_cast<T*>(logits) : reinterpret_cast<T*>(base + logit_bytes);
    cudaStream_t s = stream(ctx);
    for (int64_t v0 = 0; v0 < V; v0 += cw_max) {
        const int64_t cw = V - v0 < cw_max ? V - v0 : cw_max;
        gemm_of(ctx, logits, h, w + v0 * C, N, cw, C, 0, 1, 0.0f);
        ce_dlogits_kernel<T><<<grid_stride_blocks(N * cw, kThreads), kThreads, 0, s>>>(dlogits, logits, targets, lse,
                                                                                       loss_scale, N, cw, v0);
        HB_CUDA_LAUNCH_CHECK();
        // dh (N,C) = dlogits (N,cw) @ w_chunk (cw,C); the first chunk overwrites (beta = 0: dh is not read).
        gemm_of(ctx, dh, dlogits, w + v0 * C, N, C, cw, 0, 0, v0 == 0 ? 0.0f : 1.0f);
        // dw_chunk (cw,C) += dlogits^T (cw,N) @ h (N,C)
        if (dw != nullptr) gemm_of(ctx, dw + v0 * C, dlogits, h, cw, C, N, 1, 0, 1.0f);
    }
}

}  // namespace

void cross_entropy_forward(hb_context* ctx, float* losses, float* lse, const float* h, const float* w,
                           const int32_t* targets, int64_t N, int64_t V, int64_t C, int64_t chunk) {
    forward_chunks(ctx, "hb_cross_entropy_forward", losses, lse, h, w, targets, N, V, C, chunk);
}

void cross_entropy_forward_bf16(hb_context* ctx, float* losses, float* lse, const uint16_t* h, const uint16_t* w,
                                const int32_t* targets, int64_t N, int64_t V, int64_t C, int64_t chunk) {
    forward_chunks(ctx, "hb_cross_entropy_forward_bf16", losses, lse, h, w, targets, N, V, C, chunk);
}

void cross_entropy_backward(hb_context* ctx, float* dh, float* dw, const float* h, const float* w,
                            const int32_t* targets, const float* lse, float loss_scale, int64_t N, int64_t V,
                            int64_t C, int64_t chunk) {
    backward_chunks(ctx, dh, dw, h, w, targets, lse, loss_scale, N, V, C, chunk);
}

void cross_entropy_backward_bf16(hb_context* ctx, float* dh, float* dw, const uint16_t* h, const uint16_t* w,
                                 const int32_t* targets, const float* lse, float loss_scale, int64_t N, int64_t V,
                                 int64_t C, int64_t chunk) {
    backward_chunks(ctx, dh, dw, h, w, targets, lse, loss_scale, N, V, C, chunk);
}

}  // namespace hb::cuda
