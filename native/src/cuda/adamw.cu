// adamw.cu — AdamW (Loshchilov & Hutter 2019) and the global-norm clipping helpers. The clip scale stays in
// device memory from hb_sum_squares through hb_clip_scale to hb_adamw_update: a step never waits for the host.
#include <cmath>

#include "adamw-kernels.cuh"
#include "cuda-ops.cuh"

namespace hb::cuda {

using namespace adamw_kernels;

void sum_squares(hb_context* ctx, float* sumsq, const float* x, int64_t n) {
    set_device(ctx);
    sum_squares_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream(ctx)>>>(sumsq, x, n);
    HB_CUDA_LAUNCH_CHECK();
}

void clip_scale(hb_context* ctx, float* scale, const float* sumsq, float max_norm) {
    set_device(ctx);
    clip_scale_kernel<<<1, 32, 0, stream(ctx)>>>(scale, sumsq, max_norm);
    HB_CUDA_LAUNCH_CHECK();
}

void adamw_update(hb_context* ctx, float* param, const float* grad, float* m, float* v, const float* grad_scale,
                  int64_t n, const hb_adamw_config* config) {
    set_device(ctx);
    const float bc1 = (float)(1.0 - std::pow((double)config->beta1, (double)config->step));
    const float bc2 = (float)(1.0 - std::pow((double)config->beta2, (double)config->step));
    adamw_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream(ctx)>>>(
        param, grad, m, v, grad_scale, n, config->lr, config->beta1, config->beta2, config->eps,
        config->weight_decay, bc1, bc2);
    HB_CUDA_LAUNCH_CHECK();
}

}  // namespace hb::cuda
