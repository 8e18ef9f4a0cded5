// bf16.cu — fp32 <-> bf16 conversions on the GPU: grid-stride loops over the bit-exact conversions of
// core/bf16.hpp (the same code the CPU backend runs, so the two agree bit for bit).
#include "bf16.hpp"
#include "cuda-ops.cuh"

namespace hb::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void f32_to_bf16_kernel(uint16_t* out, const float* in, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = f32_to_bf16(in[i]);
}

__global__ void bf16_to_f32_kernel(float* out, const uint16_t* in, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = bf16_to_f32(in[i]);
}

}  // namespace

void convert_f32_to_bf16(hb_context* ctx, uint16_t* out, const float* in, int64_t n) {
    set_device(ctx);
    f32_to_bf16_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream(ctx)>>>(out, in, n);
    HB_CUDA_LAUNCH_CHECK();
}

void convert_bf16_to_f32(hb_context* ctx, float* out, const uint16_t* in, int64_t n) {
    set_device(ctx);
    bf16_to_f32_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream(ctx)>>>(out, in, n);
    HB_CUDA_LAUNCH_CHECK();
}

}  // namespace hb::cuda
