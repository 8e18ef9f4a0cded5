// attention.cpp — causal grouped-query attention, flash style (Dao et al. 2022, FlashAttention-2 2023).
// The forward walks (query block x key block) tiles with an online softmax and saves the row logsumexp;
// the backward recomputes the probabilities of each tile from q, k and that logsumexp. Scratch: head-major
// copies of the inputs, O(B*T*H*D), and a few (64 x 64) tiles per thread; never a (T,T) matrix.
// Threads: the forward splits (b, h, query block) tasks; the backward splits (b, KV head) tasks, each of
// which owns dk, dv of its KV head and dq of its query heads, so nothing is shared between threads.
//
// Layouts: q (B,T,H,D), k and v (B,T,KVH,D), out (B,T,H,D), lse (B,H,T); query head h reads KV head
// h / (H/KVH). Row t of head h is at ((b*T + t)*H + h)*D, so rows of one head are H*D floats apart.
//
// Storage: q, k, v, out are fp32 (float) or bf16 (uint16_t, the _bf16 variants); one template serves both.
// bf16 inputs are widened exactly where they are copied into the fp32 scratch (the head-major packs; q of the
// forward, read in place when fp32, is widened into a copy with the same layout), so every product and sum
// is the fp32 kernel's on the widened values, and the forward's out is rounded to bf16 once at the store.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <unordered_map>

#include "bf16.hpp"
#include "cpu-common.hpp"
#include "cpu-kernels.hpp"

namespace hb::cpu {

namespace {

constexpr int64_t BQ = 64;  // queries per tile
constexpr int64_t BK = 64;  // keys per tile
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Loads and stores of the storage type E of q, k, v, out: float, or bf16 (uint16_t) widened / rounded.
inline float to_f32(float x) { return x; }
inline float to_f32(uint16_t x) { return bf16_to_f32(x); }
template <typename E>
inline E from_f32(float x) {
    if constexpr (std::is_same_v<E, float>) return x;
    else return f32_to_bf16(x);
}

// dst (n) fp32 = src (n)
template <typename E>
inline void widen_n(float* dst, const E* src, int64_t n) {
    if constexpr (std::is_same_v<E, float>) std::copy_n(src, n, dst);
    else
        for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(src[i]);
}

// Register-blocked small GEMM for the tiles: C (M,N) (+)= A (M,K) @ B (K,N), where A(r,k) = A[r*sar + k*sak]
// (so A may be read transposed), B and C are row-major with leading dimensions ldb and ldc.
// MR rows x 32 columns of C stay in registers across the K loop (MR = 6: 12 AVX-512 or 24 AVX2 accumulators),
// which runs at ~110 GFLOP/s on one Zen 4 core, about what OpenBLAS reaches.
template <int MR, bool ACC>
inline void gemm_rows(float* C, int64_t ldc, const float* A, int64_t sar, int64_t sak, const float* B, int64_t ldb,
                      int64_t N, int64_t K) {
    constexpr int64_t NR = 32;
    for (int64_t n0 = 0; n0 < N; n0 += NR) {
        if (n0 + NR <= N) {
            float acc[MR][NR];
            for (int r = 0; r < MR; r++)
                for (int64_t j = 0; j < NR; j++) acc[r][j] = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                const float* b = B + k * ldb + n0;
                for (int r = 0; r < MR; r++) {
                    const float a = A[r * sar + k * sak];
#pragma omp simd
                    for (int64_t j = 0; j < NR; j++) acc[r][j] += a * b[j];
                }
            }
            for (int r = 0; r < MR; r++) {
                float* c = C + r * ldc + n0;
#pragma omp simd
                for (int64_t j = 0; j < NR; j++) c[j] = (ACC ? c[j] : 0.0f) + acc[r][j];
            }
        } else {  // the last N % 32 columns
            const int64_t nn = N - n0;
            float acc[MR][NR];
            for (int r = 0; r < MR; r++)
                for (int64_t j = 0; j < NR; j++) acc[r][j] = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                const float* b = B + k * ldb + n0;
                for (int r = 0; r < MR; r++) {
                    const float a = A[r * sar + k * sak];
#pragma omp simd
                    for (int64_t j = 0; j < nn; j++) acc[r][j] += a * b[j];
                }
            }
            for (int r = 0; r < MR; r++) {
                float* c = C + r * ldc + n0;
                for (int64_t j = 0; j < nn; j++) c[j] = (ACC ? c[j] : 0.0f) + acc[r][j];
            }
        }
    }
}

