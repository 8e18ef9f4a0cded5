// attention-tc-kernels.cuh — tensor-core flash attention (FlashAttention-2 scheme) for the bf16-storage ops
// hb_attention_forward_bf16 / hb_attention_backward_bf16 at head dims 64 and 128, on WMMA (nvcuda::wmma: bf16
// 16x16x16 tiles, fp32 accumulators; sm_80+). attention.cu launches it; docs/cuda.md has the design note.
//
// Semantics are those of attention-kernels.cuh (causal GQA, optional segments, lse = natural log-sum-exp of the
// scaled scores, out rounded to bf16 once; backward with Di = rowsum(dout * out), P recomputed from lse, dq
// accumulated with fp32 atomicAdd into a zeroed dq, dk / dv written once per key tile). What differs is precision:
// the products P V, dS K, dS^T Q, P^T dO take bf16 operands (P, dS and dout are rounded to bf16 for them), with fp32
// accumulation; scores and dP are fp32 sums of exact bf16 products.
//
// Layout-agnostic by construction: the element order of a WMMA fragment is unspecified, so no code here assumes which
// lane holds which element. Every elementwise step on scores (scale, mask, exp, row statistics, dS = P (dP - Di))
// stores the fp32 accumulator to shared memory, works on rows with plain threads, and writes bf16 P / dS to shared
// memory for load_matrix_sync. The only direct fragment operation is fill_fragment. That is also what lets
// tests/native/cuda-emulator.hpp (whose wmma shim gives each lane the whole tile) run these kernels on CPU threads.
//
// Tiling (kThreads = 128 = 4 warps; tiles of 64 query and 64 key rows; each warp owns 16 rows):
//  forward  — block (query tile, h, b). Q fragments of the warp's 16 rows stay in registers; K and V tiles stream
//             through shared memory up to the causal limit. S = Q K^T (fp32) -> shared -> row max / exp / row sum by
//             lane pairs (two lanes per row, combined with one shuffle) -> bf16 P -> O += P V into accumulator
//             fragments that live across key tiles. Online softmax with a lazy rescale: a row keeps its reference
//             max m until a tile's max exceeds it by more than `rescale_threshold` (8 in attention.cu: P <= e^8, no
//             overflow risk in fp32 and no loss of bf16 precision, which is relative); only then is O rescaled, by
//             storing the warp's O fragments to shared memory, scaling rows, and loading them back. out = O / l and
//             lse = m + log l are exact for any reference m.
//  backward — block (key tile, kvh, b), looping over the H/KVH query heads of the group and the query tiles from
//             the key tile on (causal). Warp w owns key rows 16w..16w+15: S^T = K_w Q^T and dP^T = V_w dO^T (fp32,
//             through shared memory), P^T = exp(scale S^T - lse), dS^T = P^T (dP^T - Di) as bf16 in shared memory;
//             dV_w += P^T dO and dK_w += dS^T Q accumulate in fragments across the whole loop (written once at the
//             end, dK scaled there). Then, after a block barrier, warp w computes dQ rows 16w.. of the query tile =
//             dS K (dS read as the col-major view of dS^T) in 64-column chunks, stores them to shared memory and adds
//             them to dq with fp32 atomicAdd.
//  Diagonal tiles skip the 16x16 sub-tiles that are entirely above the diagonal (their P / dS are zero anyway).
//
// Global memory is read and written with 16-byte vectors: q, k, v, out, dout, dk, dv must be 16-byte aligned (the
// launcher checks and otherwise uses the CUDA-core kernels); row strides (H*D, KVH*D) are multiples of 8 elements.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <mma.h>
#endif

#include "bf16.hpp"
#include "cuda-device.cuh"

