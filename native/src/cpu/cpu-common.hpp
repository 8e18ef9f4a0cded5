// cpu-common.hpp — helpers shared by the CPU kernels: thread count, per-thread scratch, a vectorisable exp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "backend.hpp"

#if defined(HB_WITH_OPENMP)
#include <omp.h>
#endif

namespace hb::cpu {

// Threads for the OpenMP loops of a kernel: the context's setting (also what OpenBLAS uses).
inline int threads(const hb_context* ctx) { return ctx->num_threads > 0 ? ctx->num_threads : 1; }

inline int thread_id() {
#if defined(HB_WITH_OPENMP)
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Elementwise loops below this many elements run on one thread: a parallel region costs a few µs.
constexpr int64_t kParallelMin = 1 << 15;

// Scratch memory of the calling thread, grown on demand and kept for the next call, so a training loop
// allocates it once. Kernels take it before their parallel region and split it between OpenMP threads.
// Two slots: a kernel may need two independent buffers (e.g. floats and ints).
inline void* scratch_bytes(int slot, size_t bytes) {
    struct Buffer {
        std::unique_ptr<unsigned char[]> data;
        size_t size = 0;
    };
    thread_local Buffer buffers[2];
    Buffer& b = buffers[slot];
    if (b.size < bytes) {
        size_t grown = std::max(bytes, b.size + b.size / 2);
        b.data.reset(new unsigned char[grown + 64]);  // std::bad_alloc becomes HB_ERR_OUT_OF_MEMORY at the API
        b.size = grown;
    }
    // 64-byte aligned for full-width vector loads.
    uintptr_t p = reinterpret_cast<uintptr_t>(b.data.get());
    return reinterpret_cast<void*>((p + 63) & ~uintptr_t(63));
}

inline float* scratch_floats(size_t n) { return static_cast<float*>(scratch_bytes(0, n * sizeof(float))); }

// Floats rounded up to a cache line, to lay out several arrays in one scratch buffer without false sharing.
inline int64_t padded(int64_t n) { return (n + 15) / 16 * 16; }

// exp(x) for float, relative error < 1e-7 (about 1.5 ulp) on [-87, 88]; 0 below -87.3 (so exp(-inf) = 0);
// written branch-free so loops calling it vectorise (libm's expf does not without -ffast-math).
// Cephes expf: x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-7 polynomial, 2^n built in the exponent bits.
// C (M,N) = alpha * op(A) @ op(B) + beta * C, row-major with leading dimensions, through cblas_sgemm
// (matmul.cpp). Throws HB_ERR_UNSUPPORTED when a size exceeds BLAS's 32-bit integers.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

inline float fast_exp(float x) {
    const float xc = std::min(std::max(x, -88.0f), 88.0f);
    const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to the nearest integer
    const float t = xc * 1.44269504088896341f + magic;
    const float n = t - magic;
    int32_t ni;
    std::memcpy(&ni, &t, 4);
    ni -= 0x4B400000;  // the integer n from the low mantissa bits of t
    float r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;  // ln2 split in two parts: r exact to float precision
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t bits = (ni + 127) << 23;
    float s;
    std::memcpy(&s, &bits, 4);
    const float result = p * s;
    return x < -87.3f ? 0.0f : result;
}

}  // namespace hb::cpu