// On tiles that straddle the causal diagonal, the part of a product that can be non-zero. Entry (query i,
// key j) of a tile is visible only when j <= i + diag (diag = first query - first key of the tile).
enum class Causal {
    Cols,   // rows are queries, columns keys: columns past the diagonal are not computed (left undefined)
    KUpTo,  // rows are queries, the K dimension keys: A is zero past the diagonal, skip it
    KFrom,  // rows are keys, the K dimension queries: A is zero before the diagonal, skip it
};

template <bool ACC>
void gemm_tile(float* C, int64_t ldc, const float* A, int64_t sar, int64_t sak, const float* B, int64_t ldb,
               int64_t M, int64_t N, int64_t K, Causal mode, int64_t diag) {
    for (int64_t r = 0; r < M; r += 6) {
        const int64_t mr = std::min<int64_t>(6, M - r);
        int64_t n = N, k0 = 0, k1 = K;
        if (mode == Causal::Cols) n = std::min(N, (r + mr + diag + 31) / 32 * 32);  // whole register tiles
        if (mode == Causal::KUpTo) k1 = std::min(K, r + mr + diag);
        if (mode == Causal::KFrom) k0 = std::max<int64_t>(0, r - diag);
        if (n <= 0 || k1 <= k0) continue;
        float* c = C + r * ldc;
        const float* a = A + r * sar + k0 * sak;
        const float* b = B + k0 * ldb;
        const int64_t k = k1 - k0;
        switch (mr) {
            case 6: gemm_rows<6, ACC>(c, ldc, a, sar, sak, b, ldb, n, k); break;
            case 5: gemm_rows<5, ACC>(c, ldc, a, sar, sak, b, ldb, n, k); break;
            case 4: gemm_rows<4, ACC>(c, ldc, a, sar, sak, b, ldb, n, k); break;
            case 3: gemm_rows<3, ACC>(c, ldc, a, sar, sak, b, ldb, n, k); break;
            case 2: gemm_rows<2, ACC>(c, ldc, a, sar, sak, b, ldb, n, k); break;
            default: gemm_rows<1, ACC>(c, ldc, a, sar, sak, b, ldb, n, k); break;
        }
    }
}

// The tiles read heads from head-major copies made once per call: rows (B,NH,T,D), D floats apart, and
// transposed (B,NH,D,ldt) for the products whose columns are keys. Read in place, the rows of one head are
// NH*D floats apart, a power of two (2 KiB for 8 heads of 64) that maps every row of a tile to the same
// few L1 sets; those tile products ran at half speed.
int64_t transposed_ld(int64_t T) { return padded(T) + 16; }  // + 16: not a power of two either

// dst (B,NH,T,D) = src (B,T,NH,D) regrouped by head.
template <typename E>
void pack_rows(hb_context* ctx, float* dst, const E* src, int64_t B, int64_t T, int64_t NH, int64_t D) {
#pragma omp parallel for num_threads(threads(ctx)) schedule(static) if (B * T * NH * D >= kParallelMin)
    for (int64_t bt = 0; bt < B * T; bt++) {
        const int64_t b = bt / T, t = bt % T;
        for (int64_t h = 0; h < NH; h++) widen_n(dst + ((b * NH + h) * T + t) * D, src + (bt * NH + h) * D, D);
    }
}

// Row src (n) as fp32: src itself, or widened into buf.
template <typename E>
inline const float* row_f32(float* buf, const E* src, int64_t n) {
    if constexpr (std::is_same_v<E, float>) {
        (void)buf, (void)n;
        return src;
    } else {
        widen_n(buf, src, n);
        return buf;
    }
}

