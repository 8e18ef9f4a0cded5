// attention.cu — causal grouped-query attention, flash style (FlashAttention-2, Dao 2023): tiles of Q, K and V
// in shared memory, online softmax, the (T,T) score matrix never stored. fp32 throughout, on the CUDA cores.
// The _bf16 ops run the same kernels instantiated for bf16 (uint16_t) q, k, v, out: widened to fp32 as they are
// loaded into shared memory, out rounded to bf16 at its one store (attention-kernels.cuh).
//
// Layouts (humpback.h): q, out, dq (B,T,H,D); k, v, dk, dv (B,T,KVH,D); lse (B,H,T); segments (B,T) or NULL.
// Query head h reads KV head h / (H/KVH). Token t sees key s when s <= t and, with segments,
// segments[b,s] == segments[b,t]. lse[b,h,t] = log sum_s exp(scale * q_t . k_s) over the visible s.
//
// Tiling: kBQ query rows x kBK key rows per step, kThreads = 128 threads, kTPR = 4 threads per row.
//  forward  — block (query tile, h, b). Thread (row = tid/4, sub = tid%4) owns query row `row`: the scores
//             of keys sub, sub+4, ... of each key tile and the output columns sub, sub+4, ... The four
//             threads of a row are adjacent lanes of one warp and combine row max/sum with shuffles.
//  backward — block (key tile, kvh, b), looping over the H/KVH query heads of its KV head and over the query
//             tiles at or after the key tile (causal). dK and dV of the tile stay in registers (no atomics,
//             written once, so they are overwritten as the ABI requires); dQ is accumulated in fp32 with
//             atomicAdd into dq, which is zeroed first. Di = rowsum(dout * out) comes from a pre-pass.
// Head dims 64 and 128 are compiled with D fixed; any other D <= 128 runs the same code with a runtime D
// (columns >= D are skipped). Shared-memory rows are padded to D+1 floats against bank conflicts.
//
// The bf16 ops at D = 64 and 128 run the tensor-core (WMMA) kernels of attention-tc-kernels.cuh instead, unless the
// context was created with HB_CUDA_ATTENTION=simt or a pointer is not 16-byte aligned (they move 16-byte vectors).
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "attention-kernels.cuh"
#include "attention-tc-kernels.cuh"
#include "cuda-ops.cuh"

