// test-adamw.cpp — hb_sum_squares (double accumulation, +=), hb_clip_scale (with and without clipping) and
// hb_adamw_update against a naive double AdamW over several steps with weight decay and a grad scale; the
// multi-tensor ops (hb_sum_squares_multi, hb_adamw_update_multi) bit-equal to per-tensor calls.
#include <cmath>
#include <cstring>

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

// Tensors of different sizes (n = 1, primes, one past the parallel threshold) for the multi-tensor ops.
struct TensorSet {
    std::vector<std::vector<float>> param, grad, m, v;
    std::vector<float> decay;
    explicit TensorSet(uint64_t seed) {
        const int64_t sizes[] = {1, 37, 100003, 5, 4099, 1, 777};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            const size_t n = (size_t)sizes[i];
            param.push_back(random_floats(n, seed + 10 * i));
            grad.push_back(random_floats(n, seed + 10 * i + 1, -3.0f, 3.0f));
            m.push_back(random_floats(n, seed + 10 * i + 2, -0.1f, 0.1f));
            v.push_back(random_floats(n, seed + 10 * i + 3, 0.001f, 0.01f));
            decay.push_back(i % 3 == 0 ? 0.0f : 0.05f * (float)i);
        }
    }
    size_t size() const { return param.size(); }
    std::vector<hb_adamw_tensor> descriptors() {
        std::vector<hb_adamw_tensor> t;
        for (size_t i = 0; i < size(); i++)
            t.push_back({param[i].data(), grad[i].data(), m[i].data(), v[i].data(), (int64_t)param[i].size(), decay[i], 0});
        return t;
    }
};

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_F(AdamW, SumSquaresMultiEqualsPerTensorCalls) {
    TensorSet ts(7);
    std::vector<const float*> xs;
    std::vector<int64_t> ns;
    for (auto& g : ts.grad) {
        xs.push_back(g.data());
        ns.push_back((int64_t)g.size());
    }
    float single = 0.75f, multi = 0.75f;
    for (size_t i = 0; i < xs.size(); i++) HB_ASSERT_OK(hb_sum_squares(ctx, &single, xs[i], ns[i]));
    HB_ASSERT_OK(hb_sum_squares_multi(ctx, &multi, xs.data(), ns.data(), (int32_t)xs.size()));
    EXPECT_EQ(std::memcmp(&single, &multi, sizeof(float)), 0) << single << " vs " << multi;
    HB_ASSERT_OK(hb_sum_squares_multi(ctx, &multi, nullptr, nullptr, 0));  // count 0: nothing happens
    EXPECT_EQ(std::memcmp(&single, &multi, sizeof(float)), 0);
}

TEST_F(AdamW, AdamWMultiEqualsPerTensorCalls) {
    for (bool use_scale : {false, true}) {
        SCOPED_TRACE(use_scale ? "grad_scale 0.37" : "grad_scale NULL");
        TensorSet single(11), multi(11);
        const float gscale = 0.37f;
        const float* gs = use_scale ? &gscale : nullptr;
        hb_adamw_config cfg{3e-3f, 0.9f, 0.95f, 1e-8f, 123.0f /* ignored by the multi op */, 0};
        for (int step = 1; step <= 3; step++) {
            cfg.step = step;
            for (size_t i = 0; i < single.size(); i++) {
                hb_adamw_config one = cfg;
                one.weight_decay = single.decay[i];
                HB_ASSERT_OK(hb_adamw_update(ctx, single.param[i].data(), single.grad[i].data(), single.m[i].data(),
                                             single.v[i].data(), gs, (int64_t)single.param[i].size(), &one));
            }
            auto t = multi.descriptors();
            HB_ASSERT_OK(hb_adamw_update_multi(ctx, t.data(), (int32_t)t.size(), gs, &cfg));
        }
        for (size_t i = 0; i < single.size(); i++) {
            SCOPED_TRACE(testing::Message() << "tensor " << i << " n=" << single.param[i].size());
            EXPECT_TRUE(bit_equal(single.param[i], multi.param[i]));
            EXPECT_TRUE(bit_equal(single.m[i], multi.m[i]));
            EXPECT_TRUE(bit_equal(single.v[i], multi.v[i]));
        }
        EXPECT_FALSE(bit_equal(single.param[1], TensorSet(11).param[1]));  // the step did change something
    }
}

