// error.cpp — per-thread last error owned by the library (no strdup per error, unlike TorchSharp).
#include "error.hpp"

#include <cstdarg>
#include <cstdio>

namespace hb {

namespace {
thread_local std::string t_last_error;

std::string vformat(const char* fmt, va_list args) {
    char buf[1024];
    va_list copy;
    va_copy(copy, args);
    int n = std::vsnprintf(buf, sizeof buf, fmt, copy);
    va_end(copy);
    if (n < 0) return std::string(fmt);
    if (static_cast<size_t>(n) < sizeof buf) return std::string(buf, static_cast<size_t>(n));
    std::string big(static_cast<size_t>(n) + 1, '\0');
    std::vsnprintf(big.data(), big.size(), fmt, args);
    big.resize(static_cast<size_t>(n));
    return big;
}
}  // namespace

void set_last_error(const std::string& msg) { t_last_error = msg; }
void clear_last_error() { t_last_error.clear(); }

hb_status fail(hb_status status, const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    t_last_error = vformat(fmt, args);
    va_end(args);
    return status;
}

void throw_error(hb_status status, const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    std::string msg = vformat(fmt, args);
    va_end(args);
    throw Error(status, msg);
}

}  // namespace hb

extern "C" {

HB_API const char* hb_last_error(void) { return hb::t_last_error.c_str(); }
HB_API void hb_clear_error(void) { hb::clear_last_error(); }

HB_API const char* hb_status_to_string(hb_status status) {
    switch (status) {
        case HB_OK: return "ok";
        case HB_ERR_INVALID_ARGUMENT: return "invalid argument";
        case HB_ERR_OUT_OF_MEMORY: return "out of memory";
        case HB_ERR_UNSUPPORTED: return "unsupported";
        case HB_ERR_NO_DEVICE: return "no device";
        case HB_ERR_BACKEND: return "backend error";
        case HB_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

}  // extern "C"
