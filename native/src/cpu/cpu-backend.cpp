// cpu-backend.cpp — the CPU backend: host memory, build facts, and its ops table.
// Kernels live one per file beside this one (cpu-kernels.hpp declares them).
#include <cstdlib>
#include <cstring>
#include <string>

#include "backend.hpp"
#include "cpu-kernels.hpp"
#include "error.hpp"

#if defined(HB_WITH_OPENMP)
#include <omp.h>
#endif

// OpenBLAS exports these; declared here so we do not depend on which cblas.h variant is installed.
extern "C" {
char* openblas_get_config(void);
char* openblas_get_corename(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int num_threads);
}

namespace hb {

namespace {

constexpr int64_t kAlignment = 64;  // cache line, and enough for AVX-512 loads

void* cpu_alloc(hb_context*, int64_t bytes) {
    int64_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    void* p = std::aligned_alloc(kAlignment, (size_t)rounded);
    if (p == nullptr)
        throw_error(HB_ERR_OUT_OF_MEMORY, "hb_alloc: cannot allocate %lld bytes of host memory", (long long)bytes);
    return p;
}
void cpu_free(hb_context*, void* p) { std::free(p); }
void cpu_memset(hb_context*, void* dst, int32_t value, int64_t bytes) { std::memset(dst, value, (size_t)bytes); }
void cpu_copy(hb_context*, void* dst, const void* src, int64_t bytes) { std::memmove(dst, src, (size_t)bytes); }
void cpu_sync(hb_context*) {}
void cpu_destroy(hb_context*) {}

const hb_backend_ops kCpuOps = [] {
    hb_backend_ops ops{};
    ops.name = "cpu";
    ops.alloc = cpu_alloc;
    ops.free = cpu_free;
    ops.memset = cpu_memset;
    ops.copy_to_device = cpu_copy;
    ops.copy_to_host = cpu_copy;
    ops.copy_device = cpu_copy;
    ops.synchronize = cpu_sync;
    ops.destroy = cpu_destroy;
    cpu::register_kernels(ops);
    return ops;
}();

}  // namespace

void cpu_context_init(hb_context* ctx) {
    ctx->ops = &kCpuOps;
    if (ctx->num_threads == 0) ctx->num_threads = cpu_default_threads();
    // OpenBLAS runs single-threaded inside our OpenMP threads (see sgemm in matmul.cpp): one thread pool
    // for GEMMs and kernels. OpenBLAS' setting is process-wide.
    openblas_set_num_threads(1);
}

int32_t cpu_openmp_enabled() {
#if defined(HB_WITH_OPENMP)
    return 1;
#else
    return 0;
#endif
}

int32_t cpu_default_threads() {
#if defined(HB_WITH_OPENMP)
    return omp_get_num_procs();
#else
    return 1;
#endif
}

const char* cpu_blas_description() {
    static const std::string desc = [] {
        // openblas_get_config() reads "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..."; keep name and version.
        std::string cfg = openblas_get_config() ? openblas_get_config() : "OpenBLAS";
        size_t first = cfg.find(' ');
        size_t second = first == std::string::npos ? first : cfg.find(' ', first + 1);
        std::string name = cfg.substr(0, second);
        const char* core = openblas_get_corename();
        return name + " (" + (core ? core : "unknown") + " kernels)";
    }();
    return desc.c_str();
}

const char* cpu_feature_string() {
    static const std::string features = [] {
        std::string s;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("sse4.2")) s += "sse4.2 ";
        if (__builtin_cpu_supports("avx")) s += "avx ";
        if (__builtin_cpu_supports("avx2")) s += "avx2 ";
        if (__builtin_cpu_supports("fma")) s += "fma ";
        if (__builtin_cpu_supports("avx512f")) s += "avx512f ";
        if (__builtin_cpu_supports("avx512bw")) s += "avx512bw ";
        if (__builtin_cpu_supports("avx512vl")) s += "avx512vl ";
#elif defined(__aarch64__)
        s += "neon ";
#endif
        if (!s.empty()) s.pop_back();
        return s;
    }();
    return features.c_str();
}

}  // namespace hb
