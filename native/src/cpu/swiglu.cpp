// swiglu.cpp — the SwiGLU gate of the Llama MLP (Shazeer 2020): out = silu(gate) * up, silu(g) = g * sigmoid(g).
#include "bf16.hpp"
#include "cpu-common.hpp"
#include "cpu-kernels.hpp"

namespace hb::cpu {

// 1 / (1 + e^-g): e^-g overflows to a large finite value for g < -88 (fast_exp clamps), giving ~0, as it should.
static inline float sigmoid(float g) { return 1.0f / (1.0f + fast_exp(-g)); }

// gate, up (n) -> out (n) = gate * sigmoid(gate) * up, stored as fp32 or bf16 (rounded once).
template <typename Out>
static void swiglu_elements(hb_context* ctx, Out* out, const float* gate, const float* up, int64_t n) {
#pragma omp parallel for simd num_threads(threads(ctx)) if (n >= kParallelMin) schedule(static)
    for (int64_t i = 0; i < n; i++) store_f32(out[i], gate[i] * sigmoid(gate[i]) * up[i]);
}

void swiglu_forward(hb_context* ctx, float* out, const float* gate, const float* up, int64_t n) {
    swiglu_elements(ctx, out, gate, up, n);
}

void swiglu_forward_bf16(hb_context* ctx, uint16_t* out, const float* gate, const float* up, int64_t n) {
    swiglu_elements(ctx, out, gate, up, n);
}

void swiglu_backward(hb_context* ctx, float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                     int64_t n) {
    // dout, gate, up (n) -> dgate, dup (n), overwritten.
    //   dup = dout * silu(g);  dgate = dout * up * sigmoid(g) * (1 + g * (1 - sigmoid(g)))
#pragma omp parallel for simd num_threads(threads(ctx)) if (n >= kParallelMin) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i], s = sigmoid(g), d = dout[i];
        dup[i] = d * g * s;
        dgate[i] = d * up[i] * s * (1.0f + g * (1.0f - s));
    }
}

}  // namespace hb::cpu