// The fp32 view of q (B,T,H,D) for the forward's in-place reads: q itself, or its widened copy in `buf`.
template <typename E>
const float* fp32_view(hb_context* ctx, float* buf, const E* q, int64_t n) {
    if constexpr (std::is_same_v<E, float>) {
        (void)ctx, (void)buf, (void)n;
        return q;
    } else {
#pragma omp parallel for num_threads(threads(ctx)) schedule(static) if (n >= kParallelMin)
        for (int64_t i = 0; i < n; i++) buf[i] = bf16_to_f32(q[i]);
        return buf;
    }
}

// dst (B,NH,D,ldt) = src (B,T,NH,D) transposed per head, by blocks of 16 rows: their 64 cache lines fit
// L1 even at a power-of-two row stride, and each (d, block) store fills one cache line.
template <typename E>
void pack_transposed(hb_context* ctx, float* dst, const E* src, int64_t B, int64_t T, int64_t NH, int64_t D,
                     int64_t ldt) {
    constexpr int64_t R = 16;
    const int64_t nblk = (T + R - 1) / R;
#pragma omp parallel for num_threads(threads(ctx)) schedule(static) collapse(2) if (B * T * NH * D >= kParallelMin)
    for (int64_t bh = 0; bh < B * NH; bh++)
        for (int64_t blk = 0; blk < nblk; blk++) {
            const int64_t b = bh / NH, h = bh % NH;
            const E* in = src + (b * T * NH + h) * D;
            float* out = dst + bh * D * ldt;
            const int64_t t1 = std::min(T, (blk + 1) * R);
            for (int64_t d = 0; d < D; d++)
                for (int64_t t = blk * R; t < t1; t++) out[d * ldt + t] = to_f32(in[t * NH * D + d]);
        }
}

// For each (b, query block): the smallest key index that any query of the block may attend to, i.e. the
// first occurrence of its segment id in the row (segments need not be contiguous). Key tiles before it
// are skipped. Without segments it is 0.
int64_t* first_keys(const int32_t* segments, int64_t B, int64_t T) {
    const int64_t nqb = (T + BQ - 1) / BQ;
    int64_t* first = static_cast<int64_t*>(scratch_bytes(1, sizeof(int64_t) * (size_t)(B * nqb)));
    std::unordered_map<int32_t, int64_t> seen;
    for (int64_t b = 0; b < B; b++) {
        seen.clear();
        const int32_t* seg = segments + b * T;
        for (int64_t t = 0; t < T; t++) {
            const int64_t f = seen.emplace(seg[t], t).first->second;
            int64_t& block_min = first[b * nqb + t / BQ];
            block_min = (t % BQ == 0) ? f : std::min(block_min, f);
        }
    }
    return first;
}

// Keys s0 + j of a tile that query t may see by causality: j < visible_keys(...) (0 when t < s0).
inline int64_t visible_keys(int64_t t, int64_t s0, int64_t nk) { return std::max<int64_t>(0, std::min(nk, t - s0 + 1)); }

// Sets the raw scores of keys in another segment than query t to -inf (row[0, jend)).
inline void mask_segments(float* row, int64_t jend, int64_t t, int64_t s0, const int32_t* seg) {
    const int32_t st = seg[t];
    const int32_t* ss = seg + s0;
#pragma omp simd
    for (int64_t j = 0; j < jend; j++) row[j] = ss[j] == st ? row[j] : kNegInf;
}