namespace hb::cuda::attention_tc_kernels {

namespace wmma = nvcuda::wmma;

constexpr int kThreads = 128;  // 4 warps
constexpr int kWarps = kThreads / 32;
constexpr int kBQ = 64;        // query rows per tile (16 per warp)
constexpr int kBK = 64;        // key rows per tile (16 per warp in the backward)
constexpr int kPad = 8;        // bf16 row padding (16 bytes) against bank conflicts; keeps ldm a multiple of 8
constexpr int kLDS = kBK + 4;  // row stride of the fp32 score scratch (a multiple of 4 floats)
constexpr int kLDP = kBK + kPad;  // row stride of the bf16 P / dS tiles
constexpr unsigned kFullMask = 0xffffffffu;
static_assert(kBQ == kWarps * 16 && kBK == kWarps * 16, "one 16-row strip per warp");
static_assert(kBQ == kBK, "the backward's causal start (q0 = k0) and the diagonal skips assume square tiles");

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major>;
using FragAcol = wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::col_major>;
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major>;
using FragBcol = wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

// Shared memory (bytes). Every section is a multiple of 32 bytes, so every fragment pointer is 256-bit aligned.
constexpr size_t forward_smem_bytes(int D) {
    return sizeof(float) * (size_t)kBQ * kLDS +                         // Ss: scores / O staging
           sizeof(uint16_t) * ((size_t)(kBQ + 2 * kBK) * (D + kPad) +   // Qs, Ks, Vs
                               (size_t)kBQ * kLDP) +                    // Ps
           sizeof(int) * (size_t)(kBQ + kBK);                           // segq, segk
}
constexpr size_t backward_smem_bytes(int D) {
    return sizeof(float) * ((size_t)kBK * kLDS + 2 * (size_t)kBQ) +    // Sc: S^T / dP^T / dQ / dK dV staging; lse, Di
           sizeof(uint16_t) * ((size_t)(2 * kBK + 2 * kBQ) * (D + kPad) +  // Ks, Vs, Qs, dOs
                               2 * (size_t)kBK * kLDP) +                   // P^T, dS^T
           sizeof(int) * (size_t)(kBQ + kBK);                              // segq, segk
}

__device__ __forceinline__ const __nv_bfloat16* bf(const uint16_t* p) {
    return reinterpret_cast<const __nv_bfloat16*>(p);
}
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {  // element at the lower address in the low half
    return (uint32_t)f32_to_bf16(lo) | ((uint32_t)f32_to_bf16(hi) << 16);
}

// Rows row0.. row0+63 of a (T, stride) bf16 tensor into a (64, D + kPad) shared tile; rows >= T are zero.
// strip (16 x 64 fp32, row stride kLDS) = A (16 x D: the warp's rows) x B^T (B: 64 x D), for the 16-column sub-tiles
// n >= n_begin only (the others are causally invisible and never read). The backward's S^T = K_w Q^T and
// dP^T = V_w dO^T.
template <int D>
__device__ __forceinline__ void strip_times_transpose(float* strip, const uint16_t* a, const uint16_t* b, int n_begin) {
    constexpr int LD = D + kPad, NT = D / 16, NS = kBQ / 16;
    FragC sf[NS];
#pragma unroll
    for (int n = 0; n < NS; n++) wmma::fill_fragment(sf[n], 0.0f);
#pragma unroll
    for (int kk = 0; kk < NT; kk++) {
        FragA af;
        wmma::load_matrix_sync(af, bf(a + kk * 16), LD);
#pragma unroll
        for (int n = 0; n < NS; n++) {
            if (n >= n_begin) {
                FragBcol bt;  // B^T: element (d, row) at row * LD + d
                wmma::load_matrix_sync(bt, bf(b + n * 16 * LD + kk * 16), LD);
                wmma::mma_sync(sf[n], af, bt, sf[n]);
            }
        }
    }
#pragma unroll
    for (int n = 0; n < NS; n++)
        if (n >= n_begin) wmma::store_matrix_sync(strip + n * 16, sf[n], kLDS, wmma::mem_row_major);
}

template <int D>
__device__ __forceinline__ void load_tile(uint16_t* dst, const uint16_t* src, int64_t stride, int row0, int T) {
    constexpr int C8 = D / 8;
    for (int i = threadIdx.x; i < 64 * C8; i += kThreads) {
        const int r = i / C8, c = (i - r * C8) * 8, t = row0 + r;
        uint4 val{0u, 0u, 0u, 0u};
        if (t < T) val = *reinterpret_cast<const uint4*>(src + (int64_t)t * stride + c);
        *reinterpret_cast<uint4*>(dst + r * (D + kPad) + c) = val;
    }
}
// The same for an fp32 tensor, rounded to bf16 (dout).
template <int D>
__device__ __forceinline__ void load_tile_f32(uint16_t* dst, const float* src, int64_t stride, int row0, int T) {
    constexpr int C8 = D / 8;
    for (int i = threadIdx.x; i < 64 * C8; i += kThreads) {
        const int r = i / C8, c = (i - r * C8) * 8, t = row0 + r;
        uint4 val{0u, 0u, 0u, 0u};
        if (t < T) {
            const float4 a = *reinterpret_cast<const float4*>(src + (int64_t)t * stride + c);
            const float4 b = *reinterpret_cast<const float4*>(src + (int64_t)t * stride + c + 4);
            val = uint4{pack_bf16(a.x, a.y), pack_bf16(a.z, a.w), pack_bf16(b.x, b.y), pack_bf16(b.z, b.w)};
        }
        *reinterpret_cast<uint4*>(dst + r * (D + kPad) + c) = val;
    }
}

// Can query t (tile row r) see key s (tile row c)? The caller has checked t < T; s <= t then implies s < T.
__device__ __forceinline__ bool visible(int t, int s, const int32_t* segments, const int* segq, int r,
                                        const int* segk, int c) {
    return s <= t && (segments == nullptr || segk[c] == segq[r]);
}

template <int D>
__global__ void __launch_bounds__(kThreads)
    attention_tc_forward_kernel(uint16_t* out, float* lse, const uint16_t* q, const uint16_t* k, const uint16_t* v,
                                const int32_t* segments, int T, int H, int KVH, float scale,
                                float rescale_threshold) {
    static_assert(D % 64 == 0, "O is staged through shared memory in 64-column chunks");
    constexpr int LD = D + kPad;
    constexpr int NT = D / 16;  // 16-column tiles of the head dim

    HB_DYNAMIC_SHARED(smem);
    float* Ss = smem;                                              // (kBQ, kLDS)
    uint16_t* Qs = reinterpret_cast<uint16_t*>(Ss + kBQ * kLDS);  // (kBQ, LD)
    uint16_t* Ks = Qs + kBQ * LD;                                  // (kBK, LD)
    uint16_t* Vs = Ks + kBK * LD;                                  // (kBK, LD)
    uint16_t* Ps = Vs + kBK * LD;                                  // (kBQ, kLDP)
    int* segq = reinterpret_cast<int*>(Ps + kBQ * kLDP);           // (kBQ)
    int* segk = segq + kBQ;                                        // (kBK)

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int b = blockIdx.z, h = blockIdx.y;
    const int q0 = (gridDim.x - 1 - blockIdx.x) * kBQ;  // the last query tiles see the most keys: start them first
    const int kvh = h / (H / KVH);
    const int64_t q_stride = (int64_t)H * D, kv_stride = (int64_t)KVH * D;  // between consecutive tokens
    const uint16_t* qb = q + (int64_t)b * T * q_stride + (int64_t)h * D;
    const uint16_t* kb = k + (int64_t)b * T * kv_stride + (int64_t)kvh * D;
    const uint16_t* vb = v + (int64_t)b * T * kv_stride + (int64_t)kvh * D;
    const int32_t* segb = segments != nullptr ? segments + (int64_t)b * T : nullptr;

    load_tile<D>(Qs, qb, q_stride, q0, T);
    if (tid < kBQ) segq[tid] = (segb != nullptr && q0 + tid < T) ? segb[q0 + tid] : 0;
    __syncthreads();

    FragA qf[NT];
#pragma unroll
    for (int kk = 0; kk < NT; kk++) wmma::load_matrix_sync(qf[kk], bf(Qs + warp * 16 * LD + kk * 16), LD);
    FragC of[NT];
#pragma unroll
    for (int n = 0; n < NT; n++) wmma::fill_fragment(of[n], 0.0f);

    // Row work: lanes 2r and 2r+1 own row r of the warp's strip, columns 2j + half (scores) or half*32.. (O).
    const int r = lane >> 1, half = lane & 1, row = warp * 16 + r, t = q0 + row;
    float* srow = Ss + row * kLDS;
    float* swarp = Ss + warp * 16 * kLDS;
    uint16_t* prow = Ps + row * kLDP;
    float m = -INFINITY, l = 0.0f;  // reference max and sum of exp(score - m) of the row

    const int q_end = q0 + kBQ < T ? q0 + kBQ : T;  // causal: keys of this tile's queries are all < q_end
    for (int k0 = 0; k0 < q_end; k0 += kBK) {
        __syncthreads();  // the previous K / V tile is no longer read
        load_tile<D>(Ks, kb, kv_stride, k0, T);
        load_tile<D>(Vs, vb, kv_stride, k0, T);
        if (tid < kBK) segk[tid] = (segb != nullptr && k0 + tid < T) ? segb[k0 + tid] : 0;
        __syncthreads();

        // Diagonal tile: key sub-tiles after the warp's own rows are entirely masked.
        const int n_end = k0 == q0 ? warp + 1 : kBK / 16;
        {
            FragC sf[kBK / 16];
#pragma unroll
            for (int n = 0; n < kBK / 16; n++) wmma::fill_fragment(sf[n], 0.0f);
#pragma unroll
            for (int kk = 0; kk < NT; kk++) {
#pragma unroll
                for (int n = 0; n < kBK / 16; n++) {
                    if (n < n_end) {
                        FragBcol kf;  // K^T: element (d, key) at key * LD + d
                        wmma::load_matrix_sync(kf, bf(Ks + n * 16 * LD + kk * 16), LD);
                        wmma::mma_sync(sf[n], qf[kk], kf, sf[n]);
                    }
                }
            }
#pragma unroll
            for (int n = 0; n < kBK / 16; n++)
                if (n < n_end) wmma::store_matrix_sync(swarp + n * 16, sf[n], kLDS, wmma::mem_row_major);
        }
        __syncwarp();

        // Scale and mask (in place), the tile's row max.
        float mt = -INFINITY;
#pragma unroll 8
        for (int j = 0; j < kBK / 2; j++) {
            const int c = 2 * j + half;
            const bool ok = t < T && visible(t, k0 + c, segb, segq, row, segk, c);
            const float x = ok ? srow[c] * scale : -INFINITY;  // unstored (skipped) sub-tiles are never read
            srow[c] = x;
            mt = fmaxf(mt, x);
        }
        mt = fmaxf(mt, __shfl_xor_sync(kFullMask, mt, 1));
        // Lazy online softmax: move the reference max only when the row had none yet (O and l are zero then) or the
        // tile's max exceeds it by more than the threshold (then O and l are rescaled by alpha).
        float alpha = 1.0f;
        bool rescale = false;
        if (mt > m) {
            if (m == -INFINITY) {
                m = mt;
            } else if (mt > m + rescale_threshold) {
                alpha = expf(m - mt);
                m = mt;
                rescale = true;
            }
        }
        float psum = 0.0f;
#pragma unroll 8
        for (int j = 0; j < kBK / 2; j++) {
            const int c = 2 * j + half;
            const float x = srow[c];
            const float p = x == -INFINITY ? 0.0f : expf(x - m);  // also: rows that have seen no key keep m = -inf
            prow[c] = f32_to_bf16(p);
            psum += p;
        }
        psum += __shfl_xor_sync(kFullMask, psum, 1);
        l = l * alpha + psum;
        float any = rescale ? 1.0f : 0.0f;  // warp-uniform decision
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) any = fmaxf(any, __shfl_xor_sync(kFullMask, any, o));
        __syncwarp();  // P written; the scores are no longer read (Ss may be reused for O)

        if (any != 0.0f) {
#pragma unroll
            for (int c0 = 0; c0 < NT; c0 += 4) {
#pragma unroll
                for (int i = 0; i < 4; i++)
                    wmma::store_matrix_sync(swarp + i * 16, of[c0 + i], kLDS, wmma::mem_row_major);
                __syncwarp();
#pragma unroll 8
                for (int j = 0; j < 32; j++) srow[half * 32 + j] *= alpha;
                __syncwarp();
#pragma unroll
                for (int i = 0; i < 4; i++)
                    wmma::load_matrix_sync(of[c0 + i], swarp + i * 16, kLDS, wmma::mem_row_major);
                __syncwarp();  // loaded before the next chunk overwrites the staging area
            }
        }

        // O += P V over the key sub-tiles that can be visible.
#pragma unroll
        for (int kk = 0; kk < kBK / 16; kk++) {
            if (kk < n_end) {
                FragA pf;
                wmma::load_matrix_sync(pf, bf(Ps + warp * 16 * kLDP + kk * 16), kLDP);
#pragma unroll
                for (int n = 0; n < NT; n++) {
                    FragB vf;
                    wmma::load_matrix_sync(vf, bf(Vs + kk * 16 * LD + n * 16), LD);
                    wmma::mma_sync(of[n], pf, vf, of[n]);
                }
            }
        }
    }

