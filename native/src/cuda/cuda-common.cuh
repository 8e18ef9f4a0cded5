// cuda-common.cuh — CUDA error checks that become hb::Error (never exit(): we live inside .NET),
// and the per-context CUDA state.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <vector>

#include "backend.hpp"
#include "cuda-device.cuh"
#include "error.hpp"

#define HB_CUDA_CHECK(call)                                                                              \
    do {                                                                                                 \
        cudaError_t hb_err_ = (call);                                                                    \
        if (hb_err_ != cudaSuccess)                                                                      \
            ::hb::throw_error(HB_ERR_BACKEND, "%s: %s (%s:%d)", #call, cudaGetErrorString(hb_err_), __FILE__, \
                              __LINE__);                                                                 \
    } while (0)

#define HB_CUBLAS_CHECK(call)                                                                             \
    do {                                                                                                  \
        cublasStatus_t hb_st_ = (call);                                                                   \
        if (hb_st_ != CUBLAS_STATUS_SUCCESS)                                                              \
            ::hb::throw_error(HB_ERR_BACKEND, "%s: cuBLAS status %d (%s:%d)", #call, (int)hb_st_, __FILE__, \
                              __LINE__);                                                                  \
    } while (0)

// Checks the launch of the kernel just queued (asynchronous errors surface at the next sync).
#define HB_CUDA_LAUNCH_CHECK() HB_CUDA_CHECK(cudaGetLastError())

namespace hb::cuda {

// Compute type of every GEMM of a context (hb_matmul, and the GEMMs inside cross-entropy and LoRA).
// Chosen by HB_CUDA_MATMUL=fp32|tf32|bf16 when the context is created; fp32 is the default.
enum class MatmulMode { fp32, tf32, bf16 };
// Which cuBLAS entry point runs the GEMMs: cuBLASLt (default), or plain cublasGemmEx
// (HB_CUDA_GEMM=cublas, a switch for bisecting a problem on a GPU). Lt falls back to GemmEx by itself
// when its heuristic finds no algorithm for a shape.
enum class GemmApi { lt, cublas };
// Which kernels run the bf16-storage attention ops at head dims 64 and 128: the tensor-core (WMMA) kernels of
// attention-tc-kernels.cuh (default), or the CUDA-core kernels of attention-kernels.cuh (HB_CUDA_ATTENTION=simt,
// read when the context is created). Other head dims and the fp32 ops always use the CUDA-core kernels.
enum class AttentionMode { tc, simt };

// cuBLASLt heuristic result for one GEMM shape and pointer alignment, cached per context. A training run
// meets a few dozen shapes, so the cache is a vector searched linearly (nvcc 11.8 cannot parse
// libstdc++ 12's <map>).
struct LtKey {
    int64_t M, N, K;
    int trans_a, trans_b, align_a, align_b, align_out;
    int operand_type;  // cudaDataType_t of a and b: fp32, or bf16 for hb_matmul_bf16
    bool operator==(const LtKey& o) const {
        return M == o.M && N == o.N && K == o.K && trans_a == o.trans_a && trans_b == o.trans_b &&
               align_a == o.align_a && align_b == o.align_b && align_out == o.align_out &&
               operand_type == o.operand_type;
    }
};
struct LtAlgo {
    LtKey key{};
    bool found = false;
    cublasLtMatmulAlgo_t algo{};
};

struct State {
    cudaStream_t stream = nullptr;
    cublasHandle_t cublas = nullptr;
    cublasLtHandle_t cublaslt = nullptr;
    void* workspace = nullptr;  // cuBLASLt workspace, allocated once
    size_t workspace_bytes = 0;

    MatmulMode matmul_mode = MatmulMode::fp32;
    GemmApi gemm_api = GemmApi::lt;
    AttentionMode attention_mode = AttentionMode::tc;
    std::mutex lt_mutex;  // guards lt_cache (a context may be used from several host threads in turn)
    std::vector<LtAlgo> lt_cache;

    // Scratch for the kernels themselves (cross-entropy logits chunk, attention's rowsum(dout*out)).
    // Grows (never shrinks) through scratch(); every op runs on `stream`, so one buffer serves all ops.
    void* scratch = nullptr;
    size_t scratch_bytes = 0;
};

inline State& state(hb_context* ctx) { return *static_cast<State*>(ctx->backend_state); }
inline cudaStream_t stream(hb_context* ctx) { return state(ctx).stream; }

// Makes the context's device current on the calling thread (a .NET thread-pool thread may be new
// to CUDA, whose current device then is 0). Cheap when it already is.
inline void set_device(hb_context* ctx) {
    int cur = -1;
    HB_CUDA_CHECK(cudaGetDevice(&cur));
    if (cur != ctx->device) HB_CUDA_CHECK(cudaSetDevice(ctx->device));
}

// Returns the context's scratch buffer, at least `bytes` long. Growing it is the only allocation an op
// ever makes: the stream is drained first (queued kernels may still read the old buffer), then the old
// buffer is freed and a larger one allocated. It happens once per new high-water mark.
void* scratch(hb_context* ctx, size_t bytes);

// Fills the kernel entries of the CUDA ops table (cuda-register.cu).
void register_kernels(hb_backend_ops& ops);

inline int blocks_for(int64_t n, int threads) { return (int)((n + threads - 1) / threads); }
// Grid for a grid-stride loop over n elements: enough blocks to fill any current GPU, never more.
inline int grid_stride_blocks(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    return (int)(b < 4096 ? b : 4096);
}

}  // namespace hb::cuda
