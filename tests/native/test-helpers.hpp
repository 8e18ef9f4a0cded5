// test-helpers.hpp — shared by the kernel tests: seeded random data, a tolerance compare that prints the
// first mismatches (llm.c's validator: |got - ref| <= atol + rtol * |ref|), a CPU context fixture, and
// central finite differences in double.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "humpback.h"

namespace hbtest {

inline std::string last_error() { return hb_last_error(); }

// Uniform in [lo, hi) from a fixed seed: reproducible, and never all zeros.
inline std::vector<float> random_floats(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> x(n);
    for (float& v : x) v = dist(gen);
    return x;
}

inline std::vector<int32_t> random_ints(size_t n, uint64_t seed, int32_t lo, int32_t hi_inclusive) {
    std::mt19937_64 gen(seed);
    std::uniform_int_distribution<int32_t> dist(lo, hi_inclusive);
    std::vector<int32_t> x(n);
    for (int32_t& v : x) v = dist(gen);
    return x;
}

inline std::vector<double> to_double(const std::vector<float>& x) { return std::vector<double>(x.begin(), x.end()); }

// got vs ref elementwise: |got - ref| <= atol + rtol * |ref|. Non-finite references are skipped (llm.c);
// a non-finite result where the reference is finite is a mismatch. Prints the first 5 mismatches.
template <typename Ref>
::testing::AssertionResult all_close(const char* what, const float* got, const Ref* ref, size_t n, double atol,
                                     double rtol) {
    size_t bad = 0;
    std::ostringstream msg;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double r = (double)ref[i], g = (double)got[i];
        if (!std::isfinite(r)) continue;
        const double err = std::fabs(g - r);
        const bool ok = std::isfinite(g) && err <= atol + rtol * std::fabs(r);
        if (!ok) {
            if (bad < 5) msg << "\n  " << what << "[" << i << "]: got " << g << ", expected " << r << " (diff " << err << ")";
            bad++;
        }
        if (std::isfinite(err) && err > worst) worst = err;
    }
    if (bad == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << bad << " of " << n << " elements of " << what << " differ (atol " << atol
                                         << ", rtol " << rtol << ", worst diff " << worst << "):" << msg.str();
}

template <typename Ref>
::testing::AssertionResult all_close(const char* what, const std::vector<float>& got, const std::vector<Ref>& ref,
                                     double atol, double rtol) {
    if (got.size() != ref.size())
        return ::testing::AssertionFailure() << what << ": size " << got.size() << " vs " << ref.size();
    return all_close(what, got.data(), ref.data(), got.size(), atol, rtol);
}

// sum(out * r) in double: the scalar loss whose gradient is r, used by every gradient check.
inline double dot(const std::vector<float>& out, const std::vector<float>& r) {
    double s = 0.0;
    for (size_t i = 0; i < out.size(); i++) s += (double)out[i] * (double)r[i];
    return s;
}

// Central difference (L(x+eps) - L(x-eps)) / 2eps of loss() with respect to x[i]; x[i] is restored.
inline double central_difference(std::vector<float>& x, size_t i, double eps, const std::function<double()>& loss) {
    const float saved = x[i];
    x[i] = (float)(saved + eps);
    const double up = loss();
    x[i] = (float)(saved - eps);
    const double down = loss();
    x[i] = saved;
    // The float rounding of x +- eps is the actual step.
    const double step = (double)(float)(saved + eps) - (double)(float)(saved - eps);
    return (up - down) / step;
}

// Compares analytic[i] with central differences of loss() at `samples` indices of x drawn with a fixed seed
// (plus the first and last index). loss() must recompute the forward from the current x.
inline ::testing::AssertionResult gradient_check(const char* what, std::vector<float>& x,
                                                 const std::vector<float>& analytic,
                                                 const std::function<double()>& loss, int samples = 12,
                                                 double eps = 1e-2, double atol = 2e-3, double rtol = 2e-2) {
    std::vector<size_t> idx = {0, x.size() - 1};
    std::mt19937_64 gen(1234);
    std::uniform_int_distribution<size_t> dist(0, x.size() - 1);
    for (int s = 0; s < samples; s++) idx.push_back(dist(gen));
    size_t bad = 0;
    std::ostringstream msg;
    for (size_t i : idx) {
        const double fd = central_difference(x, i, eps, loss);
        const double err = std::fabs(fd - (double)analytic[i]);
        if (!(err <= atol + rtol * std::fabs(fd))) {
            if (bad < 5) msg << "\n  d" << what << "[" << i << "]: analytic " << analytic[i] << ", finite difference " << fd;
            bad++;
        }
    }
    if (bad == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << bad << " of " << idx.size() << " sampled gradients of " << what
                                         << " disagree with finite differences:" << msg.str();
}

// The error message of the last call contains `needle`.
inline ::testing::AssertionResult error_mentions(const std::string& needle) {
    const std::string msg = last_error();
    if (msg.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "last error \"" << msg << "\" does not mention \"" << needle << "\"";
}

// A CPU context with the default thread count (all cores), so threaded paths run.
class CpuKernel : public ::testing::Test {
protected:
    hb_context* ctx = nullptr;
    void SetUp() override { ASSERT_EQ(hb_context_create(HB_BACKEND_CPU, 0, 0, &ctx), HB_OK) << last_error(); }
    void TearDown() override { hb_context_free(ctx); }
};

// A CPU context with an explicit thread count (3: work splits that do not divide evenly), freed on scope exit.
struct ThreadedContext {
    hb_context* ctx = nullptr;
    explicit ThreadedContext(int32_t threads) {
        EXPECT_EQ(hb_context_create(HB_BACKEND_CPU, 0, threads, &ctx), HB_OK) << last_error();
    }
    ~ThreadedContext() { hb_context_free(ctx); }
    ThreadedContext(const ThreadedContext&) = delete;
    ThreadedContext& operator=(const ThreadedContext&) = delete;
};

}  // namespace hbtest

// EXPECT that a call succeeds, printing the library's message when it does not.
#define HB_EXPECT_OK(call) EXPECT_EQ((call), HB_OK) << ::hbtest::last_error()
#define HB_ASSERT_OK(call) ASSERT_EQ((call), HB_OK) << ::hbtest::last_error()
