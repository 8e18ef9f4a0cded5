// elementwise.cpp — axpy, add, scale: memory-bound loops, vectorised and split over threads when large.
#include "cpu-common.hpp"
#include "cpu-kernels.hpp"

namespace hb::cpu {

void axpy(hb_context* ctx, float* y, const float* x, float alpha, int64_t n) {
    // y (n) += alpha * x (n)
#pragma omp parallel for simd num_threads(threads(ctx)) if (n >= kParallelMin) schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

void add(hb_context* ctx, float* out, const float* a, const float* b, int64_t n) {
    // out (n) = a (n) + b (n); out may alias a or b (each element is read before it is written).
#pragma omp parallel for simd num_threads(threads(ctx)) if (n >= kParallelMin) schedule(static)
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void scale(hb_context* ctx, float* x, float alpha, int64_t n) {
    // x (n) *= alpha
#pragma omp parallel for simd num_threads(threads(ctx)) if (n >= kParallelMin) schedule(static)
    for (int64_t i = 0; i < n; i++) x[i] *= alpha;
}

}  // namespace hb::cpu
