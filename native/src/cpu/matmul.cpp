// matmul.cpp — dense matrix products through BLAS (OpenBLAS' sgemm, threaded by the context's setting).
#include <cblas.h>

#include <algorithm>
#include <climits>

#include "cpu-common.hpp"
#include "cpu-kernels.hpp"
#include "error.hpp"

namespace hb::cpu {

static void sgemm_1(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                    int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)M,
                (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

void sgemm(hb_context* ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    // A is (M,K), or (K,M) when trans_a; B is (K,N), or (N,K) when trans_b; C is (M,N). All row-major.
    for (int64_t v : {M, N, K, lda, ldb, ldc})
        if (v > INT_MAX)
            throw_error(HB_ERR_UNSUPPORTED, "sgemm: dimension %lld exceeds the 32-bit BLAS interface", (long long)v);
    const int nt = threads(ctx);
    if (nt == 1 || 2.0 * (double)M * (double)N * (double)K < 4e6) {
        sgemm_1(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    // OpenBLAS runs single-threaded (cpu-backend.cpp); our OpenMP threads each multiply a slab of C.
    // One thread pool for BLAS and the kernels: OpenBLAS' own pthreads spin after each call and, on a
    // machine with as many cores as threads, starve the OpenMP loop that follows (measured: a 0.1 ms
    // rmsnorm took 10 ms right after an sgemm).
    const bool split_m = M >= N;
    const int64_t len = split_m ? M : N, align = split_m ? 4 : 16;
#pragma omp parallel num_threads(nt)
    {
#if defined(HB_WITH_OPENMP)
        const int64_t parts = omp_get_num_threads(), me = omp_get_thread_num();
#else
        const int64_t parts = 1, me = 0;
#endif
        const int64_t step = (len + parts - 1) / parts;
        const int64_t slab = (step + align - 1) / align * align;
        const int64_t i0 = std::min(len, me * slab), i1 = std::min(len, i0 + slab);
        if (i1 > i0) {
            if (split_m)
                sgemm_1(trans_a, trans_b, i1 - i0, N, K, alpha, trans_a ? A + i0 : A + i0 * lda, lda, B, ldb, beta,
                        C + i0 * ldc, ldc);
            else
                sgemm_1(trans_a, trans_b, M, i1 - i0, K, alpha, A, lda, trans_b ? B + i0 * ldb : B + i0, ldb, beta,
                        C + i0, ldc);
        }
    }
}

void matmul(hb_context* ctx, float* out, const float* a, const float* b, int64_t M, int64_t N, int64_t K,
            int32_t trans_a, int32_t trans_b, float alpha, float beta) {
    // out (M,N) = alpha * op(a) @ op(b) + beta * out; op(a) (M,K): a is (M,K) or (K,M) when trans_a;
    // op(b) (K,N): b is (K,N) or (N,K) when trans_b.
    sgemm(ctx, trans_a != 0, trans_b != 0, M, N, K, alpha, a, trans_a ? M : K, b, trans_b ? K : N, beta, out, N);
}

}  // namespace hb::cpu
