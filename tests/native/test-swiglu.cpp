// test-swiglu.cpp — hb_swiglu_forward/backward against a double reference, including saturated gates
// (|g| up to 100, no NaN or Inf), the threaded path, finite differences and argument errors.
#include <cmath>

#include "test-helpers.hpp"

using namespace hbtest;

namespace {

class SwiGlu : public CpuKernel {};

TEST_F(SwiGlu, MatchesReference) {
    for (int64_t n : {1, 37, 100003}) {
        auto gate = random_floats(n, 1, -8.0f, 8.0f), up = random_floats(n, 2), dout = random_floats(n, 3);
        gate[0] = -100.0f;  // sigmoid underflows
        if (n > 1) gate[1] = 100.0f;
        std::vector<double> out_ref(n), dgate_ref(n), dup_ref(n);
        for (int64_t i = 0; i < n; i++) {
            const double g = gate[i], s = 1.0 / (1.0 + std::exp(-g));
            out_ref[i] = g * s * up[i];
            dup_ref[i] = dout[i] * g * s;
            dgate_ref[i] = dout[i] * up[i] * (s + g * s * (1.0 - s));
        }
        std::vector<float> out(n), dgate(n, NAN), dup(n, NAN);
        HB_ASSERT_OK(hb_swiglu_forward(ctx, out.data(), gate.data(), up.data(), n));
        HB_ASSERT_OK(hb_swiglu_backward(ctx, dgate.data(), dup.data(), dout.data(), gate.data(), up.data(), n));
        EXPECT_TRUE(all_close("out", out, out_ref, 1e-6, 1e-5)) << "n=" << n;
        EXPECT_TRUE(all_close("dgate", dgate, dgate_ref, 1e-6, 1e-5)) << "n=" << n;
        EXPECT_TRUE(all_close("dup", dup, dup_ref, 1e-6, 1e-5)) << "n=" << n;
    }
}

TEST_F(SwiGlu, BackwardMatchesFiniteDifferences) {
    const int64_t n = 50;
    auto gate = random_floats(n, 4, -4.0f, 4.0f), up = random_floats(n, 5), R = random_floats(n, 6);
    std::vector<float> out(n), dgate(n), dup(n);
    HB_ASSERT_OK(hb_swiglu_backward(ctx, dgate.data(), dup.data(), R.data(), gate.data(), up.data(), n));
    auto loss = [&] {
        EXPECT_EQ(hb_swiglu_forward(ctx, out.data(), gate.data(), up.data(), n), HB_OK);
        return dot(out, R);
    };
    EXPECT_TRUE(gradient_check("gate", gate, dgate, loss, 20, 1e-3));
    EXPECT_TRUE(gradient_check("up", up, dup, loss, 20, 1e-3));
}

TEST_F(SwiGlu, ErrorsNameTheArgument) {
    float x[4] = {1, 2, 3, 4};
    EXPECT_EQ(hb_swiglu_forward(ctx, x, nullptr, x, 4), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_swiglu_forward: gate is NULL"));
    EXPECT_EQ(hb_swiglu_backward(ctx, x, x, x, x, x, 0), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_swiglu_backward: n must be > 0"));
    EXPECT_EQ(hb_swiglu_backward(ctx, x, nullptr, x, x, x, 4), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("dup is NULL"));
}

}  // namespace
