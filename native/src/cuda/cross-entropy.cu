// cross-entropy.cu — fused LM head + cross-entropy over vocabulary chunks (the (N,V) logits never exist
// whole). Per chunk [v0, v0+cw): logits (N,cw) = h (N,C) @ w[v0:v0+cw] (cw,C)^T by cuBLAS into scratch, then
//  forward:  one block per row folds the chunk into a running (max, sum of exp) — online logsumexp
//            (Milakov & Gimelshein 2018) — and picks up the target's logit when it falls in the chunk;
//  backward: dlogits = loss_scale * (softmax - onehot(target)) formed in place, then
//            dh (N,C) (=, then +=) dlogits @ w_chunk and dw_chunk (cw,C) += dlogits^T @ h.
#include <cmath>

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

void cross_entropy_forward(hb_context* ctx, float* losses, float* lse, const float* h, const float* w,
                           const int32_t* targets, int64_t N, int64_t V, int64_t C, int64_t chunk) {
    set_device(ctx);
    if (N > INT32_MAX) throw_error(HB_ERR_UNSUPPORTED, "hb_cross_entropy_forward: cuda backend takes N < 2^31 rows");
    const int64_t cw_max = chunk_columns(N, V, chunk);
    float* logits = static_cast<float*>(scratch(ctx, (size_t)(N * cw_max + N) * sizeof(float)));
    float* run_sum = logits + N * cw_max;
    cudaStream_t s = stream(ctx);
    // A target outside [0,V) never matches a chunk: make its loss finite (lse - 0) rather than garbage.
    HB_CUDA_CHECK(cudaMemsetAsync(losses, 0, (size_t)N * sizeof(float), s));
    for (int64_t v0 = 0; v0 < V; v0 += cw_max) {
        const int64_t cw = V - v0 < cw_max ? V - v0 : cw_max;
        matmul(ctx, logits, h, w + v0 * C, N, cw, C, 0, 1, 1.0f, 0.0f);
        ce_chunk_kernel<<<(unsigned)N, kThreads, 0, s>>>(lse, run_sum, losses, logits, targets, cw, v0, v0 == 0);
        HB_CUDA_LAUNCH_CHECK();
    }
    ce_finish_kernel<<<grid_stride_blocks(N, kThreads), kThreads, 0, s>>>(losses, lse, run_sum, targets, N);
    HB_CUDA_LAUNCH_CHECK();
}

void cross_entropy_backward(hb_context* ctx, float* dh, float* dw, const float* h, const float* w,
                            const int32_t* targets, const float* lse, float loss_scale, int64_t N, int64_t V,
                            int64_t C, int64_t chunk) {
    set_device(ctx);
    const int64_t cw_max = chunk_columns(N, V, chunk);
    float* logits = static_cast<float*>(scratch(ctx, (size_t)(N * cw_max) * sizeof(float)));
    cudaStream_t s = stream(ctx);
    for (int64_t v0 = 0; v0 < V; v0 += cw_max) {
        const int64_t cw = V - v0 < cw_max ? V - v0 : cw_max;
        matmul(ctx, logits, h, w + v0 * C, N, cw, C, 0, 1, 1.0f, 0.0f);
        ce_dlogits_kernel<<<grid_stride_blocks(N * cw, kThreads), kThreads, 0, s>>>(logits, targets, lse, loss_scale,
                                                                                   N, cw, v0);
        HB_CUDA_LAUNCH_CHECK();
        // dh (N,C) = dlogits (N,cw) @ w_chunk (cw,C); the first chunk overwrites (beta = 0: dh is not read).
        matmul(ctx, dh, logits, w + v0 * C, N, C, cw, 0, 0, 1.0f, v0 == 0 ? 0.0f : 1.0f);
        // dw_chunk (cw,C) += dlogits^T (cw,N) @ h (N,C)
        if (dw != nullptr) matmul(ctx, dw + v0 * C, logits, h, cw, C, N, 1, 0, 1.0f, 1.0f);
    }
}

}  // namespace hb::cuda
