// api-runtime.cpp — library info, devices, contexts and memory exports.
#include <cstddef>
#include <cstring>
#include <string>

#include "backend.hpp"
#include "validate.hpp"

#ifndef HB_VERSION_STRING
#define HB_VERSION_STRING "0.0.0"
#endif

using namespace hb;

namespace {
void copy_string(char* dst, size_t cap, const char* src) {
    std::strncpy(dst, src ? src : "", cap - 1);
    dst[cap - 1] = '\0';
}

// Offsets and sizes of the public structs' fields, for the managed side's layout tests.
bool lookup_layout(const std::string& s, const std::string& f, int64_t* offset, int64_t* size) {
#define HB_FIELD(S, F)                              \
    if (s == #S && f == #F) {                       \
        *offset = (int64_t)offsetof(S, F);          \
        *size = (int64_t)sizeof(((S*)nullptr)->F);  \
        return true;                                \
    }
#define HB_STRUCT(S)                \
    if (s == #S && f.empty()) {     \
        *offset = 0;                \
        *size = (int64_t)sizeof(S); \
        return true;                \
    }
    HB_STRUCT(hb_build_info)
    HB_FIELD(hb_build_info, abi_version)
    HB_FIELD(hb_build_info, cuda_compiled)
    HB_FIELD(hb_build_info, openmp)
    HB_FIELD(hb_build_info, max_threads)
    HB_FIELD(hb_build_info, version)
    HB_FIELD(hb_build_info, blas)
    HB_FIELD(hb_build_info, cpu_features)
    HB_FIELD(hb_build_info, cuda_version)
    HB_STRUCT(hb_device_info)
    HB_FIELD(hb_device_info, name)
    HB_FIELD(hb_device_info, total_memory)
    HB_FIELD(hb_device_info, free_memory)
    HB_FIELD(hb_device_info, compute_major)
    HB_FIELD(hb_device_info, compute_minor)
    HB_FIELD(hb_device_info, multiprocessors)
    HB_STRUCT(hb_rope_config)
    HB_FIELD(hb_rope_config, theta)
    HB_FIELD(hb_rope_config, scaling)
    HB_FIELD(hb_rope_config, factor)
    HB_FIELD(hb_rope_config, low_freq_factor)
    HB_FIELD(hb_rope_config, high_freq_factor)
    HB_FIELD(hb_rope_config, original_max_position)
    HB_STRUCT(hb_adamw_config)
    HB_FIELD(hb_adamw_config, lr)
    HB_FIELD(hb_adamw_config, beta1)
    HB_FIELD(hb_adamw_config, beta2)
    HB_FIELD(hb_adamw_config, eps)
    HB_FIELD(hb_adamw_config, weight_decay)
    HB_FIELD(hb_adamw_config, step)
    HB_STRUCT(hb_adamw_tensor)
    HB_FIELD(hb_adamw_tensor, param)
    HB_FIELD(hb_adamw_tensor, grad)
    HB_FIELD(hb_adamw_tensor, m)
    HB_FIELD(hb_adamw_tensor, v)
    HB_FIELD(hb_adamw_tensor, n)
    HB_FIELD(hb_adamw_tensor, weight_decay)
    HB_FIELD(hb_adamw_tensor, reserved)
#undef HB_FIELD
#undef HB_STRUCT
    return false;
}
}  // namespace

