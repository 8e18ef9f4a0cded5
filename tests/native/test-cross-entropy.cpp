// test-cross-entropy.cpp — hb_cross_entropy_forward/backward (fused LM head) against a double reference over
// the full logits: chunk sizes that do and do not divide V (and exceed it), several row blocks, ignored
// rows (target < 0), dw NULL and accumulating, loss_scale, finite differences, and target/argument errors.
#include <cmath>

#include "test-helpers.hpp"

using namespace hbtest;

namespace {

class CrossEntropy : public CpuKernel {};

struct Ref {
    std::vector<double> losses, lse, dh, dw;
};

Ref ce_ref(const std::vector<float>& h, const std::vector<float>& w, const std::vector<int32_t>& targets, int64_t N,
           int64_t V, int64_t C, double loss_scale) {
    Ref r{std::vector<double>(N), std::vector<double>(N), std::vector<double>(N * C, 0.0), std::vector<double>(V * C, 0.0)};
    std::vector<double> logits(V);
    for (int64_t i = 0; i < N; i++) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < V; j++) {
            double s = 0.0;
            for (int64_t c = 0; c < C; c++) s += (double)h[i * C + c] * w[j * C + c];
            logits[j] = s;
            mx = std::max(mx, s);
        }
        double sum = 0.0;
        for (int64_t j = 0; j < V; j++) sum += std::exp(logits[j] - mx);
        const double lse = mx + std::log(sum);
        r.lse[i] = lse;
        const int32_t t = targets[i];
        r.losses[i] = t < 0 ? 0.0 : lse - logits[t];
        if (t < 0) continue;
        for (int64_t j = 0; j < V; j++) {
            const double d = loss_scale * (std::exp(logits[j] - lse) - (j == t ? 1.0 : 0.0));
            for (int64_t c = 0; c < C; c++) {
                r.dh[i * C + c] += d * w[j * C + c];
                r.dw[j * C + c] += d * h[i * C + c];
            }
        }
    }
    return r;
}

struct Case {
    int64_t N, V, C, chunk;
};

void check_case(hb_context* ctx, Case cs, uint64_t seed) {
    const int64_t N = cs.N, V = cs.V, C = cs.C;
    SCOPED_TRACE(testing::Message() << "N=" << N << " V=" << V << " C=" << C << " chunk=" << cs.chunk);
    auto h = random_floats(N * C, seed, -2.0f, 2.0f), w = random_floats(V * C, seed + 1);
    auto targets = random_ints(N, seed + 2, 0, (int32_t)V - 1);
    targets[0] = -100;  // ignored rows, the first and one in the middle
    if (N > 2) targets[N / 2] = -1;
    const float loss_scale = 1.0f / 3.0f;
    auto ref = ce_ref(h, w, targets, N, V, C, loss_scale);
    std::vector<float> losses(N, NAN), lse(N, NAN);
    HB_ASSERT_OK(hb_cross_entropy_forward(ctx, losses.data(), lse.data(), h.data(), w.data(), targets.data(), N, V, C, cs.chunk));
    EXPECT_TRUE(all_close("losses", losses, ref.losses, 1e-5, 1e-5));
    EXPECT_TRUE(all_close("lse", lse, ref.lse, 1e-5, 1e-5));
    EXPECT_EQ(losses[0], 0.0f);

    std::vector<float> dh(N * C, NAN);  // overwritten
    auto dw = random_floats(V * C, seed + 3);  // accumulated
    auto dw_ref = to_double(dw);
    for (int64_t i = 0; i < V * C; i++) dw_ref[i] += ref.dw[i];
    HB_ASSERT_OK(hb_cross_entropy_backward(ctx, dh.data(), dw.data(), h.data(), w.data(), targets.data(), lse.data(),
                                           loss_scale, N, V, C, cs.chunk));
    EXPECT_TRUE(all_close("dh", dh, ref.dh, 1e-6, 1e-4));
    EXPECT_TRUE(all_close("dw", dw, dw_ref, 1e-6, 1e-4));

    std::vector<float> dh2(N * C, NAN);  // frozen head: dw NULL
    HB_ASSERT_OK(hb_cross_entropy_backward(ctx, dh2.data(), nullptr, h.data(), w.data(), targets.data(), lse.data(),
                                           loss_scale, N, V, C, cs.chunk));
    EXPECT_TRUE(all_close("dh (dw NULL)", dh2, ref.dh, 1e-6, 1e-4));
}

