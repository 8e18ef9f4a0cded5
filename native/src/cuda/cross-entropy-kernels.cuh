// cross-entropy-kernels.cuh — the device code of cross-entropy.cu. CUDA built-ins and cuda-device.cuh only, so that
// tests/native/test-cuda-emulated.cpp can run it on CPU threads (tests/native/cuda-emulator.hpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "bf16.hpp"
#include "cuda-device.cuh"

namespace hb::cuda::cross_entropy_kernels {

constexpr int kThreads = 256;  // row kernel block: a power of two (tree reduction)

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
    HB_STATIC_SHARED(float, sm, kThreads);
    HB_STATIC_SHARED(float, ss, kThreads);
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

// logits (N,cw) -> dlogits (N,cw) = loss_scale * (exp(logit - lse[n]) - [v0 + j == target]); 0 for ignored rows.
// Out is float (dlogits may then be logits: each element is read, then written, by one thread), or uint16_t: the
// bf16 dlogits that the bf16 GEMMs of the bf16 backward consume.
template <typename Out>
__global__ void ce_dlogits_kernel(Out* dlogits, const float* logits, const int32_t* targets, const float* lse,
                                  float loss_scale, int64_t N, int64_t cw, int64_t v0) {
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
        store_f32(dlogits[i], d);
    }
}

}  // namespace hb::cuda::cross_entropy_kernels