template <typename E>
void forward(hb_context* ctx, E* out, float* lse, const E* q_in, const E* k, const E* v, const int32_t* segments,
             int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t D, float scale) {
    // q (B,T,H,D), k, v (B,T,KVH,D), segments (B,T) or NULL -> out (B,T,H,D), lse (B,H,T); both overwritten.
    const int64_t G = H / KVH, ldq = H * D;
    const int64_t nqb = (T + BQ - 1) / BQ;
    const int64_t* first = segments ? first_keys(segments, B, T) : nullptr;
    const int nt = threads(ctx);
    // scratch: k transposed (B,KVH,D,ldt), v by head (B,KVH,T,D); then per thread S (BQ,BK), O (BQ,D),
    // running max and sum (BQ); last, for bf16 only, q widened (B,T,H,D).
    const int64_t ldt = transposed_ld(T), kv_rows = B * KVH * T * D;
    const int64_t per_thread = padded(BQ * BK) + padded(BQ * D) + 2 * padded(BQ);
    const int64_t q_copy = std::is_same_v<E, float> ? 0 : B * T * H * D;
    float* vh = scratch_floats((size_t)(kv_rows + B * KVH * D * ldt + nt * per_thread + q_copy));
    float* kt = vh + kv_rows;
    float* scratch = kt + B * KVH * D * ldt;
    const float* q = fp32_view(ctx, scratch + nt * per_thread, q_in, q_copy);
    pack_rows(ctx, vh, v, B, T, KVH, D);
    pack_transposed(ctx, kt, k, B, T, KVH, D, ldt);
    const int64_t tasks = nqb * B * H;

#pragma omp parallel num_threads(nt)
    {
        float* S = scratch + thread_id() * per_thread;
        float* O = S + padded(BQ * BK);
        float* m = O + padded(BQ * D);
        float* l = m + padded(BQ);
        // Consecutive tasks share (b, h), so its keys and values stay in cache; within it, late query
        // blocks (which see the most keys) come first.
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < tasks; task++) {
            const int64_t qb = nqb - 1 - task % nqb;
            const int64_t b = task / nqb / H, h = task / nqb % H, kvh = h / G;
            const int64_t i0 = qb * BQ, nq = std::min(BQ, T - i0);
            const float* qp = q + ((b * T + i0) * H + h) * D;
            const float* ktp = kt + (b * KVH + kvh) * D * ldt;
            const float* vp = vh + (b * KVH + kvh) * T * D;
            const int32_t* seg = segments ? segments + b * T : nullptr;

            std::fill_n(m, nq, kNegInf);
            std::fill_n(l, nq, 0.0f);
            std::fill_n(O, nq * D, 0.0f);
            const int64_t kb_first = first ? first[b * nqb + qb] / BK : 0;
            const int64_t kb_last = (i0 + nq - 1) / BK;
            for (int64_t kb = kb_first; kb <= kb_last; kb++) {
                const int64_t s0 = kb * BK, nk = std::min(BK, i0 + nq - s0);
                const int64_t diag = i0 - s0;
                gemm_tile<false>(S, BK, qp, ldq, 1, ktp + s0, ldt, nq, nk, D, Causal::Cols, diag);  // S = Q K^T
                for (int64_t i = 0; i < nq; i++) {
                    float* row = S + i * BK;
                    const int64_t jend = visible_keys(i0 + i, s0, nk);
                    if (seg) mask_segments(row, jend, i0 + i, s0, seg);
                    const float mx = max_of(row, jend);  // of the raw scores: scale > 0 keeps the max
                    if (mx == kNegInf) {  // nothing visible in this tile
                        std::fill_n(row, nk, 0.0f);
                        continue;
                    }
                    const float m_new = std::max(m[i], mx * scale);
                    const float corr = fast_exp(m[i] - m_new);  // 0 for the first visible tile
#pragma omp simd
                    for (int64_t j = 0; j < jend; j++) row[j] = fast_exp(row[j] * scale - m_new);
                    std::fill(row + jend, row + nk, 0.0f);
                    l[i] = l[i] * corr + sum_of(row, jend);
                    m[i] = m_new;
                    if (corr != 1.0f) {
                        float* o = O + i * D;
#pragma omp simd
                        for (int64_t d = 0; d < D; d++) o[d] *= corr;
                    }
                }
                gemm_tile<true>(O, D, S, BK, 1, vp + s0 * D, D, nq, D, nk, Causal::KUpTo, diag);  // O += P V
            }
            // Every row sees at least its own key, so l > 0.
            for (int64_t i = 0; i < nq; i++) {
                const float inv = 1.0f / l[i];
                E* o = out + ((b * T + i0 + i) * H + h) * D;
#pragma omp simd
                for (int64_t d = 0; d < D; d++) o[d] = from_f32<E>(O[i * D + d] * inv);
                lse[(b * H + h) * T + i0 + i] = m[i] + std::log(l[i]);
            }
        }
    }
}

