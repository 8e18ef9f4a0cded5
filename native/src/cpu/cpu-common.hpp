// cpu-common.hpp — helpers shared by the CPU kernels: thread count, per-thread scratch, a vectorisable exp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
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

// Max, sum and dot product of a row. GCC 12 does not vectorise these well from plain loops without
// -ffast-math: `omp simd reduction` ends in a scalar pass over a 64-lane array, and 16 explicit partial
// sums stay scalar. With GCC/Clang vector types they run at full width (3x faster on 64-float rows).
// The order of the additions differs from a sequential sum.
#if defined(__GNUC__)
typedef float vf16 __attribute__((vector_size(64)));
typedef float vf8 __attribute__((vector_size(32)));
typedef float vf4 __attribute__((vector_size(16)));

inline vf16 load16(const float* p) {
    vf16 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

inline float hmax(vf16 v) {
    vf8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
    vf8 b = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    a = a > b ? a : b;
    vf4 c = __builtin_shufflevector(a, a, 0, 1, 2, 3), d = __builtin_shufflevector(a, a, 4, 5, 6, 7);
    c = c > d ? c : d;
    return std::max(std::max(c[0], c[1]), std::max(c[2], c[3]));
}

inline float hsum(vf16 v) {
    vf8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    vf4 c = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    return (c[0] + c[2]) + (c[1] + c[3]);
}

inline float max_of(const float* x, int64_t n) {
    float r = -__builtin_inff();
    int64_t j = 0;
    if (n >= 16) {
        vf16 m = load16(x);
        for (j = 16; j + 16 <= n; j += 16) {
            const vf16 v = load16(x + j);
            m = m > v ? m : v;
        }
        r = hmax(m);
    }
    for (; j < n; j++) r = std::max(r, x[j]);
    return r;
}

inline float sum_of(const float* x, int64_t n) {
    vf16 s = {};
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) s += load16(x + j);
    float r = hsum(s);
    for (; j < n; j++) r += x[j];
    return r;
}

inline float dot_of(const float* a, const float* b, int64_t n) {
    vf16 s = {};
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) s += load16(a + j) * load16(b + j);
    float r = hsum(s);
    for (; j < n; j++) r += a[j] * b[j];
    return r;
}
// sum of a * b * c
inline float dot3_of(const float* a, const float* b, const float* c, int64_t n) {
    vf16 s = {};
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) s += load16(a + j) * load16(b + j) * load16(c + j);
    float r = hsum(s);
    for (; j < n; j++) r += a[j] * b[j] * c[j];
    return r;
}
#else
inline float max_of(const float* x, int64_t n) {
    float r = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < n; j++) r = std::max(r, x[j]);
    return r;
}
inline float sum_of(const float* x, int64_t n) {
    float r = 0.0f;
    for (int64_t j = 0; j < n; j++) r += x[j];
    return r;
}
inline float dot_of(const float* a, const float* b, int64_t n) {
    float r = 0.0f;
    for (int64_t j = 0; j < n; j++) r += a[j] * b[j];
    return r;
}
inline float dot3_of(const float* a, const float* b, const float* c, int64_t n) {
    float r = 0.0f;
    for (int64_t j = 0; j < n; j++) r += a[j] * b[j] * c[j];
    return r;
}
#endif

// exp(x) for float, relative error < 1e-7 (about 1.5 ulp) on [-87, 88]; 0 below -87.3 (so exp(-inf) = 0);
// written branch-free so loops calling it vectorise (libm's expf does not without -ffast-math).
// Cephes expf: x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-7 polynomial, 2^n built in the exponent bits.
// C (M,N) = alpha * op(A) @ op(B) + beta * C, row-major with leading dimensions, through cblas_sgemm
// split over the context's threads (matmul.cpp). Throws HB_ERR_UNSUPPORTED when a size exceeds BLAS's
// 32-bit integers.
void sgemm(hb_context* ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

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
