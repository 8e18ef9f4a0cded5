// cuda-common.cuh — CUDA error checks that become hb::Error (never exit(): we live inside .NET),
// and the per-context CUDA state.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "backend.hpp"
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

struct State {
    cudaStream_t stream = nullptr;
    cublasHandle_t cublas = nullptr;
    cublasLtHandle_t cublaslt = nullptr;
    void* workspace = nullptr;  // cuBLASLt workspace, allocated once
    size_t workspace_bytes = 0;
};

inline State& state(hb_context* ctx) { return *static_cast<State*>(ctx->backend_state); }
inline cudaStream_t stream(hb_context* ctx) { return state(ctx).stream; }

// Fills the kernel entries of the CUDA ops table (cuda-register.cu).
void register_kernels(hb_backend_ops& ops);

inline int blocks_for(int64_t n, int threads) { return (int)((n + threads - 1) / threads); }

}  // namespace hb::cuda