TEST_F(CrossEntropy, ChunkSizesMatchReference) {
    uint64_t seed = 1;
    for (Case cs : {Case{1, 1, 1, 0}, Case{7, 1000, 37, 0}, Case{7, 1000, 37, 64}, Case{7, 1000, 37, 333},
                    Case{7, 1000, 37, 1000}, Case{7, 1000, 37, 5000}, Case{64, 3001, 16, 0}})
        check_case(ctx, cs, seed += 10);
}

// chunk * rows is capped (16 MiB of logits): a wide chunk forces several row blocks.
TEST_F(CrossEntropy, SeveralRowBlocks) { check_case(ctx, Case{50, 100000, 4, 100000}, 99); }

TEST_F(CrossEntropy, BackwardMatchesFiniteDifferences) {
    const int64_t N = 5, V = 23, C = 6;
    auto h = random_floats(N * C, 4), w = random_floats(V * C, 5);
    std::vector<int32_t> targets = {3, -1, 22, 0, 7};
    std::vector<float> losses(N), lse(N), dh(N * C), dw(V * C, 0.0f);
    auto loss = [&] {
        EXPECT_EQ(hb_cross_entropy_forward(ctx, losses.data(), lse.data(), h.data(), w.data(), targets.data(), N, V, C, 8), HB_OK);
        double s = 0.0;
        for (float l : losses) s += 0.5 * l;  // loss_scale 0.5
        return s;
    };
    loss();
    HB_ASSERT_OK(hb_cross_entropy_backward(ctx, dh.data(), dw.data(), h.data(), w.data(), targets.data(), lse.data(),
                                           0.5f, N, V, C, 8));
    EXPECT_TRUE(gradient_check("h", h, dh, loss, 20));
    EXPECT_TRUE(gradient_check("w", w, dw, loss, 30));
}

TEST_F(CrossEntropy, ErrorsNameTheArgument) {
    std::vector<float> h(2 * 3, 1.0f), w(4 * 3, 1.0f), losses(2), lse(2);
    std::vector<int32_t> targets = {1, 4};
    EXPECT_EQ(hb_cross_entropy_forward(ctx, losses.data(), lse.data(), h.data(), w.data(), targets.data(), 2, 4, 3, 0),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_cross_entropy_forward: targets[1] = 4 is out of range"));
    EXPECT_EQ(hb_cross_entropy_backward(ctx, h.data(), w.data(), h.data(), w.data(), targets.data(), lse.data(), 1.0f,
                                        2, 4, 3, 0),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_cross_entropy_backward: targets[1] = 4"));
    targets = {1, 2};
    EXPECT_EQ(hb_cross_entropy_forward(ctx, losses.data(), lse.data(), h.data(), w.data(), targets.data(), 2, 4, 3, -5),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("chunk must be >= 0 (got -5)"));
    EXPECT_EQ(hb_cross_entropy_backward(ctx, h.data(), nullptr, h.data(), w.data(), targets.data(), nullptr, 1.0f, 2,
                                        4, 3, 0),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("lse is NULL"));
    EXPECT_EQ(hb_cross_entropy_backward(ctx, h.data(), nullptr, h.data(), w.data(), targets.data(), lse.data(), NAN, 2,
                                        4, 3, 0),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("loss_scale must be finite"));
}

}  // namespace