template <typename E>
void backward(hb_context* ctx, float* dq, float* dk, float* dv, const float* dout, const E* q, const E* k, const E* v,
              const E* out, const float* lse, const int32_t* segments, int64_t B, int64_t T, int64_t H, int64_t KVH,
              int64_t D, float scale) {
    // dout, q, out (B,T,H,D), k, v (B,T,KVH,D), lse (B,H,T), segments (B,T) or NULL
    // -> dq (B,T,H,D), dk, dv (B,T,KVH,D), all overwritten.
    // With P = exp(scale q.k - lse) and Di = sum_d dout*out of row i (= sum_j P_ij dP_ij):
    //   dv = P^T dout;  dP = dout v^T;  dS = P (dP - Di);  dq = scale dS k;  dk = scale dS^T q.
    // One task per (b, KV head) owns dk, dv of that head and dq of its H/KVH query heads: no races, and
    // each tile's gradient stays in the thread's scratch until its key block is done.
    const int64_t G = H / KVH, ldq = H * D;
    const int64_t nqb = (T + BQ - 1) / BQ, nkb = (T + BK - 1) / BK;
    const int64_t* first = segments ? first_keys(segments, B, T) : nullptr;
    const int nt = threads(ctx);
    // scratch: q, dout, k by head (B,NH,T,D); k and v transposed (B,KVH,D,ldt); then per thread
    // P, dS (BQ,BK), dK, dV (BK,D), Di (G,T), and for bf16 one row of out widened (D).
    const int64_t ldt = transposed_ld(T), q_rows = B * H * T * D, kv_rows = B * KVH * T * D;
    const int64_t kv_t = B * KVH * D * ldt;
    const int64_t out_row = std::is_same_v<E, float> ? 0 : padded(D);
    const int64_t per_thread = 2 * padded(BQ * BK) + 2 * padded(BK * D) + padded(G * T) + out_row;
    float* qh = scratch_floats((size_t)(2 * q_rows + kv_rows + 2 * kv_t + nt * per_thread));
    float* doh = qh + q_rows;
    float* kh = doh + q_rows;
    float* kt = kh + kv_rows;
    float* vt = kt + kv_t;
    float* scratch = vt + kv_t;
    pack_rows(ctx, qh, q, B, T, H, D);
    pack_rows(ctx, doh, dout, B, T, H, D);
    pack_rows(ctx, kh, k, B, T, KVH, D);
    pack_transposed(ctx, kt, k, B, T, KVH, D, ldt);
    pack_transposed(ctx, vt, v, B, T, KVH, D, ldt);
    const int64_t tasks = B * KVH;

#pragma omp parallel num_threads(nt)
    {
        float* P = scratch + thread_id() * per_thread;
        float* dS = P + padded(BQ * BK);
        float* dK = dS + padded(BQ * BK);
        float* dV = dK + padded(BK * D);
        float* Di = dV + padded(BK * D);
        float* orow = Di + padded(G * T);  // bf16 only
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < tasks; task++) {
            const int64_t b = task / KVH, kvh = task % KVH;
            const float* kp = kh + (b * KVH + kvh) * T * D;
            const float* ktp = kt + (b * KVH + kvh) * D * ldt;
            const float* vtp = vt + (b * KVH + kvh) * D * ldt;
            const int32_t* seg = segments ? segments + b * T : nullptr;
            for (int64_t g = 0; g < G; g++) {
                const int64_t h = kvh * G + g;
                for (int64_t t = 0; t < T; t++) {
                    const int64_t off = ((b * T + t) * H + h) * D;
                    Di[g * T + t] = dot_of(dout + off, row_f32(orow, out + off, D), D);
                    std::fill_n(dq + off, D, 0.0f);
                }
            }
            for (int64_t kb = 0; kb < nkb; kb++) {
                const int64_t s0 = kb * BK, nk = std::min(BK, T - s0);
                std::fill_n(dK, nk * D, 0.0f);
                std::fill_n(dV, nk * D, 0.0f);
                for (int64_t g = 0; g < G; g++) {
                    const int64_t h = kvh * G + g;
                    const float* lse_h = lse + (b * H + h) * T;
                    for (int64_t qb = s0 / BQ; qb < nqb; qb++) {  // earlier queries cannot see these keys
                        if (first && first[b * nqb + qb] >= s0 + nk) continue;  // nor other segments
                        const int64_t i0 = qb * BQ, nq = std::min(BQ, T - i0);
                        const int64_t row0 = ((b * T + i0) * H + h) * D;  // in q, dq, dout
                        const float* qblk = qh + ((b * H + h) * T + i0) * D;
                        const float* doblk = doh + ((b * H + h) * T + i0) * D;
                        const int64_t diag = i0 - s0;
                        gemm_tile<false>(P, BK, qblk, D, 1, ktp + s0, ldt, nq, nk, D, Causal::Cols, diag);  // S = Q K^T
                        gemm_tile<false>(dS, BK, doblk, D, 1, vtp + s0, ldt, nq, nk, D, Causal::Cols, diag);  // dP = dO V^T
                        for (int64_t i = 0; i < nq; i++) {
                            float* p = P + i * BK;
                            float* ds = dS + i * BK;
                            const int64_t jend = visible_keys(i0 + i, s0, nk);
                            if (seg) mask_segments(p, jend, i0 + i, s0, seg);
                            const float L = lse_h[i0 + i], di = Di[g * T + i0 + i];
#pragma omp simd
                            for (int64_t j = 0; j < jend; j++) {
                                const float pj = fast_exp(p[j] * scale - L);
                                p[j] = pj;
                                ds[j] = pj * (ds[j] - di) * scale;
                            }
                            std::fill(p + jend, p + nk, 0.0f);
                            std::fill(ds + jend, ds + nk, 0.0f);
                        }
                        gemm_tile<true>(dV, D, P, 1, BK, doblk, D, nk, D, nq, Causal::KFrom, diag);  // dV += P^T dO
                        gemm_tile<true>(dq + row0, ldq, dS, BK, 1, kp + s0 * D, D, nq, D, nk, Causal::KUpTo, diag);  // dQ += dS K
                        gemm_tile<true>(dK, D, dS, 1, BK, qblk, D, nk, D, nq, Causal::KFrom, diag);  // dK += dS^T Q
                    }
                }
                for (int64_t j = 0; j < nk; j++) {
                    std::copy_n(dK + j * D, D, dk + ((b * T + s0 + j) * KVH + kvh) * D);
                    std::copy_n(dV + j * D, D, dv + ((b * T + s0 + j) * KVH + kvh) * D);
                }
            }
        }
    }
}

}  // namespace

