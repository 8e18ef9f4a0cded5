// matmul.cpp — dense matrix products through BLAS (OpenBLAS' sgemm, threaded by the context's setting).
#include <cblas.h>

#include <climits>

#include "cpu-common.hpp"
#include "cpu-kernels.hpp"
#include "error.hpp"

namespace hb::cpu {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    // A is (M,K), or (K,M) when trans_a; B is (K,N), or (N,K) when trans_b; C is (M,N). All row-major.
    for (int64_t v : {M, N, K, lda, ldb, ldc})
        if (v > INT_MAX)
            throw_error(HB_ERR_UNSUPPORTED, "sgemm: dimension %lld exceeds the 32-bit BLAS interface", (long long)v);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)M,
                (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

void matmul(hb_context* ctx, float* out, const float* a, const float* b, int64_t M, int64_t N, int64_t K,
            int32_t trans_a, int32_t trans_b, float alpha, float beta) {
    // out (M,N) = alpha * op(a) @ op(b) + beta * out; op(a) (M,K): a is (M,K) or (K,M) when trans_a;
    // op(b) (K,N): b is (K,N) or (N,K) when trans_b.
    sgemm(trans_a != 0, trans_b != 0, M, N, K, alpha, a, trans_a ? M : K, b, trans_b ? K : N, beta, out, N);
}

}  // namespace hb::cpu
