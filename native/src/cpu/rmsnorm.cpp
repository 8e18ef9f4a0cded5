// rmsnorm.cpp — RMSNorm (Zhang & Sennrich 2019), as in Llama: out = inp * rsqrt(mean(inp^2) + eps) * weight.
#include <algorithm>
#include <cmath>
#include <vector>

#include "bf16.hpp"
#include "cpu-common.hpp"
#include "cpu-kernels.hpp"

namespace hb::cpu {

namespace {

// inp (N,C), weight (C) -> out (N,C) fp32 or bf16 (rounded once); rstd (N) fp32.
template <typename Out>
void rmsnorm_rows(hb_context* ctx, Out* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C,
                  float eps) {
#pragma omp parallel for num_threads(threads(ctx)) if (N * C >= kParallelMin) schedule(static)
    for (int64_t i = 0; i < N; i++) {
        const float* x = inp + i * C;
        Out* o = out + i * C;
        const float s = 1.0f / std::sqrt(dot_of(x, x, C) / (float)C + eps);
#pragma omp simd
        for (int64_t c = 0; c < C; c++) store_f32(o[c], x[c] * s * weight[c]);
        rstd[i] = s;
    }
}

}  // namespace

void rmsnorm_forward(hb_context* ctx, float* out, float* rstd, const float* inp, const float* weight, int64_t N,
                     int64_t C, float eps) {
    // inp (N,C), weight (C) -> out (N,C); rstd (N) = 1/sqrt(mean(inp^2) + eps), saved for the backward.
    rmsnorm_rows(ctx, out, rstd, inp, weight, N, C, eps);
}

void rmsnorm_forward_bf16(hb_context* ctx, uint16_t* out, float* rstd, const float* inp, const float* weight, int64_t N,
                          int64_t C, float eps) {
    // The same with out = bf16(inp * rstd * weight).
    rmsnorm_rows(ctx, out, rstd, inp, weight, N, C, eps);
}

void rmsnorm_backward(hb_context* ctx, float* dinp, float* dweight, const float* dout, const float* inp,
                      const float* weight, const float* rstd, int64_t N, int64_t C) {
    // dout, inp (N,C), weight (C), rstd (N) -> dinp (N,C) +=, dweight (C) += (skipped when NULL).
    // dinp ACCUMULATES (documented exception: it feeds the residual stream). With xhat = inp * rstd:
    //   dinp += rstd * (dout*weight - xhat * mean(dout*weight*xhat)),   dweight += sum_rows dout * xhat.
    // dweight sums over rows, so each thread sums its rows into its own partial, added up at the end.
    const int nt = N * C >= kParallelMin ? threads(ctx) : 1;
    const int64_t stride = padded(C);
    float* partial = dweight ? scratch_floats((size_t)(nt * stride)) : nullptr;
    if (partial) std::fill_n(partial, nt * stride, 0.0f);  // all of it: OpenMP may start fewer threads
#pragma omp parallel num_threads(nt)
    {
        float* dw = partial ? partial + thread_id() * stride : nullptr;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < N; i++) {
            const float* x = inp + i * C;
            const float* g = dout + i * C;
            float* dx = dinp + i * C;
            const float s = rstd[i];
            const float dot = dot3_of(g, weight, x, C);  // sum of dout * weight * inp
            const float k = dot * s * s / (float)C;  // xhat * mean(dout*weight*xhat) == inp * k
#pragma omp simd
            for (int64_t c = 0; c < C; c++) dx[c] += s * (g[c] * weight[c] - x[c] * k);
            if (dw) {
#pragma omp simd
                for (int64_t c = 0; c < C; c++) dw[c] += g[c] * x[c] * s;
            }
        }
    }
    if (dweight)
        for (int t = 0; t < nt; t++)
            for (int64_t c = 0; c < C; c++) dweight[c] += partial[t * stride + c];
}

}  // namespace hb::cpu