namespace hb::cuda {

using namespace attention_kernels;

namespace {

template <int DMAX, bool EXACT, typename E>
void launch_forward(hb_context* ctx, E* out, float* lse, const E* q, const E* k, const E* v, const int32_t* segments,
                    int B, int T, int H, int KVH, int D, float scale) {
    const size_t smem = forward_smem_bytes(DMAX);
    auto kernel = attention_forward_kernel<DMAX, EXACT, E>;
    HB_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((unsigned)((T + kBQ - 1) / kBQ), (unsigned)H, (unsigned)B);
    kernel<<<grid, kThreads, smem, stream(ctx)>>>(out, lse, q, k, v, segments, T, H, KVH, D, scale);
    HB_CUDA_LAUNCH_CHECK();
}

template <int DMAX, bool EXACT, typename E>
void launch_backward(hb_context* ctx, float* dq, float* dk, float* dv, const float* dout, const E* q, const E* k,
                     const E* v, const float* lse, const float* Di, const int32_t* segments, int B, int T, int H,
                     int KVH, int D, float scale) {
    const size_t smem = backward_smem_bytes(DMAX);
    auto kernel = attention_backward_kernel<DMAX, EXACT, E>;
    HB_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((unsigned)((T + kBK - 1) / kBK), (unsigned)KVH, (unsigned)B);
    kernel<<<grid, kThreads, smem, stream(ctx)>>>(dq, dk, dv, dout, q, k, v, lse, Di, segments, T, H, KVH, D, scale);
    HB_CUDA_LAUNCH_CHECK();
}

// Lazy-rescale threshold of the tensor-core forward (natural-log units): P stays <= e^8.
constexpr float kTcRescaleThreshold = 8.0f;

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Tensor-core kernels for this call? Only bf16 storage (E = uint16_t), D = 64 or 128, 16-byte aligned pointers.
template <typename E>
bool use_tc(hb_context* ctx, int64_t D, std::initializer_list<const void*> ptrs) {
    if (!std::is_same<E, uint16_t>::value || (D != 64 && D != 128)) return false;
    if (state(ctx).attention_mode != AttentionMode::tc) return false;
    for (const void* p : ptrs)
        if (!aligned16(p)) return false;
    return true;
}

template <int D>
void launch_tc_forward(hb_context* ctx, uint16_t* out, float* lse, const uint16_t* q, const uint16_t* k,
                       const uint16_t* v, const int32_t* segments, int B, int T, int H, int KVH, float scale) {
    namespace tc = attention_tc_kernels;
    const size_t smem = tc::forward_smem_bytes(D);
    auto kernel = tc::attention_tc_forward_kernel<D>;
    HB_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((unsigned)((T + tc::kBQ - 1) / tc::kBQ), (unsigned)H, (unsigned)B);
    kernel<<<grid, tc::kThreads, smem, stream(ctx)>>>(out, lse, q, k, v, segments, T, H, KVH, scale,
                                                      kTcRescaleThreshold);
    HB_CUDA_LAUNCH_CHECK();
}

template <int D>
void launch_tc_backward(hb_context* ctx, float* dq, float* dk, float* dv, const float* dout, const uint16_t* q,
                        const uint16_t* k, const uint16_t* v, const float* lse, const float* Di,
                        const int32_t* segments, int B, int T, int H, int KVH, float scale) {
    namespace tc = attention_tc_kernels;
    const size_t smem = tc::backward_smem_bytes(D);
    auto kernel = tc::attention_tc_backward_kernel<D>;
    HB_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((unsigned)((T + tc::kBK - 1) / tc::kBK), (unsigned)KVH, (unsigned)B);
    kernel<<<grid, tc::kThreads, smem, stream(ctx)>>>(dq, dk, dv, dout, q, k, v, lse, Di, segments, T, H, KVH,
                                                      scale);
    HB_CUDA_LAUNCH_CHECK();
}

void check_dims(const char* fn, int64_t B, int64_t T, int64_t H, int64_t D) {
    if (D > 128)
        throw_error(HB_ERR_UNSUPPORTED, "%s: the cuda backend supports head dims up to 128 (got D=%lld)", fn,
                    (long long)D);
    if (B > 65535 || H > 65535 || T > INT32_MAX / 2 || B * T * H > INT32_MAX / 32)
        throw_error(HB_ERR_UNSUPPORTED, "%s: shape out of the cuda backend's range (B=%lld T=%lld H=%lld)", fn,
                    (long long)B, (long long)T, (long long)H);
}

// E: the storage type of q, k, v, out (float, or uint16_t bf16).
template <typename E>
void forward(const char* fn, hb_context* ctx, E* out, float* lse, const E* q, const E* k, const E* v,
             const int32_t* segments, int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t D, float scale) {
    check_dims(fn, B, T, H, D);
    set_device(ctx);
    const int b = (int)B, t = (int)T, h = (int)H, kvh = (int)KVH, d = (int)D;
    if constexpr (std::is_same<E, uint16_t>::value) {
        if (use_tc<E>(ctx, D, {out, q, k, v})) {
            if (D == 64) launch_tc_forward<64>(ctx, out, lse, q, k, v, segments, b, t, h, kvh, scale);
            else launch_tc_forward<128>(ctx, out, lse, q, k, v, segments, b, t, h, kvh, scale);
            return;
        }
    }
    if (D == 64) launch_forward<64, true>(ctx, out, lse, q, k, v, segments, b, t, h, kvh, d, scale);
    else if (D == 128) launch_forward<128, true>(ctx, out, lse, q, k, v, segments, b, t, h, kvh, d, scale);
    else if (D < 64) launch_forward<64, false>(ctx, out, lse, q, k, v, segments, b, t, h, kvh, d, scale);
    else launch_forward<128, false>(ctx, out, lse, q, k, v, segments, b, t, h, kvh, d, scale);
}

template <typename E>
void backward(const char* fn, hb_context* ctx, float* dq, float* dk, float* dv, const float* dout, const E* q,
              const E* k, const E* v, const E* out, const float* lse, const int32_t* segments, int64_t B, int64_t T,
              int64_t H, int64_t KVH, int64_t D, float scale) {
    check_dims(fn, B, T, H, D);
    set_device(ctx);
    cudaStream_t st = stream(ctx);
    const int64_t rows = B * T * H;
    float* Di = static_cast<float*>(scratch(ctx, (size_t)rows * sizeof(float)));
    const bool tc = use_tc<E>(ctx, D, {q, k, v, dout, dk, dv});
    if (tc)  // the tensor-core backward rounds dout to bf16 for dP: Di takes the same rounded dout
        attention_di_kernel<E, true><<<blocks_for(rows * 32, 256), 256, 0, st>>>(Di, dout, out, rows, (int)T, (int)H,
                                                                                 (int)D);
    else
        attention_di_kernel<E><<<blocks_for(rows * 32, 256), 256, 0, st>>>(Di, dout, out, rows, (int)T, (int)H,
                                                                           (int)D);
    HB_CUDA_LAUNCH_CHECK();
    HB_CUDA_CHECK(cudaMemsetAsync(dq, 0, (size_t)(rows * D) * sizeof(float), st));  // dQ accumulates atomically
    const int b = (int)B, t = (int)T, h = (int)H, kvh = (int)KVH, d = (int)D;
    if constexpr (std::is_same<E, uint16_t>::value) {
        if (tc) {
            if (D == 64) launch_tc_backward<64>(ctx, dq, dk, dv, dout, q, k, v, lse, Di, segments, b, t, h, kvh, scale);
            else launch_tc_backward<128>(ctx, dq, dk, dv, dout, q, k, v, lse, Di, segments, b, t, h, kvh, scale);
            return;
        }
    }
    if (D == 64) launch_backward<64, true>(ctx, dq, dk, dv, dout, q, k, v, lse, Di, segments, b, t, h, kvh, d, scale);
    else if (D == 128)
        launch_backward<128, true>(ctx, dq, dk, dv, dout, q, k, v, lse, Di, segments, b, t, h, kvh, d, scale);
    else if (D < 64)
        launch_backward<64, false>(ctx, dq, dk, dv, dout, q, k, v, lse, Di, segments, b, t, h, kvh, d, scale);
    else launch_backward<128, false>(ctx, dq, dk, dv, dout, q, k, v, lse, Di, segments, b, t, h, kvh, d, scale);
}

}  // namespace

void attention_forward(hb_context* ctx, float* out, float* lse, const float* q, const float* k, const float* v,
                       const int32_t* segments, int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t D, float scale) {
    forward("hb_attention_forward", ctx, out, lse, q, k, v, segments, B, T, H, KVH, D, scale);
}

void attention_forward_bf16(hb_context* ctx, uint16_t* out, float* lse, const uint16_t* q, const uint16_t* k,
                            const uint16_t* v, const int32_t* segments, int64_t B, int64_t T, int64_t H, int64_t KVH,
                            int64_t D, float scale) {
    forward("hb_attention_forward_bf16", ctx, out, lse, q, k, v, segments, B, T, H, KVH, D, scale);
}

void attention_backward(hb_context* ctx, float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse, const int32_t* segments,
                        int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t D, float scale) {
    backward("hb_attention_backward", ctx, dq, dk, dv, dout, q, k, v, out, lse, segments, B, T, H, KVH, D, scale);
}

void attention_backward_bf16(hb_context* ctx, float* dq, float* dk, float* dv, const float* dout, const uint16_t* q,
                             const uint16_t* k, const uint16_t* v, const uint16_t* out, const float* lse,
                             const int32_t* segments, int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t D,
                             float scale) {
    backward("hb_attention_backward_bf16", ctx, dq, dk, dv, dout, q, k, v, out, lse, segments, B, T, H, KVH, D,
             scale);
}

}  // namespace hb::cuda
