// bf16.cpp — bf16 storage on the CPU: the conversions, and the bf16 GEMM as the specification every other backend
// is checked against: both operands widened to fp32 (exact) and multiplied by the fp32 GEMM, which is what a bf16
// GEMM with fp32 accumulation computes. It trades memory (fp32 copies in the thread's scratch) for being plainly right.
// hb_matmul_bf16_mixed is the same GEMM with an fp32 operand rounded to bf16 (and widened back) first.
#include <climits>

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

namespace {

// The bf16 value of an operand, widened to fp32 (exact): a bf16 operand as it is, an fp32 one rounded to bf16 first.
void widen_operand(hb_context* ctx, float* out, const void* in, hb_dtype type, int64_t n) {
    if (type == HB_DTYPE_BF16) {
        convert_bf16_to_f32(ctx, out, static_cast<const uint16_t*>(in), n);
        return;
    }
    const float* x = static_cast<const float*>(in);
#pragma omp parallel for num_threads(threads(ctx)) if (n >= kParallelMin) schedule(static)
    for (int64_t i = 0; i < n; i++) out[i] = bf16_to_f32(f32_to_bf16(x[i]));
}

void gemm_bf16_values(hb_context* ctx, const char* fn, float* out, const void* a, hb_dtype a_type, const void* b,
                      hb_dtype b_type, int64_t M, int64_t N, int64_t K, int32_t trans_a, int32_t trans_b, float alpha,
                      float beta) {
    for (int64_t v : {M, N, K})  // before allocating the fp32 copies, as sgemm would refuse them anyway
        if (v > INT_MAX)
            throw_error(HB_ERR_UNSUPPORTED, "%s: dimension %lld exceeds the 32-bit BLAS interface", fn, (long long)v);
    // Both widened operands in the thread's scratch (kept between calls: fresh 16 MB vectors per call cost page faults
    // that halved the GEMM rate at 2048^3). matmul itself takes no scratch.
    float* wa = scratch_floats((size_t)(padded(M * K) + K * N));
    float* wb = wa + padded(M * K);
    widen_operand(ctx, wa, a, a_type, M * K);
    widen_operand(ctx, wb, b, b_type, K * N);
    matmul(ctx, out, wa, wb, M, N, K, trans_a, trans_b, alpha, beta);
}

}  // namespace

void matmul_bf16(hb_context* ctx, float* out, const uint16_t* a, const uint16_t* b, int64_t M, int64_t N, int64_t K,
                 int32_t trans_a, int32_t trans_b, float alpha, float beta) {
    // out (M,N) = alpha * op(a) @ op(b) + beta * out, a and b bf16 (shapes as in hb_matmul).
    gemm_bf16_values(ctx, "hb_matmul_bf16", out, a, HB_DTYPE_BF16, b, HB_DTYPE_BF16, M, N, K, trans_a, trans_b, alpha,
                     beta);
}

void matmul_bf16_mixed(hb_context* ctx, float* out, const void* a, hb_dtype a_type, const void* b, hb_dtype b_type,
                       int64_t M, int64_t N, int64_t K, int32_t trans_a, int32_t trans_b, float alpha, float beta) {
    // The same, each operand bf16 or fp32 (then rounded to bf16): hb_matmul_bf16(bf16(a), bf16(b)).
    gemm_bf16_values(ctx, "hb_matmul_bf16_mixed", out, a, a_type, b, b_type, M, N, K, trans_a, trans_b, alpha, beta);
}

}  // namespace hb::cpu
