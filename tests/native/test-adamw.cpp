// test-adamw.cpp — hb_sum_squares (double accumulation, +=), hb_clip_scale (with and without clipping) and
// hb_adamw_update against a naive double AdamW over several steps with weight decay and a grad scale.
#include <cmath>

#include "test-helpers.hpp"

using namespace hbtest;

namespace {

class AdamW : public CpuKernel {};

TEST_F(AdamW, SumSquaresAccumulates) {
    for (int64_t n : {1, 37, 100003}) {
        auto x = random_floats(n, 1);
        double ref = 2.0;
        for (float v : x) ref += (double)v * v;
        float sumsq = 2.0f;
        HB_ASSERT_OK(hb_sum_squares(ctx, &sumsq, x.data(), n));
        EXPECT_NEAR(sumsq, ref, 1e-6 * ref) << "n=" << n;
        HB_ASSERT_OK(hb_sum_squares(ctx, &sumsq, x.data(), n));  // a second tensor adds on
        EXPECT_NEAR(sumsq, 2.0 * ref - 2.0, 1e-6 * ref) << "n=" << n;
    }
}

TEST_F(AdamW, ClipScale) {
    const float sumsq = 16.0f;  // norm 4
    float scale = -1.0f;
    HB_ASSERT_OK(hb_clip_scale(ctx, &scale, &sumsq, 1.0f));
    EXPECT_NEAR(scale, 1.0 / (4.0 + 1e-6), 1e-7);
    HB_ASSERT_OK(hb_clip_scale(ctx, &scale, &sumsq, 10.0f));  // below the limit: no clipping
    EXPECT_EQ(scale, 1.0f);
    HB_ASSERT_OK(hb_clip_scale(ctx, &scale, &sumsq, 0.0f));  // max_norm <= 0: clipping off
    EXPECT_EQ(scale, 1.0f);
    scale = -1.0f;
    HB_ASSERT_OK(hb_clip_scale(ctx, &scale, &sumsq, -3.0f));
    EXPECT_EQ(scale, 1.0f);
    const float zero = 0.0f;
    HB_ASSERT_OK(hb_clip_scale(ctx, &scale, &zero, 1.0f));  // zero gradient: scale 1, not inf
    EXPECT_EQ(scale, 1.0f);
}

// Several AdamW steps, the grad scale coming from sum_squares + clip_scale as in training.
TEST_F(AdamW, MatchesReferenceOverSteps) {
    for (int64_t n : {1, 37, 100003}) {
        for (bool use_scale : {false, true}) {
            SCOPED_TRACE(testing::Message() << "n=" << n << " grad_scale=" << use_scale);
            auto param = random_floats(n, 2);
            std::vector<float> m(n, 0.0f), v(n, 0.0f);
            std::vector<double> p_ref = to_double(param), m_ref(n, 0.0), v_ref(n, 0.0);
            hb_adamw_config cfg{1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 0};
            for (int step = 1; step <= 5; step++) {
                cfg.step = step;
                auto grad = random_floats(n, 100 + step, -3.0f, 3.0f);
                float sumsq = 0.0f, gscale = 1.0f;
                HB_ASSERT_OK(hb_sum_squares(ctx, &sumsq, grad.data(), n));
                HB_ASSERT_OK(hb_clip_scale(ctx, &gscale, &sumsq, 0.5f * std::sqrt(sumsq)));  // halves the norm
                ASSERT_NEAR(gscale, 0.5f, 1e-3f);
                HB_ASSERT_OK(hb_adamw_update(ctx, param.data(), grad.data(), m.data(), v.data(),
                                             use_scale ? &gscale : nullptr, n, &cfg));
                const double gs = use_scale ? (double)gscale : 1.0;
                const double c1 = 1.0 - std::pow(0.9, step), c2 = 1.0 - std::pow(0.95, step);
                for (int64_t i = 0; i < n; i++) {
                    const double g = grad[i] * gs;
                    m_ref[i] = 0.9 * m_ref[i] + 0.1 * g;
                    v_ref[i] = 0.95 * v_ref[i] + 0.05 * g * g;
                    p_ref[i] -= 1e-2 * ((m_ref[i] / c1) / (std::sqrt(v_ref[i] / c2) + 1e-8) + 0.1 * p_ref[i]);
                }
            }
            EXPECT_TRUE(all_close("param", param, p_ref, 1e-6, 1e-5));
            EXPECT_TRUE(all_close("m", m, m_ref, 1e-7, 1e-5));
            EXPECT_TRUE(all_close("v", v, v_ref, 1e-7, 1e-5));
        }
    }
}

TEST_F(AdamW, ErrorsNameTheArgument) {
    float p[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1}, m[4] = {}, v[4] = {};
    hb_adamw_config cfg{1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0};
    EXPECT_EQ(hb_adamw_update(ctx, p, g, m, v, nullptr, 4, &cfg), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_adamw_update: config->step must be >= 1 (got 0)"));
    cfg.step = 1;
    EXPECT_EQ(hb_adamw_update(ctx, p, g, nullptr, v, nullptr, 4, &cfg), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("m is NULL"));
    EXPECT_EQ(hb_adamw_update(ctx, p, g, m, v, nullptr, 4, nullptr), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("config is NULL"));
    cfg.beta1 = 1.0f;
    EXPECT_EQ(hb_adamw_update(ctx, p, g, m, v, nullptr, 4, &cfg), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("beta1 and beta2"));
    float s = 0.0f;
    EXPECT_EQ(hb_sum_squares(ctx, nullptr, p, 4), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_sum_squares: sumsq is NULL"));
    EXPECT_EQ(hb_clip_scale(ctx, &s, nullptr, 1.0f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_clip_scale: sumsq is NULL"));
    // nothing was touched by the failed calls
    EXPECT_EQ(p[0], 1.0f);
    EXPECT_EQ(m[0], 0.0f);
}

}  // namespace
