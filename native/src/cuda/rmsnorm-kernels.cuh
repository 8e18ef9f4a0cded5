// rmsnorm-kernels.cuh — the device code of rmsnorm.cu. CUDA built-ins and cuda-device.cuh only, so that
// tests/native/test-cuda-emulated.cpp can run it on CPU threads (tests/native/cuda-emulator.hpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "bf16.hpp"
#include "cuda-device.cuh"

namespace hb::cuda::rmsnorm_kernels {

constexpr int kThreads = 256;  // one block per row; a multiple of 32 (block_sum)

// out (N,C), rstd (N) = f(inp (N,C), weight (C)); block n handles row n. Out is float, or uint16_t for a bf16
// output (rounded once; rstd stays fp32).
template <typename Out>
__global__ void rmsnorm_forward_kernel(Out* out, float* rstd, const float* inp, const float* weight, int64_t C,
                                       float eps) {
    HB_STATIC_SHARED(float, shared, 32);
    const int64_t n = blockIdx.x;
    const float* x = inp + n * C;
    float ss = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) ss += x[c] * x[c];
    ss = block_sum(ss, shared);
    const float r = rsqrtf(ss / (float)C + eps);
    Out* o = out + n * C;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) store_f32(o[c], x[c] * r * weight[c]);
    if (threadIdx.x == 0) rstd[n] = r;
}

// dinp (N,C) += dout * d out/d inp. With g = dout * weight and r = rstd[n]:
//   dinp_i += r * g_i - r^3 / C * inp_i * sum_j g_j inp_j.
__global__ void rmsnorm_backward_dinp_kernel(float* dinp, const float* dout, const float* inp, const float* weight,
                                             const float* rstd, int64_t C) {
    HB_STATIC_SHARED(float, shared, 32);
    const int64_t n = blockIdx.x;
    const float* x = inp + n * C;
    const float* d = dout + n * C;
    float dot = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dot += d[c] * weight[c] * x[c];
    dot = block_sum(dot, shared);
    const float r = rstd[n];
    const float k = r * r * r * dot / (float)C;
    float* dx = dinp + n * C;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dx[c] += r * d[c] * weight[c] - k * x[c];
}

// dweight (C) += sum_n dout[n,c] * inp[n,c] * rstd[n]. Block (32 x 8) covers 32 columns and kRowsPerBlock rows:
// columns are coalesced across a warp, the 8 row lanes are summed in shared memory, then one atomicAdd per
// column and block.
constexpr int kRowsPerBlock = 256;
__global__ void rmsnorm_backward_dweight_kernel(float* dweight, const float* dout, const float* inp,
                                                const float* rstd, int64_t N, int64_t C) {
    HB_STATIC_SHARED(float, partial, 8 * 33);  // (8, 33): padded rows
    const int64_t c = blockIdx.x * 32 + threadIdx.x;
    const int64_t n0 = (int64_t)blockIdx.y * kRowsPerBlock;
    const int64_t n1 = n0 + kRowsPerBlock < N ? n0 + kRowsPerBlock : N;
    float acc = 0.0f;
    if (c < C)
        for (int64_t n = n0 + threadIdx.y; n < n1; n += blockDim.y) acc += dout[n * C + c] * inp[n * C + c] * rstd[n];
    partial[threadIdx.y * 33 + threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float s = 0.0f;
        for (int j = 0; j < 8; j++) s += partial[j * 33 + threadIdx.x];
        atomicAdd(&dweight[c], s);
    }
}

}  // namespace hb::cuda::rmsnorm_kernels
