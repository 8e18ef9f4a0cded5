// adamw.cpp — AdamW (Loshchilov & Hutter 2019) and the global-norm clipping it is used with.
#include <cmath>

#include "cpu-common.hpp"
#include "cpu-kernels.hpp"

namespace hb::cpu {

void sum_squares(hb_context* ctx, float* sumsq, const float* x, int64_t n) {
    // sumsq (1) += sum(x (n)^2). Summed in double: the total over ~10^8 gradients must not lose the small ones.
    double total = 0.0;
#pragma omp parallel for simd num_threads(threads(ctx)) if (n >= kParallelMin) schedule(static) reduction(+ : total)
    for (int64_t i = 0; i < n; i++) total += (double)x[i] * (double)x[i];
    *sumsq = (float)((double)*sumsq + total);
}

void clip_scale(hb_context* ctx, float* scale, const float* sumsq, float max_norm) {
    // scale (1) = min(1, max_norm / (sqrt(sumsq) + 1e-6)); max_norm <= 0: no clipping.
    if (!(max_norm > 0.0f)) {
        *scale = 1.0f;
        return;
    }
    const double s = (double)max_norm / (std::sqrt((double)*sumsq) + 1e-6);
    *scale = (float)(s < 1.0 ? s : 1.0);
}

namespace {

// hb_adamw_update on one tensor with the weight decay given (the single- and multi-tensor ops share it).
void adamw_tensor(hb_context* ctx, float* param, const float* grad, float* m, float* v, const float* grad_scale,
                  int64_t n, const hb_adamw_config* config, float wd) {
    // param, grad, m, v (n); m and v updated in place. grad is multiplied by *grad_scale (NULL = 1).
    //   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  mhat = m / (1-b1^t);  vhat = v / (1-b2^t)
    //   param -= lr * (mhat / (sqrt(vhat) + eps) + wd * param)          (decoupled weight decay)
    const float gs = grad_scale ? *grad_scale : 1.0f;
    const float b1 = config->beta1, b2 = config->beta2, eps = config->eps, lr = config->lr;
    const float c1 = (float)(1.0 / (1.0 - std::pow((double)b1, (double)config->step)));
    const float c2 = (float)(1.0 / (1.0 - std::pow((double)b2, (double)config->step)));
#pragma omp parallel for simd num_threads(threads(ctx)) if (n >= kParallelMin) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float g = grad[i] * gs;
        const float mi = b1 * m[i] + (1.0f - b1) * g;
        const float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] -= lr * ((mi * c1) / (std::sqrt(vi * c2) + eps) + wd * param[i]);
    }
}

}  // namespace

void adamw_update(hb_context* ctx, float* param, const float* grad, float* m, float* v, const float* grad_scale,
                  int64_t n, const hb_adamw_config* config) {
    adamw_tensor(ctx, param, grad, m, v, grad_scale, n, config, config->weight_decay);
}

// The multi-tensor ops are loops over the single-tensor code, so they equal per-tensor calls bit for bit; on the CPU
// they only save the per-call overhead of the caller (one P/Invoke and validation per tensor).
void sum_squares_multi(hb_context* ctx, float* sumsq, const float* const* xs, const int64_t* ns, int32_t count) {
    for (int32_t i = 0; i < count; i++) sum_squares(ctx, sumsq, xs[i], ns[i]);
}

void adamw_update_multi(hb_context* ctx, const hb_adamw_tensor* tensors, int32_t count, const float* grad_scale,
                        const hb_adamw_config* config) {
    for (int32_t i = 0; i < count; i++) {
        const hb_adamw_tensor& t = tensors[i];
        adamw_tensor(ctx, t.param, t.grad, t.m, t.v, grad_scale, t.n, config, t.weight_decay);
    }
}

}  // namespace hb::cpu
