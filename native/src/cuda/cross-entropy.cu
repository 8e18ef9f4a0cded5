// cross-entropy.cu — fused LM head + cross-entropy over vocabulary chunks (the (N,V) logits never exist
// whole). Per chunk [v0, v0+cw): logits (N,cw) = h (N,C) @ w[v0:v0+cw] (cw,C)^T by cuBLAS into scratch, then
//  forward:  one block per row folds the chunk into a running (max, sum of exp) — online logsumexp
//            (Milakov & Gimelshein 2018) — and picks up the target's logit when it falls in the chunk;
//  backward: dlogits = loss_scale * (softmax - onehot(target)) formed in place, then
//            dh (N,C) (=, then +=) dlogits @ w_chunk and dw_chunk (cw,C) += dlogits^T @ h.
#include <cmath>

#include "cuda-ops.cuh"

namespace hb::cuda {

namespace {

constexpr int kThreads = 256;          // row kernel block; a multiple of 32
constexpr int64_t kScratchFloats = 32ll << 20;  // default chunk keeps the logits chunk under 128 MiB

int64_t chunk_columns(int64_t N, int64_t V, int64_t chunk) {
    if (chunk <= 0) {
        chunk = kScratchFloats / N;
        if (chunk < 256) chunk = 256;
    }
    return chunk < V ? chunk : V;
}

// Running logsumexp state of a row: (m, s) stands for s * exp(m). Combining keeps the larger max.
__device__ __forceinline__ void lse_combine(float& m, float& s, float m2, float s2) {
    if (m2 == -INFINITY) return;
    if (m == -INFINITY) {
        m = m2;
        s = s2;
        return;
    }
    if (m2 > m) {
        s = s * expf(m - m2) + s2;
        m = m2;
    } else {
        s = s + s2 * expf(m2 - m);
    }
}

// logits (N,cw) of the chunk starting at column v0. Block n: row n. run_max/run_sum (N) carry the state
// across chunks (initialised by the first chunk); tlogit (N) receives logit[target] when it is in the chunk.
__global__ void ce_chunk_kernel(float* run_max, float* run_sum, float* tlogit, const float* logits,
                                const int32_t* targets, int64_t cw, int64_t v0, int first) {
    __shared__ float sm[kThreads], ss[kThreads];
    const int64_t n = blockIdx.x;
    const float* row = logits + n * cw;
    float m = -INFINITY, s = 0.0f;
    for (int64_t j = threadIdx.x; j < cw; j += blockDim.x) lse_combine(m, s, row[j], 1.0f);
    sm[threadIdx.x] = m;
    ss[threadIdx.x] = s;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
        if ((int)threadIdx.x < stride) {
            float a = sm[threadIdx.x], b = ss[threadIdx.x];
            lse_combine(a, b, sm[threadIdx.x + stride], ss[threadIdx.x + stride]);
            sm[threadIdx.x] = a;
            ss[threadIdx.x] = b;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        float M = sm[0], S = ss[0];
        if (!first) lse_combine(M, S, run_max[n], run_sum[n]);
        run_max[n] = M;
        run_sum[n] = S;
        int64_t t = targets[n];
        if (t >= v0 && t < v0 + cw) tlogit[n] = row[t - v0];
    }
}

// lse (N) = max + log(sum); losses (N) = lse - logit[target], 0 for ignored rows (target < 0).
// lse arrives holding the running max, losses the target logit.
__global__ void ce_finish_kernel(float* losses, float* lse, const float* run_sum, const int32_t* targets, int64_t N) {
    for (int64_t n = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; n < N; n += (int64_t)gridDim.x * blockDim.x) {
        float l = lse[n] + logf(run_sum[n]);
        lse[n] = l;
        losses[n] = targets[n] < 0 ? 0.0f : l - losses[n];
    }
}

// logits (N,cw) -> dlogits in place: loss_scale * (exp(logit - lse[n]) - [v0 + j == target]); 0 for ignored rows.
__global__ void ce_dlogits_kernel(float* logits, const int32_t* targets, const float* lse, float loss_scale,
                                  int64_t N, int64_t cw, int64_t v0) {
    const int64_t total = N * cw;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t n = i / cw, j = i % cw;
        int64_t t = targets[n];
        float d = 0.0f;
        if (t >= 0) {
            d = expf(logits[i] - lse[n]);
            if (v0 + j == t) d -= 1.0f;
            d *= loss_scale;
        }
        logits[i] = d;
    }
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