void attention_forward(hb_context* ctx, float* out, float* lse, const float* q, const float* k, const float* v,
                       const int32_t* segments, int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t D, float scale) {
    forward(ctx, out, lse, q, k, v, segments, B, T, H, KVH, D, scale);
}

void attention_forward_bf16(hb_context* ctx, uint16_t* out, float* lse, const uint16_t* q, const uint16_t* k,
                            const uint16_t* v, const int32_t* segments, int64_t B, int64_t T, int64_t H, int64_t KVH,
                            int64_t D, float scale) {
    forward(ctx, out, lse, q, k, v, segments, B, T, H, KVH, D, scale);
}

void attention_backward(hb_context* ctx, float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse, const int32_t* segments,
                        int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t D, float scale) {
    backward(ctx, dq, dk, dv, dout, q, k, v, out, lse, segments, B, T, H, KVH, D, scale);
}

void attention_backward_bf16(hb_context* ctx, float* dq, float* dk, float* dv, const float* dout, const uint16_t* q,
                             const uint16_t* k, const uint16_t* v, const uint16_t* out, const float* lse,
                             const int32_t* segments, int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t D,
                             float scale) {
    backward(ctx, dq, dk, dv, dout, q, k, v, out, lse, segments, B, T, H, KVH, D, scale);
}

}  // namespace hb::cpu
