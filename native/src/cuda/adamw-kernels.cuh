// adamw-kernels.cuh — the device code of adamw.cu. CUDA built-ins and cuda-device.cuh only, so that
// tests/native/test-cuda-emulated.cpp can run it on CPU threads (tests/native/cuda-emulator.hpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda-device.cuh"

namespace hb::cuda::adamw_kernels {

constexpr int kThreads = 256;

// Tensors per launch of the multi-tensor kernels. Their batch structs travel by value as kernel parameters, which
// must stay under 4 KB (CUDA 11.8): 64 * 44 + 36 bytes for AdamW, 128 * 16 + 8 for sum_squares.
constexpr int kAdamWBatch = 64;
constexpr int kSumSquaresBatch = 128;

struct AdamWBatch {
    float* param[kAdamWBatch];
    const float* grad[kAdamWBatch];
    float* m[kAdamWBatch];
    float* v[kAdamWBatch];
    int64_t n[kAdamWBatch];
    float weight_decay[kAdamWBatch];
};
static_assert(sizeof(AdamWBatch) + 64 <= 4096, "AdamW batch over the 4 KB kernel-parameter limit");

struct SumSquaresBatch {
    const float* x[kSumSquaresBatch];
    int64_t n[kSumSquaresBatch];
};
static_assert(sizeof(SumSquaresBatch) + 64 <= 4096, "sum_squares batch over the 4 KB kernel-parameter limit");

// This thread's grid-stride partial sum of x (n)^2 along the grid's x dimension.
__device__ __forceinline__ float sum_squares_partial(const float* x, int64_t n) {
    float acc = 0.0f;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        acc += x[i] * x[i];
    return acc;
}

// sumsq (1) += sum(x (n)^2): grid-stride partial sums, one block reduction, one atomicAdd per block.
__global__ void sum_squares_kernel(float* sumsq, const float* x, int64_t n) {
    HB_STATIC_SHARED(float, shared, 32);
    float acc = sum_squares_partial(x, n);
    acc = block_sum(acc, shared);
    if (threadIdx.x == 0) atomicAdd(sumsq, acc);
}

// sum_squares_kernel on the tensors of a batch: blockIdx.y is the tensor, blockIdx.x its grid-stride chunk (the
// grid's x covers the batch's largest tensor). A block past the end of its tensor leaves at once (the whole block:
// no barrier is skipped), so every tensor is summed in the same blocks and order as by sum_squares_kernel alone.
__global__ void sum_squares_multi_kernel(float* sumsq, SumSquaresBatch batch) {
    HB_STATIC_SHARED(float, shared, 32);
    const int64_t n = batch.n[blockIdx.y];
    if (blockIdx.x * (int64_t)blockDim.x >= n) return;
    float acc = sum_squares_partial(batch.x[blockIdx.y], n);
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

// One AdamW step on this thread's grid-stride share (grid x) of n elements — the code of both AdamW kernels.
// bc1 = 1 - beta1^step, bc2 = 1 - beta2^step (bias corrections, from the host).
// g = grad * *grad_scale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// param -= lr * (m/bc1 / (sqrt(v/bc2) + eps) + weight_decay * param).
__device__ __forceinline__ void adamw_elements(float* param, const float* grad, float* m, float* v,
                                               const float* grad_scale, int64_t n, float lr, float beta1, float beta2,
                                               float eps, float weight_decay, float bc1, float bc2) {
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

__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, const float* grad_scale, int64_t n,
                             float lr, float beta1, float beta2, float eps, float weight_decay, float bc1, float bc2) {
    adamw_elements(param, grad, m, v, grad_scale, n, lr, beta1, beta2, eps, weight_decay, bc1, bc2);
}

// adamw_kernel on the tensors of a batch, each with its own weight decay: blockIdx.y is the tensor, blockIdx.x its
// grid-stride chunk (the grid's x covers the batch's largest tensor; blocks past a smaller tensor's end do nothing).
__global__ void adamw_multi_kernel(AdamWBatch batch, const float* grad_scale, float lr, float beta1, float beta2,
                                   float eps, float bc1, float bc2) {
    const int t = (int)blockIdx.y;
    adamw_elements(batch.param[t], batch.grad[t], batch.m[t], batch.v[t], grad_scale, batch.n[t], lr, beta1, beta2,
                   eps, batch.weight_decay[t], bc1, bc2);
}

}  // namespace hb::cuda::adamw_kernels