extern "C" {

HB_API uint32_t hb_abi_version(void) { return HB_ABI_VERSION; }

HB_API hb_status hb_get_build_info(hb_build_info* out) {
    HB_GUARD("hb_get_build_info", {
        require_ptr("hb_get_build_info", "out", out);
        std::memset(out, 0, sizeof *out);
        out->abi_version = HB_ABI_VERSION;
#if defined(HB_WITH_CUDA)
        out->cuda_compiled = 1;
        copy_string(out->cuda_version, sizeof out->cuda_version, cuda_runtime_version());
#endif
        out->openmp = cpu_openmp_enabled();
        out->max_threads = cpu_default_threads();
        copy_string(out->version, sizeof out->version, HB_VERSION_STRING);
        copy_string(out->blas, sizeof out->blas, cpu_blas_description());
        copy_string(out->cpu_features, sizeof out->cpu_features, cpu_feature_string());
        return HB_OK;
    });
}

HB_API hb_status hb_struct_layout(const char* struct_name, const char* field, int64_t* offset, int64_t* size) {
    HB_GUARD("hb_struct_layout", {
        require_ptr("hb_struct_layout", "struct_name", struct_name);
        require_ptr("hb_struct_layout", "field", field);
        require_ptr("hb_struct_layout", "offset", offset);
        require_ptr("hb_struct_layout", "size", size);
        if (lookup_layout(struct_name, field, offset, size)) return HB_OK;
        return fail(HB_ERR_INVALID_ARGUMENT, "hb_struct_layout: unknown struct or field '%s.%s'", struct_name, field);
    });
}

HB_API hb_status hb_cuda_device_count(int32_t* count) {
    HB_GUARD("hb_cuda_device_count", {
        require_ptr("hb_cuda_device_count", "count", count);
#if defined(HB_WITH_CUDA)
        *count = cuda_device_count();
#else
        *count = 0;
#endif
        return HB_OK;
    });
}

HB_API hb_status hb_cuda_device_info(int32_t device, hb_device_info* out) {
    HB_GUARD("hb_cuda_device_info", {
        require_ptr("hb_cuda_device_info", "out", out);
#if defined(HB_WITH_CUDA)
        int32_t n = cuda_device_count();
        if (device < 0 || device >= n)
            return fail(HB_ERR_NO_DEVICE, "hb_cuda_device_info: device %d out of range (%d CUDA devices)", device, n);
        cuda_device_info(device, out);
        return HB_OK;
#else
        return fail(HB_ERR_NO_DEVICE, "hb_cuda_device_info: device %d: this build has no CUDA backend (HB_CUDA=OFF)",
                    device);
#endif
    });
}

HB_API hb_status hb_context_create(hb_backend_kind kind, int32_t device, int32_t num_threads, hb_context** out) {
    HB_GUARD("hb_context_create", {
        require_ptr("hb_context_create", "out", out);
        *out = nullptr;
        if (num_threads < 0)
            return fail(HB_ERR_INVALID_ARGUMENT, "hb_context_create: num_threads must be >= 0 (got %d)", num_threads);
        auto* ctx = new hb_context{};
        ctx->kind = kind;
        ctx->device = device;
        ctx->num_threads = num_threads;
        try {
            switch (kind) {
                case HB_BACKEND_CPU:
                    cpu_context_init(ctx);
                    break;
                case HB_BACKEND_CUDA:
#if defined(HB_WITH_CUDA)
                    cuda_context_init(ctx);
                    break;
#else
                    throw_error(HB_ERR_NO_DEVICE,
                                "hb_context_create: CUDA device %d requested but this build has no CUDA backend "
                                "(configure with -DHB_CUDA=ON)",
                                device);
#endif
                default:
                    throw_error(HB_ERR_INVALID_ARGUMENT, "hb_context_create: unknown backend kind %d", (int)kind);
            }
        } catch (...) {
            delete ctx;
            throw;
        }
        *out = ctx;
        return HB_OK;
    });
}

HB_API void hb_context_free(hb_context* ctx) {
    if (ctx == nullptr) return;
    try {
        if (ctx->ops && ctx->ops->destroy) ctx->ops->destroy(ctx);
    } catch (...) {
        // A destructor must not throw across the boundary; nothing useful to report.
    }
    delete ctx;
}

HB_API hb_status hb_context_backend(const hb_context* ctx, hb_backend_kind* out) {
    HB_GUARD("hb_context_backend", {
        require_ctx("hb_context_backend", ctx);
        require_ptr("hb_context_backend", "out", out);
        *out = ctx->kind;
        return HB_OK;
    });
}

HB_API hb_status hb_context_synchronize(hb_context* ctx) {
    HB_GUARD("hb_context_synchronize", {
        require_ctx("hb_context_synchronize", ctx);
        if (ctx->ops->synchronize) ctx->ops->synchronize(ctx);
        return HB_OK;
    });
}

HB_API hb_status hb_alloc(hb_context* ctx, int64_t bytes, void** out) {
    HB_GUARD("hb_alloc", {
        require_ctx("hb_alloc", ctx);
        require_ptr("hb_alloc", "out", out);
        *out = nullptr;
        require_positive("hb_alloc", "bytes", bytes);
        *out = ctx->ops->alloc(ctx, bytes);
        return HB_OK;
    });
}

HB_API void hb_free(hb_context* ctx, void* ptr) {
    if (ctx == nullptr || ptr == nullptr) return;
    try {
        ctx->ops->free(ctx, ptr);
    } catch (...) {
    }
}

HB_API hb_status hb_memset(hb_context* ctx, void* dst, int32_t value, int64_t bytes) {
    HB_GUARD("hb_memset", {
        require_ctx("hb_memset", ctx);
        require_nonnegative("hb_memset", "bytes", bytes);
        if (bytes == 0) return HB_OK;
        require_ptr("hb_memset", "dst", dst);
        ctx->ops->memset(ctx, dst, value, bytes);
        return HB_OK;
    });
}

#define HB_COPY_EXPORT(fn, op, dst_name, src_name)                  \
    HB_API hb_status fn(hb_context* ctx, void* dst, const void* src, int64_t bytes) { \
        HB_GUARD(#fn, {                                              \
            require_ctx(#fn, ctx);                                   \
            require_nonnegative(#fn, "bytes", bytes);                \
            if (bytes == 0) return HB_OK;                            \
            require_ptr(#fn, dst_name, dst);                         \
            require_ptr(#fn, src_name, src);                         \
            ctx->ops->op(ctx, dst, src, bytes);                      \
            return HB_OK;                                            \
        });                                                          \
    }

HB_COPY_EXPORT(hb_copy_to_device, copy_to_device, "dst_device", "src_host")
HB_COPY_EXPORT(hb_copy_to_host, copy_to_host, "dst_host", "src_device")
HB_COPY_EXPORT(hb_copy_device, copy_device, "dst_device", "src_device")
#undef HB_COPY_EXPORT

}  // extern "C"
