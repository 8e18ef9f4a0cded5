// attention-kernels.cuh — the device code of attention.cu (see there for the design). It uses only CUDA
// built-ins and cuda-device.cuh, so tests/native/test-cuda-emulated.cpp can compile it as host C++ and run
// it on CPU threads against a naive reference: the one check of this code possible without a GPU.
//
// The kernels are templates over the storage type E of q, k, v, out: float, or bf16 (uint16_t) for the _bf16
// ops. Every load widens to fp32 (into shared memory or a register) and the forward's store of out rounds to bf16;
// all arithmetic is the fp32 kernel's. dout, lse, Di, dq, dk, dv are fp32 in both.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "bf16.hpp"
#include "cuda-device.cuh"

namespace hb::cuda::attention_kernels {

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(uint16_t x) { return bf16_to_f32(x); }
__device__ __forceinline__ void store_f32(float* p, float x) { *p = x; }
__device__ __forceinline__ void store_f32(uint16_t* p, float x) { *p = f32_to_bf16(x); }

constexpr int kThreads = 128;
constexpr int kTPR = 4;   // threads per query row (forward) or key row (backward)
constexpr int kBQ = 32;   // query rows per tile
constexpr int kBK = 32;   // key rows per tile
constexpr int kPS = kBK + 1;  // padded row stride of the probability tiles
constexpr unsigned kFullMask = 0xffffffffu;
static_assert(kThreads == kBQ * kTPR && kThreads == kBK * kTPR, "one row per group of kTPR threads");
static_assert(kBQ == kBK, "the backward's causal start (q0 = k0) assumes square tiles");
static_assert(kTPR == 4, "row reductions shuffle over lane masks 1 and 2");

constexpr size_t forward_smem_bytes(int dmax) {
    return sizeof(float) * ((size_t)kBQ * (dmax + 1) + 2 * (size_t)kBK * (dmax + 1) + (size_t)kBQ * kPS) +
           sizeof(int) * (kBQ + kBK);
}
constexpr size_t backward_smem_bytes(int dmax) {
    return sizeof(float) * (2 * (size_t)kBK * (dmax + 1) + 2 * (size_t)kBQ * (dmax + 1) + 2 * (size_t)kBQ * kPS +
                            2 * (size_t)kBQ) +
           sizeof(int) * (kBQ + kBK);
}

// Can query t (tile row r) see key s (tile row c)? The caller has checked t < T; s <= t then implies s < T.
__device__ __forceinline__ bool visible(int t, int s, const int32_t* segments, const int* segq, int r,
                                        const int* segk, int c) {
    return s <= t && (segments == nullptr || segk[c] == segq[r]);
}

template <int DMAX, bool EXACT, typename E>
__global__ void __launch_bounds__(kThreads)
    attention_forward_kernel(E* out, float* lse, const E* q, const E* k, const E* v, const int32_t* segments, int T,
                             int H, int KVH, int D_runtime, float scale) {
    constexpr int LD = DMAX + 1;
    constexpr int DPT = DMAX / kTPR;  // output columns per thread
    constexpr int KPT = kBK / kTPR;   // scores per thread per key tile
    const int D = EXACT ? DMAX : D_runtime;

    HB_DYNAMIC_SHARED(smem);
    float* Qs = smem;             // (kBQ, LD)
    float* Ks = Qs + kBQ * LD;    // (kBK, LD)
    float* Vs = Ks + kBK * LD;    // (kBK, LD)
    float* Ps = Vs + kBK * LD;    // (kBQ, kPS) probabilities of the current key tile
    int* segq = reinterpret_cast<int*>(Ps + kBQ * kPS);  // (kBQ)
    int* segk = segq + kBQ;                               // (kBK)

    const int tid = threadIdx.x, row = tid / kTPR, sub = tid % kTPR;
    const int b = blockIdx.z, h = blockIdx.y;
    const int q0 = (gridDim.x - 1 - blockIdx.x) * kBQ;  // the last query tiles see the most keys: start them first
    const int kvh = h / (H / KVH);
    const int t = q0 + row;
    const int64_t q_stride = (int64_t)H * D, kv_stride = (int64_t)KVH * D;  // between consecutive tokens
    const E* qb = q + (int64_t)b * T * q_stride + (int64_t)h * D;
    const E* kb = k + (int64_t)b * T * kv_stride + (int64_t)kvh * D;
    const E* vb = v + (int64_t)b * T * kv_stride + (int64_t)kvh * D;
    const int32_t* segb = segments != nullptr ? segments + (int64_t)b * T : nullptr;

    for (int i = tid; i < kBQ * D; i += kThreads) {
        const int r = i / D, d = i - r * D, tt = q0 + r;
        Qs[r * LD + d] = tt < T ? to_f32(qb[tt * q_stride + d]) : 0.0f;
    }
    if (tid < kBQ) segq[tid] = (segb != nullptr && q0 + tid < T) ? segb[q0 + tid] : 0;

    float acc[DPT];
#pragma unroll
    for (int jj = 0; jj < DPT; jj++) acc[jj] = 0.0f;
    float m = -INFINITY, l = 0.0f;  // running max and sum of exp of the row

    const int q_end = q0 + kBQ < T ? q0 + kBQ : T;  // causal: keys of this tile's queries are all < q_end
    for (int k0 = 0; k0 < q_end; k0 += kBK) {
        __syncthreads();  // the previous tile is no longer read (first pass: Qs and segq are written)
        for (int i = tid; i < kBK * D; i += kThreads) {
            const int c = i / D, d = i - c * D, s = k0 + c;
            Ks[c * LD + d] = s < T ? to_f32(kb[s * kv_stride + d]) : 0.0f;
            Vs[c * LD + d] = s < T ? to_f32(vb[s * kv_stride + d]) : 0.0f;
        }
        if (tid < kBK) segk[tid] = (segb != nullptr && k0 + tid < T) ? segb[k0 + tid] : 0;
        __syncthreads();

        float sc[KPT];
#pragma unroll
        for (int j = 0; j < KPT; j++) sc[j] = 0.0f;
        for (int d = 0; d < D; d++) {
            const float qd = Qs[row * LD + d];
#pragma unroll
            for (int j = 0; j < KPT; j++) sc[j] += qd * Ks[(sub + kTPR * j) * LD + d];
        }
        float mt = -INFINITY;
#pragma unroll
        for (int j = 0; j < KPT; j++) {
            const int c = sub + kTPR * j;
            const bool ok = t < T && visible(t, k0 + c, segb, segq, row, segk, c);
            sc[j] = ok ? sc[j] * scale : -INFINITY;
            mt = fmaxf(mt, sc[j]);
        }
        mt = fmaxf(mt, __shfl_xor_sync(kFullMask, mt, 1));
        mt = fmaxf(mt, __shfl_xor_sync(kFullMask, mt, 2));
        const float m_new = fmaxf(m, mt);
        // While a row has seen no visible key, m_new is -inf and exp(-inf - -inf) would be NaN.
        const float alpha = m_new == -INFINITY ? 1.0f : expf(m - m_new);
        float psum = 0.0f;
#pragma unroll
        for (int j = 0; j < KPT; j++) {
            const float p = sc[j] == -INFINITY ? 0.0f : expf(sc[j] - m_new);
            Ps[row * kPS + sub + kTPR * j] = p;
            psum += p;
        }
        psum += __shfl_xor_sync(kFullMask, psum, 1);
        psum += __shfl_xor_sync(kFullMask, psum, 2);
        l = l * alpha + psum;
        m = m_new;
#pragma unroll
        for (int jj = 0; jj < DPT; jj++) acc[jj] *= alpha;
        __syncthreads();  // Ps complete

        for (int c = 0; c < kBK; c++) {
            const float p = Ps[row * kPS + c];
#pragma unroll
            for (int jj = 0; jj < DPT; jj++) {
                const int d = sub + kTPR * jj;
                if (EXACT || d < D) acc[jj] += p * Vs[c * LD + d];
            }
        }
    }

    if (t < T) {  // every valid row sees at least itself, so l > 0
        const float inv = 1.0f / l;
        E* orow = out + ((int64_t)b * T + t) * q_stride + (int64_t)h * D;
#pragma unroll
        for (int jj = 0; jj < DPT; jj++) {
            const int d = sub + kTPR * jj;
            if (EXACT || d < D) store_f32(&orow[d], acc[jj] * inv);
        }
        if (sub == 0) lse[((int64_t)b * H + h) * T + t] = m + logf(l);
    }
}

// Di (B,H,T) = rowsum(dout * out) over D; one warp per (b, t, h) row of the (B,T,H,D) tensors. ROUND_DOUT: dout
// rounded to bf16 first, as the tensor-core backward (attention-tc-kernels.cuh) rounds it for its dP = dO V^T, so
// that dS = P (dP - Di) does not difference two rowsums taken with differently rounded dout.
template <typename E, bool ROUND_DOUT = false>
__global__ void attention_di_kernel(float* Di, const float* dout, const E* out, int64_t rows, int T, int H, int D) {
    const int64_t w = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    if (w >= rows) return;  // w is uniform across the warp: whole warps leave together
    const E* o = out + w * D;
    const float* g = dout + w * D;
    float acc = 0.0f;
    for (int i = lane; i < D; i += 32) acc += to_f32(o[i]) * (ROUND_DOUT ? bf16_to_f32(f32_to_bf16(g[i])) : g[i]);
    acc = warp_sum(acc);
    if (lane == 0) {
        const int64_t h = w % H, bt = w / H, t = bt % T, b = bt / T;
        Di[(b * H + h) * T + t] = acc;
    }
}

template <int DMAX, bool EXACT, typename E>
__global__ void __launch_bounds__(kThreads)
    attention_backward_kernel(float* dq, float* dk, float* dv, const float* dout, const E* q, const E* k, const E* v,
                              const float* lse, const float* Di, const int32_t* segments, int T, int H, int KVH,
                              int D_runtime, float scale) {
    constexpr int LD = DMAX + 1;
    constexpr int DPT = DMAX / kTPR;  // dK/dV (and dQ) columns per thread
    constexpr int QPT = kBQ / kTPR;   // query rows per thread in the score step
    const int D = EXACT ? DMAX : D_runtime;

    HB_DYNAMIC_SHARED(smem);
    float* Ks = smem;               // (kBK, LD)
    float* Vs = Ks + kBK * LD;      // (kBK, LD)
    float* Qs = Vs + kBK * LD;      // (kBQ, LD)
    float* dOs = Qs + kBQ * LD;     // (kBQ, LD)
    float* Ps = dOs + kBQ * LD;     // (kBQ, kPS)
    float* dSs = Ps + kBQ * kPS;    // (kBQ, kPS)
    float* lse_s = dSs + kBQ * kPS; // (kBQ)
    float* Di_s = lse_s + kBQ;      // (kBQ)
    int* segq = reinterpret_cast<int*>(Di_s + kBQ);  // (kBQ)
    int* segk = segq + kBQ;                           // (kBK)

    const int tid = threadIdx.x, c = tid / kTPR, sub = tid % kTPR;  // c: this thread's key row in the tile
    const int b = blockIdx.z, kvh = blockIdx.y;
    const int k0 = blockIdx.x * kBK;  // early key tiles meet the most queries: they start first
    const int G = H / KVH;
    const int s = k0 + c;
    const int64_t q_stride = (int64_t)H * D, kv_stride = (int64_t)KVH * D;
    const E* kb = k + (int64_t)b * T * kv_stride + (int64_t)kvh * D;
    const E* vb = v + (int64_t)b * T * kv_stride + (int64_t)kvh * D;
    const int32_t* segb = segments != nullptr ? segments + (int64_t)b * T : nullptr;

    for (int i = tid; i < kBK * D; i += kThreads) {
        const int cc = i / D, d = i - cc * D, ss = k0 + cc;
        Ks[cc * LD + d] = ss < T ? to_f32(kb[ss * kv_stride + d]) : 0.0f;
        Vs[cc * LD + d] = ss < T ? to_f32(vb[ss * kv_stride + d]) : 0.0f;
    }
    if (tid < kBK) segk[tid] = (segb != nullptr && k0 + tid < T) ? segb[k0 + tid] : 0;

    float dk_acc[DPT], dv_acc[DPT];
#pragma unroll
    for (int jj = 0; jj < DPT; jj++) dk_acc[jj] = dv_acc[jj] = 0.0f;

    for (int g = 0; g < G; g++) {
        const int h = kvh * G + g;
        const E* qb = q + (int64_t)b * T * q_stride + (int64_t)h * D;
        const float* dob = dout + (int64_t)b * T * q_stride + (int64_t)h * D;
        const float* lse_b = lse + ((int64_t)b * H + h) * T;
        const float* Di_b = Di + ((int64_t)b * H + h) * T;
        float* dqb = dq + (int64_t)b * T * q_stride + (int64_t)h * D;

        for (int q0 = k0; q0 < T; q0 += kBQ) {  // causal: queries before k0 see no key of this tile
            __syncthreads();  // the previous query tile is no longer read (first pass: Ks, Vs, segk written)
            for (int i = tid; i < kBQ * D; i += kThreads) {
                const int r = i / D, d = i - r * D, tt = q0 + r;
                Qs[r * LD + d] = tt < T ? to_f32(qb[tt * q_stride + d]) : 0.0f;
                dOs[r * LD + d] = tt < T ? dob[tt * q_stride + d] : 0.0f;
            }
            if (tid < kBQ) {
                const int tt = q0 + tid;
                lse_s[tid] = tt < T ? lse_b[tt] : 0.0f;
                Di_s[tid] = tt < T ? Di_b[tt] : 0.0f;
                segq[tid] = (segb != nullptr && tt < T) ? segb[tt] : 0;
            }
            __syncthreads();

            // Scores and dP for key c against query rows sub, sub+4, ...
            float sc[QPT], dp[QPT];
#pragma unroll
            for (int j = 0; j < QPT; j++) sc[j] = dp[j] = 0.0f;
            for (int d = 0; d < D; d++) {
                const float kd = Ks[c * LD + d], vd = Vs[c * LD + d];
#pragma unroll
                for (int j = 0; j < QPT; j++) {
                    const int r = sub + kTPR * j;
                    sc[j] += Qs[r * LD + d] * kd;
                    dp[j] += dOs[r * LD + d] * vd;
                }
            }
#pragma unroll
            for (int j = 0; j < QPT; j++) {
                const int r = sub + kTPR * j, t = q0 + r;
                const bool ok = t < T && visible(t, s, segb, segq, r, segk, c);
                const float p = ok ? expf(sc[j] * scale - lse_s[r]) : 0.0f;
                Ps[r * kPS + c] = p;
                dSs[r * kPS + c] = ok ? p * (dp[j] - Di_s[r]) : 0.0f;
            }
            __syncthreads();  // Ps and dSs complete

            // dV[c,:] += sum_r P[r,c] dO[r,:];  dK[c,:] += sum_r dS[r,c] Q[r,:]  (scale applied at the end)
            for (int r = 0; r < kBQ; r++) {
                const float p = Ps[r * kPS + c], ds = dSs[r * kPS + c];
#pragma unroll
                for (int jj = 0; jj < DPT; jj++) {
                    const int d = sub + kTPR * jj;
                    if (EXACT || d < D) {
                        dv_acc[jj] += p * dOs[r * LD + d];
                        dk_acc[jj] += ds * Qs[r * LD + d];
                    }
                }
            }

            // dQ[r,:] += scale * sum_c dS[r,c] K[c,:] for this thread's query row r = tid / kTPR.
            const int r = tid / kTPR, t = q0 + r;
            if (t < T) {
                float* dqrow = dqb + (int64_t)t * q_stride;
#pragma unroll
                for (int jj = 0; jj < DPT; jj++) {
                    const int d = sub + kTPR * jj;
                    if (EXACT || d < D) {
                        float a = 0.0f;
#pragma unroll 8
                        for (int cc = 0; cc < kBK; cc++) a += dSs[r * kPS + cc] * Ks[cc * LD + d];
                        atomicAdd(&dqrow[d], a * scale);
                    }
                }
            }
        }
    }

    if (s < T) {
        float* dkrow = dk + ((int64_t)b * T + s) * kv_stride + (int64_t)kvh * D;
        float* dvrow = dv + ((int64_t)b * T + s) * kv_stride + (int64_t)kvh * D;
#pragma unroll
        for (int jj = 0; jj < DPT; jj++) {
            const int d = sub + kTPR * jj;
            if (EXACT || d < D) {
                dkrow[d] = dk_acc[jj] * scale;
                dvrow[d] = dv_acc[jj];
            }
        }
    }
}

}  // namespace hb::cuda::attention_kernels
