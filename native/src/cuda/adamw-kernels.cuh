// adamw-kernels.cuh — the device code of adamw.cu. CUDA built-ins and cuda-device.cuh only, so that
// tests/native/test-cuda-emulated.cpp can run it on CPU threads (tests/native/cuda-emulator.hpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda-device.cuh"

namespace hb::cuda::adamw_kernels {

constexpr int kThreads = 256;

// sumsq (1) += sum(x (n)^2): grid-stride partial sums, one block reduction, one atomicAdd per block.
__global__ void sum_squares_kernel(float* sumsq, const float* x, int64_t n) {
    HB_STATIC_SHARED(float, shared, 32);
    float acc = 0.0f;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        acc += x[i] * x[i];
    acc = block_sum(acc, shared);
    if (threadIdx.x == 0) atomicAdd(sumsq, acc);
}

// scale (1) = min(1, max_norm / (sqrt(*sumsq) + 1e-6)); max_norm <= 0: 1.
__global__ void clip_scale_kernel(float* scale, const float* sumsq, float max_norm) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    float s = 1.0f;
    if (max_norm > 0.0f) {
        float c = max_norm / (sqrtf(*sumsq) + 1e-6f);
        s = c < 1.0f ? c : 1.0f;
    }
    *scale = s;
}

// One AdamW step on n elements. bc1 = 1 - beta1^step, bc2 = 1 - beta2^step (bias corrections, from the host).
// g = grad * *grad_scale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// param -= lr * (m/bc1 / (sqrt(v/bc2) + eps) + weight_decay * param).
__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, const float* grad_scale, int64_t n,
                             float lr, float beta1, float beta2, float eps, float weight_decay, float bc1, float bc2) {
    const float gs = grad_scale != nullptr ? *grad_scale : 1.0f;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float g = grad[i] * gs;
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float mhat = mi / bc1, vhat = vi / bc2;
        float p = param[i];
        param[i] = p - lr * (mhat / (sqrtf(vhat) + eps) + weight_decay * p);
    }
}

}  // namespace hb::cuda::adamw_kernels
