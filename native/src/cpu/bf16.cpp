// bf16.cpp — bf16 storage on the CPU: the conversions, and the bf16 GEMM as the specification every other backend
// is checked against: both operands widened to fp32 (exact) and multiplied by the fp32 GEMM, which is what a bf16
// GEMM with fp32 accumulation computes. It trades memory (a transient fp32 copy) for being plainly right.
#include <climits>
#include <vector>

#include "bf16.hpp"
#include "cpu-common.hpp"
#include "cpu-kernels.hpp"
#include "error.hpp"

namespace hb::cpu {

void convert_f32_to_bf16(hb_context* ctx, uint16_t* out, const float* in, int64_t n) {
    // out (n) = bf16(in (n))
#pragma omp parallel for num_threads(threads(ctx)) if (n >= kParallelMin) schedule(static)
    for (int64_t i = 0; i < n; i++) out[i] = f32_to_bf16(in[i]);
}

void convert_bf16_to_f32(hb_context* ctx, float* out, const uint16_t* in, int64_t n) {
    // out (n) = float(in (n))
#pragma omp parallel for num_threads(threads(ctx)) if (n >= kParallelMin) schedule(static)
    for (int64_t i = 0; i < n; i++) out[i] = bf16_to_f32(in[i]);
}

void matmul_bf16(hb_context* ctx, float* out, const uint16_t* a, const uint16_t* b, int64_t M, int64_t N, int64_t K,
                 int32_t trans_a, int32_t trans_b, float alpha, float beta) {
    // out (M,N) = alpha * op(a) @ op(b) + beta * out, a and b bf16 (shapes as in hb_matmul).
    for (int64_t v : {M, N, K})  // before allocating the fp32 copies, as sgemm would refuse them anyway
        if (v > INT_MAX)
            throw_error(HB_ERR_UNSUPPORTED, "hb_matmul_bf16: dimension %lld exceeds the 32-bit BLAS interface",
                        (long long)v);
    std::vector<float> wa((size_t)(M * K)), wb((size_t)(K * N));
    convert_bf16_to_f32(ctx, wa.data(), a, M * K);
    convert_bf16_to_f32(ctx, wb.data(), b, K * N);
    matmul(ctx, out, wa.data(), wb.data(), M, N, K, trans_a, trans_b, alpha, beta);
}

}  // namespace hb::cpu
