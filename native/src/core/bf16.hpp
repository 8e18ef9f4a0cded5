// bf16.hpp — bfloat16 <-> fp32 by bit manipulation, one definition for the CPU backend and the CUDA kernels
// (host and device). bf16 is the upper half of an IEEE fp32: 1 sign, 8 exponent, 7 mantissa bits.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define HB_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define HB_HOST_DEVICE inline
#endif

namespace hb {

HB_HOST_DEVICE uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

// Round to nearest, ties to even (adding 0x7fff plus the lowest kept bit carries into the kept half exactly when
// the dropped half is above one half, or exactly one half with an odd kept half). Finite values past the largest
// bf16 round to infinity, as IEEE rounding does. A NaN stays a NaN with its sign: the quiet bit is forced on, so a
// NaN whose payload lives only in the dropped bits does not become infinity.
HB_HOST_DEVICE uint16_t f32_to_bf16(float f) {
    uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

// Exact: every bf16 value is an fp32 value.
HB_HOST_DEVICE float bf16_to_f32(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

// Loads and stores of an element that is fp32 or bf16, for kernels templated over their storage type: the math
// is fp32 either way; a bf16 output is rounded once, on the store.
HB_HOST_DEVICE float load_f32(float x) { return x; }
HB_HOST_DEVICE float load_f32(uint16_t x) { return bf16_to_f32(x); }
HB_HOST_DEVICE void store_f32(float& dst, float v) { dst = v; }
HB_HOST_DEVICE void store_f32(uint16_t& dst, float v) { dst = f32_to_bf16(v); }

}  // namespace hb
