// rope-kernels.cuh — the device code of rope.cu. CUDA built-ins and cuda-device.cuh only, so that
// tests/native/test-cuda-emulated.cpp can run it on CPU threads (tests/native/cuda-emulator.hpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda-device.cuh"

namespace hb::cuda::rope_kernels {

constexpr int kThreads = 256;

// x (N,H,D) rotated in place; one thread per pair (n, h, i). direction +1 rotates by +angle (forward),
// -1 by -angle (backward: the transpose of a rotation is the rotation by the opposite angle).
__global__ void rope_kernel(float* x, const int32_t* positions, const float* inv_freq, int64_t N, int64_t H,
                            int64_t D, float direction) {
    const int64_t half = D / 2;
    const int64_t total = N * H * half;
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < total;
         p += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = p % half;
        int64_t nh = p / half;  // n * H + h
        int64_t n = nh / H;
        float angle = (float)positions[n] * inv_freq[i];
        float c = cosf(angle), s = direction * sinf(angle);
        float* row = x + nh * D;
        float x1 = row[i], x2 = row[i + half];
        row[i] = x1 * c - x2 * s;
        row[i + half] = x2 * c + x1 * s;
    }
}

}  // namespace hb::cuda::rope_kernels
