// elementwise.cu — axpy, add and scale over n floats: grid-stride loops with 64-bit indices.
#include "cuda-ops.cuh"

namespace hb::cuda {

namespace {

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

}  // namespace

void axpy(hb_context* ctx, float* y, const float* x, float alpha, int64_t n) {
    set_device(ctx);
    axpy_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream(ctx)>>>(y, x, alpha, n);
    HB_CUDA_LAUNCH_CHECK();
}

void add(hb_context* ctx, float* out, const float* a, const float* b, int64_t n) {
    set_device(ctx);
    add_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream(ctx)>>>(out, a, b, n);
    HB_CUDA_LAUNCH_CHECK();
}

void scale(hb_context* ctx, float* x, float alpha, int64_t n) {
    set_device(ctx);
    scale_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream(ctx)>>>(x, alpha, n);
    HB_CUDA_LAUNCH_CHECK();
}

}  // namespace hb::cuda
