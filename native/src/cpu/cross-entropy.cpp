// cross-entropy.cpp — fused LM head + softmax cross-entropy. The (N,V) logits are never stored: they are
// produced by sgemm one (row block x vocabulary chunk) tile at a time into a bounded scratch, and reduced
// with an online logsumexp (Milakov & Gimelshein 2018). The backward recomputes each tile.
// The bf16 variants (bf16 h and w) run the same code: the h rows and w chunk of a tile are widened (exactly) into
// scratch just before its GEMMs, never the whole (V,C) head at once, and the backward rounds dlogits to bf16 before
// the two GEMMs that consume them, as a tensor-core GEMM would.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "bf16.hpp"
#include "cpu-common.hpp"
#include "cpu-kernels.hpp"
#include "error.hpp"

namespace hb::cpu {

namespace {

constexpr int64_t kDefaultChunk = 2048;        // vocabulary columns per tile when the caller passes 0
constexpr int64_t kTileFloats = int64_t(1) << 22;  // 16 MiB of logits per tile at most

struct Tiling {
    int64_t chunk;  // vocabulary columns per tile
    int64_t rows;   // rows per tile
};

Tiling tiling(int64_t N, int64_t V, int64_t chunk) {
    Tiling t;
    t.chunk = std::min(V, chunk > 0 ? chunk : kDefaultChunk);
    t.rows = std::min(N, std::max<int64_t>(1, kTileFloats / t.chunk));
    return t;
}

void check_targets(const char* fn, const int32_t* targets, int64_t N, int64_t V) {
    for (int64_t i = 0; i < N; i++)
        if (targets[i] >= V)
            throw_error(HB_ERR_INVALID_ARGUMENT, "%s: targets[%lld] = %d is out of range (must be < V=%lld, or < 0 to ignore the row)",
                        fn, (long long)i, targets[i], (long long)V);
}

// Rows [r0, r0+n) of a (., C) input as fp32: an fp32 input in place, a bf16 one widened into buf (n*C floats).
const float* rows_f32(hb_context*, const float* x, int64_t r0, int64_t, int64_t C, float*) { return x + r0 * C; }
const float* rows_f32(hb_context* ctx, const uint16_t* x, int64_t r0, int64_t n, int64_t C, float* buf) {
    convert_bf16_to_f32(ctx, buf, x + r0 * C, n * C);
    return buf;
}

// The widening buffers of a tile (second scratch slot): h rows (rows, C) and the w chunk (chunk, C); none for fp32.
struct Widened {
    float* h = nullptr;
    float* w = nullptr;
};

template <typename T>
Widened widened_tiles(const Tiling& tl, int64_t C) {
    Widened b;
    if constexpr (std::is_same_v<T, uint16_t>) {
        b.h = static_cast<float*>(scratch_bytes(1, (size_t)(padded(tl.rows * C) + tl.chunk * C) * sizeof(float)));
        b.w = b.h + padded(tl.rows * C);
    }
    return b;
}

template <typename T>
void forward_tiles(hb_context* ctx, const char* fn, float* losses, float* lse, const T* h_in, const T* w_in,
                   const int32_t* targets, int64_t N, int64_t V, int64_t C, int64_t chunk) {
    // h (N,C), w (V,C), targets (N) -> losses (N) = lse - logit[target] (0 when target < 0), lse (N).
    check_targets(fn, targets, N, V);
    const Tiling tl = tiling(N, V, chunk);
    const Widened wide = widened_tiles<T>(tl, C);
    // scratch: the logits tile (rows, chunk), then per row the running max, sum and target logit.
    float* logits = scratch_floats((size_t)(padded(tl.rows * tl.chunk) + 3 * padded(tl.rows)));
    float* run_max = logits + padded(tl.rows * tl.chunk);
    float* run_sum = run_max + padded(tl.rows);
    float* tgt_logit = run_sum + padded(tl.rows);
    const int nt = threads(ctx);

    for (int64_t r0 = 0; r0 < N; r0 += tl.rows) {
        const int64_t nr = std::min(tl.rows, N - r0);
        const float* h = rows_f32(ctx, h_in, r0, nr, C, wide.h);  // h[r0:r0+nr]
        std::fill_n(run_max, nr, -std::numeric_limits<float>::infinity());
        std::fill_n(run_sum, nr, 0.0f);
        std::fill_n(tgt_logit, nr, 0.0f);
        for (int64_t v0 = 0; v0 < V; v0 += tl.chunk) {
            const int64_t nc = std::min(tl.chunk, V - v0);
            // logits (nr, nc) = h[r0:r0+nr] (nr,C) @ w[v0:v0+nc]^T
            const float* w = rows_f32(ctx, w_in, v0, nc, C, wide.w);
            sgemm(ctx, false, true, nr, nc, C, 1.0f, h, C, w, C, 0.0f, logits, nc);
#pragma omp parallel for num_threads(nt) if (nr * nc >= kParallelMin) schedule(static)
            for (int64_t i = 0; i < nr; i++) {
                float* row = logits + i * nc;
                const int64_t t = targets[r0 + i];
                if (t >= v0 && t < v0 + nc) tgt_logit[i] = row[t - v0];
                const float m_new = std::max(run_max[i], max_of(row, nc));
#pragma omp simd
                for (int64_t j = 0; j < nc; j++) row[j] = fast_exp(row[j] - m_new);  // the tile is not needed again
                run_sum[i] = run_sum[i] * fast_exp(run_max[i] - m_new) + sum_of(row, nc);
                run_max[i] = m_new;
            }
        }
        for (int64_t i = 0; i < nr; i++) {
            const float l = run_max[i] + std::log(run_sum[i]);
            lse[r0 + i] = l;
            losses[r0 + i] = targets[r0 + i] < 0 ? 0.0f : l - tgt_logit[i];
        }
    }
}

template <typename T>
void backward_tiles(hb_context* ctx, const char* fn, float* dh, float* dw, const T* h_in, const T* w_in,
                    const int32_t* targets, const float* lse, float loss_scale, int64_t N, int64_t V, int64_t C,
                    int64_t chunk) {
    // h (N,C), w (V,C), targets (N), lse (N) -> dh (N,C) overwritten, dw (V,C) += (skipped when NULL).
    // d loss / d logit = loss_scale * (softmax - onehot(target)) for rows with target >= 0, 0 otherwise.
    check_targets(fn, targets, N, V);
    const Tiling tl = tiling(N, V, chunk);
    const Widened wide = widened_tiles<T>(tl, C);
    float* dlogits = scratch_floats((size_t)(tl.rows * tl.chunk));
    const int nt = threads(ctx);

    for (int64_t r0 = 0; r0 < N; r0 += tl.rows) {
        const int64_t nr = std::min(tl.rows, N - r0);
        const float* h = rows_f32(ctx, h_in, r0, nr, C, wide.h);  // h[r0:r0+nr]
        for (int64_t v0 = 0; v0 < V; v0 += tl.chunk) {
            const int64_t nc = std::min(tl.chunk, V - v0);
            const float* w = rows_f32(ctx, w_in, v0, nc, C, wide.w);  // w[v0:v0+nc]
            sgemm(ctx, false, true, nr, nc, C, 1.0f, h, C, w, C, 0.0f, dlogits, nc);
#pragma omp parallel for num_threads(nt) if (nr * nc >= kParallelMin) schedule(static)
            for (int64_t i = 0; i < nr; i++) {
                float* row = dlogits + i * nc;
                const int64_t t = targets[r0 + i];
                if (t < 0) {
                    std::fill_n(row, nc, 0.0f);
                    continue;
                }
                const float l = lse[r0 + i];
#pragma omp simd
                for (int64_t j = 0; j < nc; j++) row[j] = loss_scale * fast_exp(row[j] - l);
                if (t >= v0 && t < v0 + nc) row[t - v0] -= loss_scale;
                if constexpr (std::is_same_v<T, uint16_t>) {  // the bf16 operand of the GEMMs below
#pragma omp simd
                    for (int64_t j = 0; j < nc; j++) row[j] = bf16_to_f32(f32_to_bf16(row[j]));
                }
            }
            // dh[r0:r0+nr] (nr,C) (=, then +=) dlogits (nr,nc) @ w[v0:v0+nc] (nc,C)
            sgemm(ctx, false, false, nr, C, nc, 1.0f, dlogits, nc, w, C, v0 == 0 ? 0.0f : 1.0f, dh + r0 * C, C);
            // dw[v0:v0+nc] (nc,C) += dlogits^T (nc,nr) @ h[r0:r0+nr] (nr,C)
            if (dw) sgemm(ctx, true, false, nc, C, nr, 1.0f, dlogits, nc, h, C, 1.0f, dw + v0 * C, C);
        }
    }
}

}  // namespace

void cross_entropy_forward(hb_context* ctx, float* losses, float* lse, const float* h, const float* w,
                           const int32_t* targets, int64_t N, int64_t V, int64_t C, int64_t chunk) {
    forward_tiles(ctx, "hb_cross_entropy_forward", losses, lse, h, w, targets, N, V, C, chunk);
}

void cross_entropy_forward_bf16(hb_context* ctx, float* losses, float* lse, const uint16_t* h, const uint16_t* w,
                                const int32_t* targets, int64_t N, int64_t V, int64_t C, int64_t chunk) {
    forward_tiles(ctx, "hb_cross_entropy_forward_bf16", losses, lse, h, w, targets, N, V, C, chunk);
}

void cross_entropy_backward(hb_context* ctx, float* dh, float* dw, const float* h, const float* w,
                            const int32_t* targets, const float* lse, float loss_scale, int64_t N, int64_t V, int64_t C,
                            int64_t chunk) {
    backward_tiles(ctx, "hb_cross_entropy_backward", dh, dw, h, w, targets, lse, loss_scale, N, V, C, chunk);
}

void cross_entropy_backward_bf16(hb_context* ctx, float* dh, float* dw, const uint16_t* h, const uint16_t* w,
                                 const int32_t* targets, const float* lse, float loss_scale, int64_t N, int64_t V,
                                 int64_t C, int64_t chunk) {
    backward_tiles(ctx, "hb_cross_entropy_backward_bf16", dh, dw, h, w, targets, lse, loss_scale, N, V, C, chunk);
}

}  // namespace hb::cpu
