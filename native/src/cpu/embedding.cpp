// embedding.cpp — token embedding lookup and its scatter-add backward.
#include <algorithm>

#include "bf16.hpp"
#include "cpu-common.hpp"
#include "cpu-kernels.hpp"
#include "error.hpp"

namespace hb::cpu {

// Token ids come from data, not from shapes, so the API layer cannot check them; a bad id is an
// HB_ERR_INVALID_ARGUMENT naming the element, never an out-of-bounds read.
static void check_tokens(const char* fn, const int32_t* tokens, int64_t N, int64_t V) {
    for (int64_t i = 0; i < N; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            throw_error(HB_ERR_INVALID_ARGUMENT, "%s: tokens[%lld] = %d is out of range [0, V=%lld)", fn, (long long)i,
                        tokens[i], (long long)V);
}

namespace {

// out (N,C) = float(wte (V,C) [tokens (N)]); the table is fp32 or bf16 (widened exactly).
template <typename Table>
void gather_rows(hb_context* ctx, const char* fn, float* out, const int32_t* tokens, const Table* wte, int64_t N,
                 int64_t V, int64_t C) {
    check_tokens(fn, tokens, N, V);
#pragma omp parallel for num_threads(threads(ctx)) if (N * C >= kParallelMin) schedule(static)
    for (int64_t i = 0; i < N; i++) {
        const Table* src = wte + (int64_t)tokens[i] * C;
        float* dst = out + i * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) dst[c] = load_f32(src[c]);
    }
}

}  // namespace

void embedding_forward(hb_context* ctx, float* out, const int32_t* tokens, const float* wte, int64_t N, int64_t V,
                       int64_t C) {
    // out (N,C) = wte (V,C) [tokens (N)]; overwritten.
    gather_rows(ctx, "hb_embedding_forward", out, tokens, wte, N, V, C);
}

void embedding_forward_bf16(hb_context* ctx, float* out, const int32_t* tokens, const uint16_t* wte, int64_t N,
                            int64_t V, int64_t C) {
    // The same with a bf16 table: out (N,C) = float(wte[tokens]).
    gather_rows(ctx, "hb_embedding_forward_bf16", out, tokens, wte, N, V, C);
}

void embedding_backward(hb_context* ctx, float* dwte, const float* dout, const int32_t* tokens, int64_t N, int64_t V,
                        int64_t C) {
    // dwte (V,C) += scatter of dout (N,C) by tokens (N); a parameter gradient, accumulated.
    // Repeated tokens hit the same row, so threads split the C columns, not the rows: each thread walks
    // every token but owns its columns, which is race-free and gives the same sums for any thread count.
    check_tokens("hb_embedding_backward", tokens, N, V);
    const int nt = (int)std::min<int64_t>(threads(ctx), std::max<int64_t>(1, C / 16));
#pragma omp parallel num_threads(nt) if (N * C >= kParallelMin)
    {
#if defined(HB_WITH_OPENMP)
        const int64_t parts = omp_get_num_threads(), me = omp_get_thread_num();
#else
        const int64_t parts = 1, me = 0;
#endif
        const int64_t width = padded((C + parts - 1) / parts);  // whole cache lines per thread
        const int64_t c0 = std::min(C, me * width), c1 = std::min(C, c0 + width);
        for (int64_t i = 0; i < N; i++) {
            float* dst = dwte + (int64_t)tokens[i] * C;
            const float* src = dout + i * C;
#pragma omp simd
            for (int64_t c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
}

}  // namespace hb::cpu