TEST_F(AdamW, MultiCountZeroIsANoOp) {
    hb_adamw_config cfg{1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1};
    HB_EXPECT_OK(hb_adamw_update_multi(ctx, nullptr, 0, nullptr, &cfg));
    float s = 2.0f;
    HB_EXPECT_OK(hb_sum_squares_multi(ctx, &s, nullptr, nullptr, 0));
    EXPECT_EQ(s, 2.0f);
}

TEST_F(AdamW, MultiErrorsNameTheIndex) {
    TensorSet ts(3);
    auto t = ts.descriptors();
    const auto before = ts.param;
    hb_adamw_config cfg{1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1};
    const int32_t count = (int32_t)t.size();
    auto expect_error = [&](const char* needle) {
        EXPECT_EQ(hb_adamw_update_multi(ctx, t.data(), count, nullptr, &cfg), HB_ERR_INVALID_ARGUMENT) << needle;
        EXPECT_TRUE(error_mentions(needle));
        t = ts.descriptors();
    };
    t[3].grad = nullptr;
    expect_error("hb_adamw_update_multi: tensors[3].grad is NULL");
    t[0].param = nullptr;
    expect_error("hb_adamw_update_multi: tensors[0].param is NULL");
    t[6].m = nullptr;
    expect_error("tensors[6].m is NULL");
    t[2].v = nullptr;
    expect_error("tensors[2].v is NULL");
    t[4].n = 0;
    expect_error("hb_adamw_update_multi: tensors[4].n must be > 0 (got 0)");
    t[5].weight_decay = -0.1f;
    expect_error("tensors[5].weight_decay must be finite and >= 0");
    t[1].weight_decay = NAN;
    expect_error("tensors[1].weight_decay must be finite and >= 0");
    t[2].reserved = 1;
    expect_error("tensors[2].reserved must be 0");
    cfg.step = 0;
    expect_error("hb_adamw_update_multi: config->step must be >= 1 (got 0)");
    cfg.step = 1;
    cfg.beta2 = 1.0f;
    expect_error("hb_adamw_update_multi: config->beta1 and beta2 must be in [0,1)");
    cfg.beta2 = 0.999f;
    EXPECT_EQ(hb_adamw_update_multi(ctx, t.data(), -1, nullptr, &cfg), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_adamw_update_multi: count must be >= 0 (got -1)"));
    EXPECT_EQ(hb_adamw_update_multi(ctx, nullptr, 2, nullptr, &cfg), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_adamw_update_multi: tensors is NULL"));
    EXPECT_EQ(hb_adamw_update_multi(ctx, t.data(), count, nullptr, nullptr), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_adamw_update_multi: config is NULL"));
    // a bad tensor anywhere rejects the whole call before anything is updated
    for (size_t i = 0; i < before.size(); i++) EXPECT_TRUE(bit_equal(before[i], ts.param[i])) << "tensor " << i;

    float s = 0.0f;
    std::vector<const float*> xs = {ts.grad[0].data(), nullptr, ts.grad[2].data()};
    std::vector<int64_t> ns = {1, 37, 100003};
    EXPECT_EQ(hb_sum_squares_multi(ctx, &s, xs.data(), ns.data(), 3), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_sum_squares_multi: xs[1] is NULL"));
    xs[1] = ts.grad[1].data();
    ns[2] = -5;
    EXPECT_EQ(hb_sum_squares_multi(ctx, &s, xs.data(), ns.data(), 3), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_sum_squares_multi: ns[2] must be > 0 (got -5)"));
    EXPECT_EQ(hb_sum_squares_multi(ctx, nullptr, xs.data(), ns.data(), 3), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_sum_squares_multi: sumsq is NULL"));
    EXPECT_EQ(hb_sum_squares_multi(ctx, &s, xs.data(), nullptr, 3), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_sum_squares_multi: ns is NULL"));
    EXPECT_EQ(hb_sum_squares_multi(ctx, &s, xs.data(), ns.data(), -2), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_sum_squares_multi: count must be >= 0 (got -2)"));
    EXPECT_EQ(s, 0.0f);
}

}  // namespace
