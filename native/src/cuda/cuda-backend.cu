// cuda-backend.cu — the CUDA backend: devices, contexts (stream + cuBLAS handles), device memory.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cuda-common.cuh"

namespace hb {

namespace {

void* cuda_alloc(hb_context* ctx, int64_t bytes) {
    cuda::set_device(ctx);
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, (size_t)bytes);
    if (err != cudaSuccess) {
        cudaGetLastError();  // clear the sticky-free error so later calls work
        throw_error(err == cudaErrorMemoryAllocation ? HB_ERR_OUT_OF_MEMORY : HB_ERR_BACKEND,
                    "hb_alloc: cudaMalloc of %lld bytes on device %d failed: %s", (long long)bytes, ctx->device,
                    cudaGetErrorString(err));
    }
    return p;
}
void cuda_free(hb_context* ctx, void* p) {
    int cur = -1;
    if (cudaGetDevice(&cur) == cudaSuccess && cur != ctx->device) cudaSetDevice(ctx->device);
    cudaFree(p);  // a free function never fails (it may run while unwinding)
}
void cuda_memset(hb_context* ctx, void* dst, int32_t value, int64_t bytes) {
    cuda::set_device(ctx);
    HB_CUDA_CHECK(cudaMemsetAsync(dst, value, (size_t)bytes, cuda::stream(ctx)));
}
void cuda_h2d(hb_context* ctx, void* dst, const void* src, int64_t bytes) {
    cuda::set_device(ctx);
    HB_CUDA_CHECK(cudaMemcpyAsync(dst, src, (size_t)bytes, cudaMemcpyHostToDevice, cuda::stream(ctx)));
    // The host buffer may be freed by the caller right after: make the copy complete.
    HB_CUDA_CHECK(cudaStreamSynchronize(cuda::stream(ctx)));
}
void cuda_d2h(hb_context* ctx, void* dst, const void* src, int64_t bytes) {
    cuda::set_device(ctx);
    HB_CUDA_CHECK(cudaMemcpyAsync(dst, src, (size_t)bytes, cudaMemcpyDeviceToHost, cuda::stream(ctx)));
    HB_CUDA_CHECK(cudaStreamSynchronize(cuda::stream(ctx)));
}
void cuda_d2d(hb_context* ctx, void* dst, const void* src, int64_t bytes) {
    cuda::set_device(ctx);
    HB_CUDA_CHECK(cudaMemcpyAsync(dst, src, (size_t)bytes, cudaMemcpyDeviceToDevice, cuda::stream(ctx)));
}
void cuda_sync(hb_context* ctx) {
    cuda::set_device(ctx);
    HB_CUDA_CHECK(cudaStreamSynchronize(cuda::stream(ctx)));
}
void cuda_destroy(hb_context* ctx) {
    auto* st = static_cast<cuda::State*>(ctx->backend_state);
    if (st == nullptr) return;
    cudaSetDevice(ctx->device);
    if (st->scratch) cudaFree(st->scratch);
    if (st->workspace) cudaFree(st->workspace);
    if (st->cublaslt) cublasLtDestroy(st->cublaslt);
    if (st->cublas) cublasDestroy(st->cublas);
    if (st->stream) cudaStreamDestroy(st->stream);
    delete st;
    ctx->backend_state = nullptr;
}

const hb_backend_ops kCudaOps = [] {
    hb_backend_ops ops{};
    ops.name = "cuda";
    ops.alloc = cuda_alloc;
    ops.free = cuda_free;
    ops.memset = cuda_memset;
    ops.copy_to_device = cuda_h2d;
    ops.copy_to_host = cuda_d2h;
    ops.copy_device = cuda_d2d;
    ops.synchronize = cuda_sync;
    ops.destroy = cuda_destroy;
    cuda::register_kernels(ops);
    return ops;
}();

}  // namespace

int32_t cuda_device_count() {
    int n = 0;
    // No driver or no GPU is not an error for us: it means zero devices.
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

void cuda_device_info(int32_t device, hb_device_info* out) {
    cudaDeviceProp prop{};
    HB_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    snprintf(out->name, sizeof out->name, "%s", prop.name);
    out->compute_major = prop.major;
    out->compute_minor = prop.minor;
    out->multiprocessors = prop.multiProcessorCount;
    out->total_memory = prop.totalGlobalMem;
    int prev = 0;
    HB_CUDA_CHECK(cudaGetDevice(&prev));
    HB_CUDA_CHECK(cudaSetDevice(device));
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) out->free_memory = free_b;
    cudaSetDevice(prev);
}

