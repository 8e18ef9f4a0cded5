// validate.hpp — argument checks at the API boundary. Each check throws hb::Error with a message that
// names the function and the argument, e.g. "hb_rmsnorm_forward: C must be > 0 (got -3)".
#pragma once

#include <cinttypes>
#include <cstdint>

#include "backend.hpp"
#include "error.hpp"

namespace hb {

inline void require_ctx(const char* fn, const hb_context* ctx) {
    if (ctx == nullptr) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
}

inline void require_ptr(const char* fn, const char* name, const void* p) {
    if (p == nullptr) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, name);
}

inline void require_positive(const char* fn, const char* name, int64_t v) {
    if (v <= 0) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: %s must be > 0 (got %" PRId64 ")", fn, name, v);
}

inline void require_nonnegative(const char* fn, const char* name, int64_t v) {
    if (v < 0) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: %s must be >= 0 (got %" PRId64 ")", fn, name, v);
}

// a * b without overflow, for element counts.
inline int64_t checked_mul(const char* fn, int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: size overflows int64", fn);
    return r;
}

template <typename F>
inline F require_op(const char* fn, const hb_context* ctx, F op) {
    if (op == nullptr)
        throw_error(HB_ERR_UNSUPPORTED, "%s: not implemented by the %s backend", fn, ctx->ops->name);
    return op;
}

}  // namespace hb
