// adamw.cu — AdamW (Loshchilov & Hutter 2019) and the global-norm clipping helpers. The clip scale stays in
// device memory from hb_sum_squares through hb_clip_scale to hb_adamw_update: a step never waits for the host.
#include <cmath>

#include "adamw-kernels.cuh"
#include "cuda-ops.cuh"

namespace hb::cuda {

using namespace adamw_kernels;

namespace {
// 1 - beta^step, in double on the host.
float bias_correction(float beta, int32_t step) { return (float)(1.0 - std::pow((double)beta, (double)step)); }
}  // namespace

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
    const float bc1 = bias_correction(config->beta1, config->step), bc2 = bias_correction(config->beta2, config->step);
    adamw_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream(ctx)>>>(
        param, grad, m, v, grad_scale, n, config->lr, config->beta1, config->beta2, config->eps,
        config->weight_decay, bc1, bc2);
    HB_CUDA_LAUNCH_CHECK();
}

// The multi-tensor ops: one launch per batch of up to kSumSquaresBatch / kAdamWBatch tensors, the batch passed by
// value as the kernel parameter (grid y: tensor, grid x: chunks of the batch's largest tensor). No allocation,
// no host synchronisation; the host arrays are read here, before the call returns.
void sum_squares_multi(hb_context* ctx, float* sumsq, const float* const* xs, const int64_t* ns, int32_t count) {
    set_device(ctx);
    for (int32_t first = 0; first < count; first += kSumSquaresBatch) {
        const int k = count - first < kSumSquaresBatch ? count - first : kSumSquaresBatch;
        SumSquaresBatch batch{};
        int64_t largest = 0;
        for (int j = 0; j < k; j++) {
            batch.x[j] = xs[first + j];
            batch.n[j] = ns[first + j];
            largest = batch.n[j] > largest ? batch.n[j] : largest;
        }
        const dim3 grid((unsigned)grid_stride_blocks(largest, kThreads), (unsigned)k);
        sum_squares_multi_kernel<<<grid, kThreads, 0, stream(ctx)>>>(sumsq, batch);
        HB_CUDA_LAUNCH_CHECK();
    }
}

void adamw_update_multi(hb_context* ctx, const hb_adamw_tensor* tensors, int32_t count, const float* grad_scale,
                        const hb_adamw_config* config) {
    set_device(ctx);
    const float bc1 = bias_correction(config->beta1, config->step), bc2 = bias_correction(config->beta2, config->step);
    for (int32_t first = 0; first < count; first += kAdamWBatch) {
        const int k = count - first < kAdamWBatch ? count - first : kAdamWBatch;
        AdamWBatch batch{};
        int64_t largest = 0;
        for (int j = 0; j < k; j++) {
            const hb_adamw_tensor& t = tensors[first + j];
            batch.param[j] = t.param;
            batch.grad[j] = t.grad;
            batch.m[j] = t.m;
            batch.v[j] = t.v;
            batch.n[j] = t.n;
            batch.weight_decay[j] = t.weight_decay;
            largest = t.n > largest ? t.n : largest;
        }
        const dim3 grid((unsigned)grid_stride_blocks(largest, kThreads), (unsigned)k);
        adamw_multi_kernel<<<grid, kThreads, 0, stream(ctx)>>>(batch, grad_scale, config->lr, config->beta1,
                                                               config->beta2, config->eps, bc1, bc2);
        HB_CUDA_LAUNCH_CHECK();
    }
}

}  // namespace hb::cuda
