// attention.cpp — causal grouped-query attention, flash style (Dao et al. 2022, FlashAttention-2 2023).
// The forward walks (query block x key block) tiles with an online softmax and saves the row logsumexp;
// the backward recomputes the probabilities of each tile from q, k and that logsumexp. Memory is a few
// tiles per thread: never a (T,T) matrix.
//
// Layouts: q (B,T,H,D), k and v (B,T,KVH,D), out (B,T,H,D), lse (B,H,T); query head h reads KV head
// h / (H/KVH). Row t of head h is at ((b*T + t)*H + h)*D, so rows of one head are H*D floats apart.
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "cpu-common.hpp"
#include "cpu-kernels.hpp"

namespace hb::cpu {

namespace {

constexpr int64_t BQ = 64;  // queries per tile
constexpr int64_t BK = 64;  // keys per tile
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

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

template <bool ACC>
void gemm_tile(float* C, int64_t ldc, const float* A, int64_t sar, int64_t sak, const float* B, int64_t ldb,
               int64_t M, int64_t N, int64_t K) {
    int64_t r = 0;
    for (; r + 6 <= M; r += 6) gemm_rows<6, ACC>(C + r * ldc, ldc, A + r * sar, sar, sak, B, ldb, N, K);
    C += r * ldc;
    A += r * sar;
    switch (M - r) {
        case 5: gemm_rows<5, ACC>(C, ldc, A, sar, sak, B, ldb, N, K); break;
        case 4: gemm_rows<4, ACC>(C, ldc, A, sar, sak, B, ldb, N, K); break;
        case 3: gemm_rows<3, ACC>(C, ldc, A, sar, sak, B, ldb, N, K); break;
        case 2: gemm_rows<2, ACC>(C, ldc, A, sar, sak, B, ldb, N, K); break;
        case 1: gemm_rows<1, ACC>(C, ldc, A, sar, sak, B, ldb, N, K); break;
        default: break;
    }
}

// dst (D, BK) = the nk rows of src (nk, D) (row stride ld) transposed, so that a tile product reads
// contiguous key columns.
void pack_transposed(float* dst, const float* src, int64_t ld, int64_t nk, int64_t D) {
    for (int64_t j = 0; j < nk; j++)
        for (int64_t d = 0; d < D; d++) dst[d * BK + j] = src[j * ld + d];
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

// Turns row[0, nk) of raw scores q.k of query t against keys s0.. into scaled scores, -inf where masked
// (s > t, or another segment). Returns how many leading entries may be valid (keys s0 .. min(t, s0+nk-1)).
inline int64_t mask_row(float* row, int64_t nk, int64_t t, int64_t s0, float scale, const int32_t* seg) {
    const int64_t jend = std::min(nk, t - s0 + 1);
    if (seg) {
        const int32_t st = seg[t];
        const int32_t* ss = seg + s0;
#pragma omp simd
        for (int64_t j = 0; j < jend; j++) row[j] = ss[j] == st ? row[j] * scale : kNegInf;
    } else {
#pragma omp simd
        for (int64_t j = 0; j < jend; j++) row[j] *= scale;
    }
    return std::max<int64_t>(jend, 0);
}

}  // namespace

void attention_forward(hb_context* ctx, float* out, float* lse, const float* q, const float* k, const float* v,
                       const int32_t* segments, int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t D, float scale) {
    // q (B,T,H,D), k, v (B,T,KVH,D), segments (B,T) or NULL -> out (B,T,H,D), lse (B,H,T); both overwritten.
    const int64_t G = H / KVH, ldq = H * D, ldk = KVH * D;
    const int64_t nqb = (T + BQ - 1) / BQ;
    const int64_t* first = segments ? first_keys(segments, B, T) : nullptr;
    const int nt = threads(ctx);
    // per thread: Kt (D,BK), S (BQ,BK), O (BQ,D), running max and sum (BQ)
    const int64_t per_thread = padded(D * BK) + padded(BQ * BK) + padded(BQ * D) + 2 * padded(BQ);
    float* scratch = scratch_floats((size_t)(nt * per_thread));
    const int64_t tasks = nqb * B * H;

#pragma omp parallel num_threads(nt)
    {
        float* Kt = scratch + thread_id() * per_thread;
        float* S = Kt + padded(D * BK);
        float* O = S + padded(BQ * BK);
        float* m = O + padded(BQ * D);
        float* l = m + padded(BQ);
        // Late query blocks see the most keys: hand them out first.
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < tasks; task++) {
            const int64_t qb = nqb - 1 - task / (B * H);
            const int64_t b = (task % (B * H)) / H, h = task % H, kvh = h / G;
            const int64_t i0 = qb * BQ, nq = std::min(BQ, T - i0);
            const float* qp = q + ((b * T + i0) * H + h) * D;
            const float* kp = k + (b * T * KVH + kvh) * D;
            const float* vp = v + (b * T * KVH + kvh) * D;
            const int32_t* seg = segments ? segments + b * T : nullptr;

            std::fill_n(m, nq, kNegInf);
            std::fill_n(l, nq, 0.0f);
            std::fill_n(O, nq * D, 0.0f);
            const int64_t kb_first = first ? first[b * nqb + qb] / BK : 0;
            const int64_t kb_last = (i0 + nq - 1) / BK;
            for (int64_t kb = kb_first; kb <= kb_last; kb++) {
                const int64_t s0 = kb * BK, nk = std::min(BK, i0 + nq - s0);
                pack_transposed(Kt, kp + s0 * ldk, ldk, nk, D);
                gemm_tile<false>(S, BK, qp, ldq, 1, Kt, BK, nq, nk, D);  // S (nq,nk) = Q K^T
                for (int64_t i = 0; i < nq; i++) {
                    float* row = S + i * BK;
                    const int64_t jend = mask_row(row, nk, i0 + i, s0, scale, seg);
                    float mx = kNegInf;
#pragma omp simd reduction(max : mx)
                    for (int64_t j = 0; j < jend; j++) mx = std::max(mx, row[j]);
                    if (mx == kNegInf) {  // nothing visible in this tile
                        std::fill_n(row, nk, 0.0f);
                        continue;
                    }
                    const float m_new = std::max(m[i], mx);
                    const float corr = fast_exp(m[i] - m_new);  // 0 for the first visible tile
                    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
                    for (int64_t j = 0; j < jend; j++) {
                        const float p = fast_exp(row[j] - m_new);
                        row[j] = p;
                        sum += p;
                    }
                    std::fill(row + jend, row + nk, 0.0f);
                    l[i] = l[i] * corr + sum;
                    m[i] = m_new;
                    if (corr != 1.0f) {
                        float* o = O + i * D;
#pragma omp simd
                        for (int64_t d = 0; d < D; d++) o[d] *= corr;
                    }
                }
                gemm_tile<true>(O, D, S, BK, 1, vp + s0 * ldk, ldk, nq, D, nk);  // O += P V
            }
            // Every row sees at least its own key, so l > 0.
            for (int64_t i = 0; i < nq; i++) {
                const float inv = 1.0f / l[i];
                float* o = out + ((b * T + i0 + i) * H + h) * D;
#pragma omp simd
                for (int64_t d = 0; d < D; d++) o[d] = O[i * D + d] * inv;
                lse[(b * H + h) * T + i0 + i] = m[i] + std::log(l[i]);
            }
        }
    }
}

void attention_backward(hb_context* ctx, float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse, const int32_t* segments,
                        int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t D, float scale) {
    // dout, q, out (B,T,H,D), k, v (B,T,KVH,D), lse (B,H,T), segments (B,T) or NULL
    // -> dq (B,T,H,D), dk, dv (B,T,KVH,D), all overwritten.
    // With P = exp(scale q.k - lse) and Di = sum_d dout*out of row i (= sum_j P_ij dP_ij):
    //   dv = P^T dout;  dP = dout v^T;  dS = P (dP - Di);  dq = scale dS k;  dk = scale dS^T q.
    // One task per (b, KV head) owns dk, dv of that head and dq of its H/KVH query heads: no races, and
    // each tile's gradient stays in the thread's scratch until its key block is done.
    const int64_t G = H / KVH, ldq = H * D, ldk = KVH * D;
    const int64_t nqb = (T + BQ - 1) / BQ, nkb = (T + BK - 1) / BK;
    const int64_t* first = segments ? first_keys(segments, B, T) : nullptr;
    const int nt = threads(ctx);
    // per thread: Kt, Vt (D,BK), P, dS (BQ,BK), dK, dV (BK,D), Di (G,T)
    const int64_t per_thread = 2 * padded(D * BK) + 2 * padded(BQ * BK) + 2 * padded(BK * D) + padded(G * T);
    float* scratch = scratch_floats((size_t)(nt * per_thread));
    const int64_t tasks = B * KVH;

#pragma omp parallel num_threads(nt)
    {
        float* Kt = scratch + thread_id() * per_thread;
        float* Vt = Kt + padded(D * BK);
        float* P = Vt + padded(D * BK);
        float* dS = P + padded(BQ * BK);
        float* dK = dS + padded(BQ * BK);
        float* dV = dK + padded(BK * D);
        float* Di = dV + padded(BK * D);
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < tasks; task++) {
            const int64_t b = task / KVH, kvh = task % KVH;
            const float* kp = k + (b * T * KVH + kvh) * D;
            const float* vp = v + (b * T * KVH + kvh) * D;
            const int32_t* seg = segments ? segments + b * T : nullptr;
            for (int64_t g = 0; g < G; g++) {
                const int64_t h = kvh * G + g;
                for (int64_t t = 0; t < T; t++) {
                    const int64_t off = ((b * T + t) * H + h) * D;
                    float di = 0.0f;
#pragma omp simd reduction(+ : di)
                    for (int64_t d = 0; d < D; d++) di += dout[off + d] * out[off + d];
                    Di[g * T + t] = di;
                    std::fill_n(dq + off, D, 0.0f);
                }
            }
            for (int64_t kb = 0; kb < nkb; kb++) {
                const int64_t s0 = kb * BK, nk = std::min(BK, T - s0);
                pack_transposed(Kt, kp + s0 * ldk, ldk, nk, D);
                pack_transposed(Vt, vp + s0 * ldk, ldk, nk, D);
                std::fill_n(dK, nk * D, 0.0f);
                std::fill_n(dV, nk * D, 0.0f);
                for (int64_t g = 0; g < G; g++) {
                    const int64_t h = kvh * G + g;
                    const float* lse_h = lse + (b * H + h) * T;
                    for (int64_t qb = s0 / BQ; qb < nqb; qb++) {  // earlier queries cannot see these keys
                        if (first && first[b * nqb + qb] >= s0 + nk) continue;  // nor other segments
                        const int64_t i0 = qb * BQ, nq = std::min(BQ, T - i0);
                        const int64_t row0 = ((b * T + i0) * H + h) * D;
                        const float* qblk = q + row0;
                        const float* doblk = dout + row0;
                        gemm_tile<false>(P, BK, qblk, ldq, 1, Kt, BK, nq, nk, D);  // S = Q K^T
                        for (int64_t i = 0; i < nq; i++) {
                            float* row = P + i * BK;
                            const int64_t jend = mask_row(row, nk, i0 + i, s0, scale, seg);
                            const float L = lse_h[i0 + i];
#pragma omp simd
                            for (int64_t j = 0; j < jend; j++) row[j] = fast_exp(row[j] - L);
                            std::fill(row + jend, row + nk, 0.0f);
                        }
                        gemm_tile<true>(dV, D, P, 1, BK, doblk, ldq, nk, D, nq);      // dV += P^T dO
                        gemm_tile<false>(dS, BK, doblk, ldq, 1, Vt, BK, nq, nk, D);   // dP = dO V^T
                        for (int64_t i = 0; i < nq; i++) {
                            const float di = Di[g * T + i0 + i];
                            const float* p = P + i * BK;
                            float* ds = dS + i * BK;
#pragma omp simd
                            for (int64_t j = 0; j < nk; j++) ds[j] = p[j] * (ds[j] - di) * scale;
                        }
                        gemm_tile<true>(dq + row0, ldq, dS, BK, 1, kp + s0 * ldk, ldk, nq, D, nk);  // dQ += dS K
                        gemm_tile<true>(dK, D, dS, 1, BK, qblk, ldq, nk, D, nq);                     // dK += dS^T Q
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

}  // namespace hb::cpu
