// embedding-kernels.cuh — the device code of embedding.cu. CUDA built-ins and cuda-device.cuh only, so that
// tests/native/test-cuda-emulated.cpp can run it on CPU threads (tests/native/cuda-emulator.hpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "bf16.hpp"
#include "cuda-device.cuh"

namespace hb::cuda::embedding_kernels {

constexpr int kThreads = 256;

// out (N,C) = wte (V,C)[tokens (N)]; one thread per output element. Table is float, or uint16_t for a bf16 table
// (widened exactly).
template <typename Table>
__global__ void embedding_forward_kernel(float* out, const int32_t* tokens, const Table* wte, int64_t N, int64_t V,
                                         int64_t C) {
    const int64_t total = N * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t n = i / C, c = i % C;
        int64_t tok = tokens[n];
        out[i] = (tok >= 0 && tok < V) ? load_f32(wte[tok * C + c]) : 0.0f;
    }
}

// dwte (V,C) += scatter of dout (N,C). Repeated tokens add to the same row, hence atomicAdd (the order of
// the additions, and so the last bits of the result, may vary between runs).
__global__ void embedding_backward_kernel(float* dwte, const float* dout, const int32_t* tokens, int64_t N, int64_t V,
                                          int64_t C) {
    const int64_t total = N * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t n = i / C, c = i % C;
        int64_t tok = tokens[n];
        if (tok >= 0 && tok < V) atomicAdd(&dwte[tok * C + c], dout[i]);
    }
}

}  // namespace hb::cuda::embedding_kernels
