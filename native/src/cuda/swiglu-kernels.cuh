// swiglu-kernels.cuh — the device code of swiglu.cu. CUDA built-ins and cuda-device.cuh only, so that
// tests/native/test-cuda-emulated.cpp can run it on CPU threads (tests/native/cuda-emulator.hpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "bf16.hpp"
#include "cuda-device.cuh"

namespace hb::cuda::swiglu_kernels {

constexpr int kThreads = 256;

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// out (n) = silu(gate (n)) * up (n); Out is float, or uint16_t for a bf16 output (rounded once).
template <typename Out>
__global__ void swiglu_forward_kernel(Out* out, const float* gate, const float* up, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float g = gate[i];
        store_f32(out[i], g * sigmoid(g) * up[i]);
    }
}

// dgate, dup (n) overwritten. d silu(g)/dg = s * (1 + g * (1 - s)) with s = sigmoid(g).
__global__ void swiglu_backward_kernel(float* dgate, float* dup, const float* dout, const float* gate,
                                       const float* up, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float g = gate[i], u = up[i], d = dout[i];
        float s = sigmoid(g);
        dgate[i] = d * u * s * (1.0f + g * (1.0f - s));
        dup[i] = d * g * s;
    }
}

}  // namespace hb::cuda::swiglu_kernels
