// test-rope.cpp — hb_rope_forward/backward: the rotate_half layout against a double reference (shared
// per-position table and per-token paths, positions up to 10^6), backward as the exact inverse/transpose,
// finite differences, and argument errors.
#include "test-helpers.hpp"

using namespace hbtest;

namespace {

class Rope : public CpuKernel {};

std::vector<float> inv_freq_for(int64_t D, bool llama3) {
    hb_rope_config cfg{500000.0f, llama3 ? 1 : 0, 32.0f, 1.0f, 4.0f, 8192};
    std::vector<float> f(D / 2);
    EXPECT_EQ(hb_rope_inv_freq(f.data(), D, &cfg), HB_OK) << last_error();
    return f;
}

// x (N,H,D) rotated by pos * inv_freq in double, pairs (i, i + D/2).
std::vector<double> rope_ref(const std::vector<float>& x, const std::vector<int32_t>& pos,
                             const std::vector<float>& inv_freq, int64_t N, int64_t H, int64_t D) {
    std::vector<double> r(x.size());
    const int64_t half = D / 2;
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < half; i++) {
                const double angle = (double)pos[n] * (double)inv_freq[i];
                const double a = x[(n * H + h) * D + i], b = x[(n * H + h) * D + half + i];
                r[(n * H + h) * D + i] = a * std::cos(angle) - b * std::sin(angle);
                r[(n * H + h) * D + half + i] = b * std::cos(angle) + a * std::sin(angle);
            }
    return r;
}

struct Case {
    int64_t N, H, D;
    bool repeated;  // positions restart (packed batch, the shared-table path) or are all distinct and far apart
};
const Case kCases[] = {{1, 1, 2, true},    {5, 3, 6, true},    {70, 4, 10, true},  {3, 2, 64, false},
                       {256, 8, 64, true}, {256, 8, 64, false}};

std::vector<int32_t> positions_for(const Case& c) {
    std::vector<int32_t> pos(c.N);
    if (c.repeated)
        for (int64_t n = 0; n < c.N; n++) pos[n] = (int32_t)(n % 16);
    else
        pos = random_ints(c.N, 11, 0, 1000000);
    if (!c.repeated && c.N >= 3) pos[1] = 100000, pos[2] = 0;
    return pos;
}

TEST_F(Rope, ForwardMatchesReference) {
    for (const Case& c : kCases) {
        for (bool llama3 : {false, true}) {
            SCOPED_TRACE(testing::Message() << "N=" << c.N << " H=" << c.H << " D=" << c.D << " repeated=" << c.repeated
                                            << " llama3=" << llama3);
            auto x = random_floats(c.N * c.H * c.D, 1);
            auto pos = positions_for(c);
            auto f = inv_freq_for(c.D, llama3);
            auto ref = rope_ref(x, pos, f, c.N, c.H, c.D);
            HB_ASSERT_OK(hb_rope_forward(ctx, x.data(), pos.data(), f.data(), c.N, c.H, c.D));
            EXPECT_TRUE(all_close("x", x, ref, 2e-6, 1e-6));
        }
    }
}

TEST_F(Rope, BackwardInvertsForward) {
    for (const Case& c : kCases) {
        auto x = random_floats(c.N * c.H * c.D, 2);
        auto pos = positions_for(c);
        auto f = inv_freq_for(c.D, false);
        auto orig = to_double(x);
        HB_ASSERT_OK(hb_rope_forward(ctx, x.data(), pos.data(), f.data(), c.N, c.H, c.D));
        HB_ASSERT_OK(hb_rope_backward(ctx, x.data(), pos.data(), f.data(), c.N, c.H, c.D));
        EXPECT_TRUE(all_close("x", x, orig, 2e-6, 1e-6)) << "N=" << c.N << " D=" << c.D;
    }
}

TEST_F(Rope, BackwardMatchesFiniteDifferences) {
    const int64_t N = 6, H = 2, D = 10;
    auto x = random_floats(N * H * D, 3), R = random_floats(N * H * D, 4);
    std::vector<int32_t> pos = {0, 1, 2, 0, 1, 7};
    auto f = inv_freq_for(D, false);
    auto dx = R;
    HB_ASSERT_OK(hb_rope_backward(ctx, dx.data(), pos.data(), f.data(), N, H, D));
    auto loss = [&] {
        auto y = x;
        EXPECT_EQ(hb_rope_forward(ctx, y.data(), pos.data(), f.data(), N, H, D), HB_OK);
        return dot(y, R);
    };
    EXPECT_TRUE(gradient_check("x", x, dx, loss, 20));
}

TEST_F(Rope, ErrorsNameTheArgument) {
    std::vector<float> x(2 * 2 * 6, 1.0f), f(3, 1.0f);
    std::vector<int32_t> pos = {0, 1};
    EXPECT_EQ(hb_rope_forward(ctx, x.data(), pos.data(), f.data(), 2, 2, 5), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_rope_forward: D must be even (got 5)"));
    EXPECT_EQ(hb_rope_backward(ctx, x.data(), nullptr, f.data(), 2, 2, 6), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_rope_backward: positions is NULL"));
    EXPECT_EQ(hb_rope_forward(ctx, x.data(), pos.data(), f.data(), 2, 0, 6), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("H must be > 0"));
}

}  // namespace
