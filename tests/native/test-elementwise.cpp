// test-elementwise.cpp — hb_axpy, hb_add (incl. aliasing), hb_scale, on small and threaded sizes.
#include "test-helpers.hpp"

using namespace hbtest;

namespace {

class Elementwise : public CpuKernel {};

// 1 and 13 run on one thread; 100003 is above the threading threshold and not a multiple of any vector width.
const int64_t kSizes[] = {1, 13, 100003};

TEST_F(Elementwise, AxpyAccumulates) {
    for (int64_t n : kSizes) {
        auto y = random_floats(n, 1), x = random_floats(n, 2);
        std::vector<double> ref(n);
        for (int64_t i = 0; i < n; i++) ref[i] = (double)y[i] + -1.5 * (double)x[i];
        HB_ASSERT_OK(hb_axpy(ctx, y.data(), x.data(), -1.5f, n));
        EXPECT_TRUE(all_close("y", y, ref, 1e-6, 1e-6)) << "n=" << n;
    }
}

TEST_F(Elementwise, AddWithAndWithoutAliasing) {
    for (int64_t n : kSizes) {
        auto a = random_floats(n, 3), b = random_floats(n, 4);
        std::vector<double> ref(n);
        for (int64_t i = 0; i < n; i++) ref[i] = (double)a[i] + (double)b[i];
        std::vector<float> out(n);
        HB_ASSERT_OK(hb_add(ctx, out.data(), a.data(), b.data(), n));
        EXPECT_TRUE(all_close("out", out, ref, 1e-6, 1e-6));
        HB_ASSERT_OK(hb_add(ctx, a.data(), a.data(), b.data(), n));  // out aliases a
        EXPECT_TRUE(all_close("a", a, ref, 1e-6, 1e-6));
        for (int64_t i = 0; i < n; i++) ref[i] = (double)out[i] + (double)b[i];
        HB_ASSERT_OK(hb_add(ctx, b.data(), out.data(), b.data(), n));  // out aliases b
        EXPECT_TRUE(all_close("b", b, ref, 1e-6, 1e-6));
    }
}

TEST_F(Elementwise, ScaleMultipliesInPlace) {
    for (int64_t n : kSizes) {
        auto x = random_floats(n, 5);
        std::vector<double> ref(n);
        for (int64_t i = 0; i < n; i++) ref[i] = 0.25 * (double)x[i];
        HB_ASSERT_OK(hb_scale(ctx, x.data(), 0.25f, n));
        EXPECT_TRUE(all_close("x", x, ref, 0.0, 1e-7));
    }
}

TEST_F(Elementwise, ErrorsNameTheArgument) {
    float buf[4] = {1, 2, 3, 4};
    EXPECT_EQ(hb_axpy(ctx, buf, nullptr, 1.0f, 4), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_axpy: x is NULL"));
    EXPECT_EQ(hb_add(ctx, buf, buf, buf, -1), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_add: n must be > 0 (got -1)"));
    EXPECT_EQ(hb_scale(ctx, nullptr, 1.0f, 4), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_scale: x is NULL"));
}

}  // namespace
