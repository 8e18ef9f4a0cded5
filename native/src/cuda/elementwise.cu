// elementwise.cu — axpy, add and scale over n floats: grid-stride loops with 64-bit indices.
#include "elementwise-kernels.cuh"
#include "cuda-ops.cuh"

namespace hb::cuda {

using namespace elementwise_kernels;

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
