// compare.hpp — element-wise comparison for kernel tests (llm.c's validator): |got - ref| <= atol + rtol*|ref|,
// the first mismatches printed, a non-finite value where the reference is finite counted as a mismatch.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace hbtest {

struct Tolerance {
    double atol;
    double rtol;
};

// Returns the number of mismatches; adds one GoogleTest failure naming `what` when there are any.
template <typename A, typename B>
int64_t expect_close(const std::string& what, const std::vector<A>& got, const std::vector<B>& ref, Tolerance tol,
                     int max_print = 10) {
    if (got.size() != ref.size()) {
        ADD_FAILURE() << what << ": size " << got.size() << " vs reference " << ref.size();
        return (int64_t)(got.size() > ref.size() ? got.size() : ref.size());
    }
    int64_t bad = 0;
    double worst = 0.0;
    std::string lines;
    for (size_t i = 0; i < ref.size(); i++) {
        const double r = (double)ref[i], g = (double)got[i];
        if (!std::isfinite(r)) continue;  // a non-finite reference says nothing about the kernel
        const double err = std::fabs(g - r), lim = tol.atol + tol.rtol * std::fabs(r);
        if (!std::isfinite(g) || err > lim) {
            if (bad < max_print) {
                char buf[160];
                std::snprintf(buf, sizeof buf, "  [%zu] got %.8g  ref %.8g  |diff| %.3g > %.3g\n", i, g, r, err, lim);
                lines += buf;
            }
            bad++;
        }
        if (std::isfinite(g) && err > worst) worst = err;
    }
    if (bad > 0)
        ADD_FAILURE() << what << ": " << bad << " of " << ref.size() << " values out of tolerance (atol " << tol.atol
                      << ", rtol " << tol.rtol << "), largest |diff| " << worst << "\n"
                      << lines;
    return bad;
}

}  // namespace hbtest
