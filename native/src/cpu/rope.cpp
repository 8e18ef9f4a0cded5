// rope.cpp — rotary position embedding (Su et al. 2021) in the HF "rotate_half" layout used by Llama:
// the pairs are (i, i + D/2), rotated by angle positions[n] * inv_freq[i].
#include <algorithm>
#include <cmath>

#include "cpu-common.hpp"
#include "cpu-kernels.hpp"

namespace hb::cpu {

// Rotates x (N,H,D) in place by +angle (sign = 1, the forward) or -angle (sign = -1, its transpose).
// cos and sin are evaluated in double from a double angle: positions reach 10^4-10^5 and a float angle
// would be off by ~1e-3 rad there. They are computed once per distinct position and shared by all heads.
static void rope_rotate(hb_context* ctx, float* x, const int32_t* positions, const float* inv_freq, int64_t N,
                        int64_t H, int64_t D, float sign) {
    const int64_t half = D / 2;
    const int64_t pmin = *std::min_element(positions, positions + N);
    const int64_t pmax = *std::max_element(positions, positions + N);
    const int64_t P = pmax - pmin + 1;
    const int nt = N * H * D >= kParallelMin ? threads(ctx) : 1;
    // Table (P, 2, half) of cos and sin when the positions repeat (packed batches: P <= T), else one
    // row of it per thread, recomputed for each token.
    const bool table = P <= N;
    const int64_t row = padded(2 * half);
    float* cs_all = scratch_floats((size_t)((table ? P : nt) * row));
    auto fill = [&](float* cs, int64_t pos) {
        for (int64_t i = 0; i < half; i++) {
            const double angle = (double)pos * (double)inv_freq[i];
            cs[i] = (float)std::cos(angle);
            cs[half + i] = sign * (float)std::sin(angle);
        }
    };
#pragma omp parallel num_threads(nt)
    {
        if (table) {
#pragma omp for schedule(static)
            for (int64_t p = 0; p < P; p++) fill(cs_all + p * row, pmin + p);
        }
#pragma omp for schedule(static)
        for (int64_t n = 0; n < N; n++) {
            float* cs;
            if (table) {
                cs = cs_all + (positions[n] - pmin) * row;
            } else {
                cs = cs_all + thread_id() * row;
                fill(cs, positions[n]);
            }
            const float* c = cs;
            const float* s = cs + half;
            for (int64_t h = 0; h < H; h++) {
                float* x1 = x + (n * H + h) * D;
                float* x2 = x1 + half;
#pragma omp simd
                for (int64_t i = 0; i < half; i++) {
                    const float a = x1[i], b = x2[i];
                    x1[i] = a * c[i] - b * s[i];
                    x2[i] = b * c[i] + a * s[i];
                }
            }
        }
    }
}

void rope_forward(hb_context* ctx, float* x, const int32_t* positions, const float* inv_freq, int64_t N, int64_t H,
                  int64_t D) {
    // x (N,H,D) rotated in place; positions (N); inv_freq (D/2).
    rope_rotate(ctx, x, positions, inv_freq, N, H, D, 1.0f);
}

void rope_backward(hb_context* ctx, float* dx, const int32_t* positions, const float* inv_freq, int64_t N, int64_t H,
                   int64_t D) {
    // dx (N,H,D) rotated back in place: the rotation is orthogonal, its transpose is the rotation by -angle.
    rope_rotate(ctx, dx, positions, inv_freq, N, H, D, -1.0f);
}

}  // namespace hb::cpu
