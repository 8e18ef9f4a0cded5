// gemm-layout.hpp — how a row-major GEMM becomes a column-major cuBLAS call (plain C++, no CUDA headers, so that
// tests/native/test-cuda-emulated.cpp can check the mapping with a naive column-major GEMM on the host).
//
// Row-major out (M,N) = op(a) (M,K) @ op(b) (K,N). The bytes of a row-major (R,C) matrix are the column-major
// (C,R) matrix, its transpose; so cuBLAS computes out^T (N,M) = op(b)^T (N,K) @ op(a)^T (K,M): its first operand
// is b, its second a, each with its own transpose flag unchanged.
#pragma once

#include <cstdint>

namespace hb::cuda {

struct ColumnMajorGemm {
    // C (m,n) = op(first) (m,k) @ op(second) (k,n), column-major; first = b, second = a, C = out.
    int64_t m, n, k;
    bool trans_first, trans_second;
    int64_t rows_first, cols_first, ld_first;     // stored (column-major) shape of b
    int64_t rows_second, cols_second, ld_second;  // stored shape of a
    int64_t ldc;
};

inline ColumnMajorGemm column_major_gemm(int64_t M, int64_t N, int64_t K, int32_t trans_a, int32_t trans_b) {
    ColumnMajorGemm g{};
    g.m = N;
    g.n = M;
    g.k = K;
    g.trans_first = trans_b != 0;
    g.trans_second = trans_a != 0;
    // b is row-major (K,N), i.e. column-major (N,K) = op(first) directly; or row-major (N,K) when trans_b,
    // i.e. column-major (K,N), transposed by cuBLAS.
    g.rows_first = trans_b ? K : N;
    g.cols_first = trans_b ? N : K;
    g.ld_first = g.rows_first;
    // a is row-major (M,K): column-major (K,M) = op(second); or row-major (K,M) when trans_a: column-major (M,K).
    g.rows_second = trans_a ? M : K;
    g.cols_second = trans_a ? K : M;
    g.ld_second = g.rows_second;
    g.ldc = N;
    return g;
}

}  // namespace hb::cuda