    // out = O / l, rounded to bf16, through the staging area in 64-column chunks; every valid row sees at least
    // itself, so l > 0.
    const float inv = t < T ? 1.0f / l : 0.0f;
    uint16_t* orow = out + ((int64_t)b * T + t) * q_stride + (int64_t)h * D;
#pragma unroll
    for (int c0 = 0; c0 < NT; c0 += 4) {
#pragma unroll
        for (int i = 0; i < 4; i++) wmma::store_matrix_sync(swarp + i * 16, of[c0 + i], kLDS, wmma::mem_row_major);
        __syncwarp();
        if (t < T) {
            const float* src = srow + half * 32;
            uint4* dst = reinterpret_cast<uint4*>(orow + c0 * 16 + half * 32);
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const float* e = src + 8 * j;
                dst[j] = uint4{pack_bf16(e[0] * inv, e[1] * inv), pack_bf16(e[2] * inv, e[3] * inv),
                               pack_bf16(e[4] * inv, e[5] * inv), pack_bf16(e[6] * inv, e[7] * inv)};
            }
        }
        __syncwarp();
    }
    if (half == 0 && t < T) lse[((int64_t)b * H + h) * T + t] = m + logf(l);
}

template <int D>
__global__ void __launch_bounds__(kThreads)
    attention_tc_backward_kernel(float* dq, float* dk, float* dv, const float* dout, const uint16_t* q,
                                 const uint16_t* k, const uint16_t* v, const float* lse, const float* Di,
                                 const int32_t* segments, int T, int H, int KVH, float scale) {
    static_assert(D % 64 == 0, "dQ, dK, dV are staged through shared memory in 64-column chunks");
    constexpr int LD = D + kPad;
    constexpr int NT = D / 16;
    constexpr int NS = kBQ / 16;  // 16-column sub-tiles of a query tile

    HB_DYNAMIC_SHARED(smem);
    float* Sc = smem;                  // (kBK, kLDS) fp32 staging, one 16-row strip per warp
    float* lse_s = Sc + kBK * kLDS;    // (kBQ)
    float* Di_s = lse_s + kBQ;         // (kBQ)
    uint16_t* Ks = reinterpret_cast<uint16_t*>(Di_s + kBQ);  // (kBK, LD)
    uint16_t* Vs = Ks + kBK * LD;      // (kBK, LD)
    uint16_t* Qs = Vs + kBK * LD;      // (kBQ, LD)
    uint16_t* dOs = Qs + kBQ * LD;     // (kBQ, LD) dout rounded to bf16
    uint16_t* PTs = dOs + kBQ * LD;    // (kBK, kLDP) P^T
    uint16_t* dSTs = PTs + kBK * kLDP; // (kBK, kLDP) dS^T
    int* segq = reinterpret_cast<int*>(dSTs + kBK * kLDP);  // (kBQ)
    int* segk = segq + kBQ;                                  // (kBK)

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int b = blockIdx.z, kvh = blockIdx.y;
    const int k0 = blockIdx.x * kBK;  // early key tiles meet the most queries: they start first
    const int G = H / KVH;
    const int64_t q_stride = (int64_t)H * D, kv_stride = (int64_t)KVH * D;
    const uint16_t* kb = k + (int64_t)b * T * kv_stride + (int64_t)kvh * D;
    const uint16_t* vb = v + (int64_t)b * T * kv_stride + (int64_t)kvh * D;
    const int32_t* segb = segments != nullptr ? segments + (int64_t)b * T : nullptr;

    load_tile<D>(Ks, kb, kv_stride, k0, T);
    load_tile<D>(Vs, vb, kv_stride, k0, T);
    if (tid < kBK) segk[tid] = (segb != nullptr && k0 + tid < T) ? segb[k0 + tid] : 0;

    FragC dkf[NT], dvf[NT];
#pragma unroll
    for (int n = 0; n < NT; n++) {
        wmma::fill_fragment(dkf[n], 0.0f);
        wmma::fill_fragment(dvf[n], 0.0f);
    }

    // Row work: lanes 2r and 2r+1 own key row c of the warp's strip; query columns 2j + half.
    const int r = lane >> 1, half = lane & 1, c = warp * 16 + r, s = k0 + c;
    float* srow = Sc + c * kLDS;
    float* swarp = Sc + warp * 16 * kLDS;
    uint16_t* prow = PTs + c * kLDP;
    uint16_t* dsrow = dSTs + c * kLDP;

    for (int g = 0; g < G; g++) {
        const int h = kvh * G + g;
        const uint16_t* qb = q + (int64_t)b * T * q_stride + (int64_t)h * D;
        const float* dob = dout + (int64_t)b * T * q_stride + (int64_t)h * D;
        const float* lse_b = lse + ((int64_t)b * H + h) * T;
        const float* Di_b = Di + ((int64_t)b * H + h) * T;
        float* dqb = dq + (int64_t)b * T * q_stride + (int64_t)h * D;

        for (int q0 = k0; q0 < T; q0 += kBQ) {  // causal: queries before k0 see no key of this tile
            __syncthreads();  // the previous query tile is no longer read (first pass: Ks, Vs, segk written)
            load_tile<D>(Qs, qb, q_stride, q0, T);
            load_tile_f32<D>(dOs, dob, q_stride, q0, T);
            if (tid < kBQ) {
                const int tt = q0 + tid;
                lse_s[tid] = tt < T ? lse_b[tt] : 0.0f;
                Di_s[tid] = tt < T ? Di_b[tt] : 0.0f;
                segq[tid] = (segb != nullptr && tt < T) ? segb[tt] : 0;
            }
            __syncthreads();

            // Diagonal tile: query sub-tiles before the warp's keys see none of them.
            const int n_begin = q0 == k0 ? warp : 0;

            // S^T (16 keys x 64 queries) = K_w Q^T
            strip_times_transpose<D>(swarp, Ks + warp * 16 * LD, Qs, n_begin);
            __syncwarp();
            float p[kBQ / 2];  // this lane's P^T entries, fp32, for dS
#pragma unroll
            for (int j = 0; j < kBQ / 2; j++) {
                const int qc = 2 * j + half, t = q0 + qc;
                const bool ok = t < T && visible(t, s, segb, segq, qc, segk, c);
                p[j] = ok ? expf(srow[qc] * scale - lse_s[qc]) : 0.0f;  // unstored sub-tiles are never read
                prow[qc] = f32_to_bf16(p[j]);
            }
            __syncwarp();  // S^T read: the strip is reused for dP^T

            // dP^T (16 keys x 64 queries) = V_w dO^T
            strip_times_transpose<D>(swarp, Vs + warp * 16 * LD, dOs, n_begin);
            __syncwarp();
#pragma unroll
            for (int j = 0; j < kBQ / 2; j++) {
                const int qc = 2 * j + half;
                const float ds = p[j] == 0.0f ? 0.0f : p[j] * (srow[qc] - Di_s[qc]);
                dsrow[qc] = f32_to_bf16(ds);
            }
            __syncwarp();  // P^T and dS^T of the strip written

            // dV_w += P^T dO;  dK_w += dS^T Q  (scale applied at the end)
#pragma unroll
            for (int kk = 0; kk < NS; kk++) {
                if (kk >= n_begin) {
                    FragA pf, df;
                    wmma::load_matrix_sync(pf, bf(PTs + warp * 16 * kLDP + kk * 16), kLDP);
                    wmma::load_matrix_sync(df, bf(dSTs + warp * 16 * kLDP + kk * 16), kLDP);
#pragma unroll
                    for (int n = 0; n < NT; n++) {
                        FragB bo, bq;
                        wmma::load_matrix_sync(bo, bf(dOs + kk * 16 * LD + n * 16), LD);
                        wmma::mma_sync(dvf[n], pf, bo, dvf[n]);
                        wmma::load_matrix_sync(bq, bf(Qs + kk * 16 * LD + n * 16), LD);
                        wmma::mma_sync(dkf[n], df, bq, dkf[n]);
                    }
                }
            }
            __syncthreads();  // dS^T of every warp written

            // dQ rows 16w.. of the query tile += scale * dS K, dS (query, key) read from dS^T as col-major.
            const int kk_end = q0 == k0 ? warp + 1 : kBK / 16;  // diagonal: later key sub-tiles are masked
            const int rq = warp * 16 + r, tq = q0 + rq;          // this lane's query row for the atomics
#pragma unroll
            for (int c0 = 0; c0 < NT; c0 += 4) {
                FragC qa[4];
#pragma unroll
                for (int i = 0; i < 4; i++) wmma::fill_fragment(qa[i], 0.0f);
#pragma unroll
                for (int kk = 0; kk < kBK / 16; kk++) {
                    if (kk < kk_end) {
                        FragAcol af;
                        wmma::load_matrix_sync(af, bf(dSTs + kk * 16 * kLDP + warp * 16), kLDP);
#pragma unroll
                        for (int i = 0; i < 4; i++) {
                            FragB kf;
                            wmma::load_matrix_sync(kf, bf(Ks + kk * 16 * LD + (c0 + i) * 16), LD);
                            wmma::mma_sync(qa[i], af, kf, qa[i]);
                        }
                    }
                }
#pragma unroll
                for (int i = 0; i < 4; i++) wmma::store_matrix_sync(swarp + i * 16, qa[i], kLDS, wmma::mem_row_major);
                __syncwarp();
                if (tq < T) {
                    const float* src = Sc + rq * kLDS + half * 32;
                    float* dst = dqb + (int64_t)tq * q_stride + c0 * 16 + half * 32;
#pragma unroll 8
                    for (int j = 0; j < 32; j++) atomicAdd(dst + j, src[j] * scale);
                }
                __syncwarp();
            }
        }
    }

    // dK (scaled) and dV of the tile's rows < T, written once, through the staging strip.
    float* dkrow = dk + ((int64_t)b * T + s) * kv_stride + (int64_t)kvh * D;
    float* dvrow = dv + ((int64_t)b * T + s) * kv_stride + (int64_t)kvh * D;
#pragma unroll
    for (int which = 0; which < 2; which++) {
        float* dst_row = which == 0 ? dvrow : dkrow;
        const float mul = which == 0 ? 1.0f : scale;
#pragma unroll
        for (int c0 = 0; c0 < NT; c0 += 4) {
#pragma unroll
            for (int i = 0; i < 4; i++)
                wmma::store_matrix_sync(swarp + i * 16, which == 0 ? dvf[c0 + i] : dkf[c0 + i], kLDS,
                                        wmma::mem_row_major);
            __syncwarp();
            if (s < T) {
                const float* src = srow + half * 32;
                float4* dst = reinterpret_cast<float4*>(dst_row + c0 * 16 + half * 32);
#pragma unroll
                for (int j = 0; j < 8; j++)
                    dst[j] = float4{src[4 * j] * mul, src[4 * j + 1] * mul, src[4 * j + 2] * mul, src[4 * j + 3] * mul};
            }
            __syncwarp();
        }
    }
}

}  // namespace hb::cuda::attention_tc_kernels
