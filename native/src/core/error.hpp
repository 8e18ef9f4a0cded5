// error.hpp — the per-thread last error and the guard that keeps C++ exceptions inside the library.
#pragma once

#include <exception>
#include <new>
#include <stdexcept>
#include <string>

#include "humpback.h"

namespace hb {

// Thrown inside the library, turned into a status at the boundary by HB_GUARD.
struct Error : std::runtime_error {
    hb_status status;
    Error(hb_status s, const std::string& msg) : std::runtime_error(msg), status(s) {}
};

void set_last_error(const std::string& msg);
void clear_last_error();

// printf-style message; returns the status so `return fail(...)` reads naturally.
hb_status fail(hb_status status, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

[[noreturn]] void throw_error(hb_status status, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

}  // namespace hb

// Wraps an export body: clears the last error, runs the body, maps any exception to a status.
#define HB_GUARD(fn_name, ...)                                                          \
    do {                                                                                 \
        ::hb::clear_last_error();                                                        \
        try {                                                                            \
            __VA_ARGS__                                                                  \
        } catch (const ::hb::Error& e) {                                                 \
            ::hb::set_last_error(e.what());                                              \
            return e.status;                                                             \
        } catch (const std::bad_alloc&) {                                                \
            return ::hb::fail(HB_ERR_OUT_OF_MEMORY, "%s: out of host memory", fn_name);  \
        } catch (const std::exception& e) {                                              \
            return ::hb::fail(HB_ERR_INTERNAL, "%s: internal error: %s", fn_name, e.what()); \
        } catch (...) {                                                                  \
            return ::hb::fail(HB_ERR_INTERNAL, "%s: unknown internal error", fn_name);   \
        }                                                                                \
    } while (0)