const char* cuda_runtime_version() {
    static const std::string v = [] {
        int rt = CUDART_VERSION;
        return std::to_string(rt / 1000) + "." + std::to_string((rt % 1000) / 10);
    }();
    return v.c_str();
}

// HB_CUDA_MATMUL=fp32|tf32|bf16 (default fp32), HB_CUDA_GEMM=lt|cublas (default lt) and HB_CUDA_ATTENTION=tc|simt
// (default tc); see docs/cuda.md.
void read_environment(cuda::State& st) {
    if (const char* m = std::getenv("HB_CUDA_MATMUL"); m != nullptr && *m != '\0') {
        if (std::strcmp(m, "fp32") == 0) st.matmul_mode = cuda::MatmulMode::fp32;
        else if (std::strcmp(m, "tf32") == 0) st.matmul_mode = cuda::MatmulMode::tf32;
        else if (std::strcmp(m, "bf16") == 0) st.matmul_mode = cuda::MatmulMode::bf16;
        else
            throw_error(HB_ERR_INVALID_ARGUMENT,
                        "hb_context_create: HB_CUDA_MATMUL must be fp32, tf32 or bf16 (got \"%s\")", m);
    }
    if (const char* g = std::getenv("HB_CUDA_GEMM"); g != nullptr && *g != '\0') {
        if (std::strcmp(g, "lt") == 0) st.gemm_api = cuda::GemmApi::lt;
        else if (std::strcmp(g, "cublas") == 0) st.gemm_api = cuda::GemmApi::cublas;
        else
            throw_error(HB_ERR_INVALID_ARGUMENT, "hb_context_create: HB_CUDA_GEMM must be lt or cublas (got \"%s\")",
                        g);
    }
    if (const char* a = std::getenv("HB_CUDA_ATTENTION"); a != nullptr && *a != '\0') {
        if (std::strcmp(a, "tc") == 0) st.attention_mode = cuda::AttentionMode::tc;
        else if (std::strcmp(a, "simt") == 0) st.attention_mode = cuda::AttentionMode::simt;
        else
            throw_error(HB_ERR_INVALID_ARGUMENT,
                        "hb_context_create: HB_CUDA_ATTENTION must be tc or simt (got \"%s\")", a);
    }
}

void cuda_context_init(hb_context* ctx) {
    int32_t n = cuda_device_count();
    if (ctx->device < 0 || ctx->device >= n)
        throw_error(HB_ERR_NO_DEVICE, "hb_context_create: CUDA device %d not available (%d devices found)",
                    ctx->device, n);
    HB_CUDA_CHECK(cudaSetDevice(ctx->device));
    auto* st = new cuda::State();
    ctx->backend_state = st;
    ctx->ops = &kCudaOps;
    try {
        read_environment(*st);
        HB_CUDA_CHECK(cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking));
        HB_CUBLAS_CHECK(cublasCreate(&st->cublas));
        HB_CUBLAS_CHECK(cublasSetStream(st->cublas, st->stream));
        HB_CUBLAS_CHECK(cublasLtCreate(&st->cublaslt));
        st->workspace_bytes = 32u << 20;
        HB_CUDA_CHECK(cudaMalloc(&st->workspace, st->workspace_bytes));
    } catch (...) {
        cuda_destroy(ctx);
        throw;
    }
}

namespace cuda {

void* scratch(hb_context* ctx, size_t bytes) {
    State& st = state(ctx);
    if (bytes <= st.scratch_bytes) return st.scratch;
    // Round up to 1 MiB so that slowly growing requests do not reallocate each time.
    size_t want = (bytes + (1u << 20) - 1) & ~(size_t)((1u << 20) - 1);
    HB_CUDA_CHECK(cudaStreamSynchronize(st.stream));
    if (st.scratch != nullptr) {
        cudaFree(st.scratch);
        st.scratch = nullptr;
        st.scratch_bytes = 0;
    }
    cudaError_t err = cudaMalloc(&st.scratch, want);
    if (err != cudaSuccess) {
        cudaGetLastError();
        st.scratch = nullptr;
        throw_error(err == cudaErrorMemoryAllocation ? HB_ERR_OUT_OF_MEMORY : HB_ERR_BACKEND,
                    "cuda scratch: cudaMalloc of %zu bytes on device %d failed: %s", want, ctx->device,
                    cudaGetErrorString(err));
    }
    st.scratch_bytes = want;
    return st.scratch;
}

}  // namespace cuda

}  // namespace hb
