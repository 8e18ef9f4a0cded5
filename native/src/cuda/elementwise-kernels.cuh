// elementwise-kernels.cuh — the device code of elementwise.cu. CUDA built-ins and cuda-device.cuh only, so that
// tests/native/test-cuda-emulated.cpp can run it on CPU threads (tests/native/cuda-emulator.hpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda-device.cuh"

namespace hb::cuda::elementwise_kernels {

constexpr int kThreads = 256;

// y (n) += alpha * x (n)
__global__ void axpy_kernel(float* y, const float* x, float alpha, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] += alpha * x[i];
}

// out (n) = a (n) + b (n); out may alias a or b (each element is read before it is written, by one thread).
__global__ void add_kernel(float* out, const float* a, const float* b, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = a[i] + b[i];
}

// x (n) *= alpha
__global__ void scale_kernel(float* x, float alpha, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        x[i] *= alpha;
}

}  // namespace hb::cuda::elementwise_kernels
