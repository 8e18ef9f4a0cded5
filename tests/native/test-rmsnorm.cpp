// test-rmsnorm.cpp — hb_rmsnorm_forward/backward against a double reference, the documented accumulation
// of dinp and dweight (and dweight == NULL), finite differences, and argument errors.
#include "test-helpers.hpp"

using namespace hbtest;

namespace {

class RmsNorm : public CpuKernel {};

struct Ref {
    std::vector<double> out, rstd, dinp, dweight;
};

// Forward and backward in double. dinp and dweight are the gradients alone (not yet accumulated).
Ref rmsnorm_ref(const std::vector<float>& inp, const std::vector<float>& w, const std::vector<float>& dout, int64_t N,
                int64_t C, double eps) {
    Ref r{std::vector<double>(N * C), std::vector<double>(N), std::vector<double>(N * C), std::vector<double>(C, 0.0)};
    for (int64_t i = 0; i < N; i++) {
        double ss = 0.0;
        for (int64_t c = 0; c < C; c++) ss += (double)inp[i * C + c] * inp[i * C + c];
        const double s = 1.0 / std::sqrt(ss / C + eps);
        r.rstd[i] = s;
        double dot = 0.0;  // sum dout * w * xhat
        for (int64_t c = 0; c < C; c++) {
            const double xhat = inp[i * C + c] * s;
            r.out[i * C + c] = xhat * w[c];
            dot += (double)dout[i * C + c] * w[c] * xhat;
            r.dweight[c] += (double)dout[i * C + c] * xhat;
        }
        for (int64_t c = 0; c < C; c++) {
            const double xhat = inp[i * C + c] * s;
            r.dinp[i * C + c] = s * ((double)dout[i * C + c] * w[c] - xhat * dot / C);
        }
    }
    return r;
}

struct Shape { int64_t N, C; };
const Shape kShapes[] = {{1, 1}, {1, 37}, {5, 37}, {130, 512}};  // the last runs threaded

TEST_F(RmsNorm, MatchesReferenceAndAccumulates) {
    for (Shape s : kShapes) {
        SCOPED_TRACE(testing::Message() << "N=" << s.N << " C=" << s.C);
        const int64_t N = s.N, C = s.C;
        auto inp = random_floats(N * C, 1, -2.0f, 2.0f), w = random_floats(C, 2, 0.5f, 1.5f);
        auto dout = random_floats(N * C, 3);
        auto ref = rmsnorm_ref(inp, w, dout, N, C, 1e-5);
        std::vector<float> out(N * C), rstd(N);
        HB_ASSERT_OK(hb_rmsnorm_forward(ctx, out.data(), rstd.data(), inp.data(), w.data(), N, C, 1e-5f));
        EXPECT_TRUE(all_close("out", out, ref.out, 1e-5, 1e-5));
        EXPECT_TRUE(all_close("rstd", rstd, ref.rstd, 1e-5, 1e-5));

        auto dinp = random_floats(N * C, 4), dweight = random_floats(C, 5);  // both accumulate
        auto dinp_ref = to_double(dinp), dweight_ref = to_double(dweight);
        for (int64_t i = 0; i < N * C; i++) dinp_ref[i] += ref.dinp[i];
        for (int64_t c = 0; c < C; c++) dweight_ref[c] += ref.dweight[c];
        HB_ASSERT_OK(hb_rmsnorm_backward(ctx, dinp.data(), dweight.data(), dout.data(), inp.data(), w.data(),
                                         rstd.data(), N, C));
        EXPECT_TRUE(all_close("dinp", dinp, dinp_ref, 1e-5, 1e-4));
        EXPECT_TRUE(all_close("dweight", dweight, dweight_ref, 1e-4, 1e-4));

        std::vector<float> dinp2(N * C, 0.0f);  // frozen weight: dweight NULL
        HB_ASSERT_OK(hb_rmsnorm_backward(ctx, dinp2.data(), nullptr, dout.data(), inp.data(), w.data(), rstd.data(), N, C));
        EXPECT_TRUE(all_close("dinp (dweight NULL)", dinp2, ref.dinp, 1e-5, 1e-4));
    }
}

// dweight partial sums from 3 threads over 130 rows.
TEST_F(RmsNorm, DweightWithThreeThreads) {
    ThreadedContext three(3);
    const int64_t N = 130, C = 512;
    auto inp = random_floats(N * C, 31), w = random_floats(C, 32), dout = random_floats(N * C, 33);
    auto ref = rmsnorm_ref(inp, w, dout, N, C, 1e-5);
    std::vector<float> out(N * C), rstd(N), dinp(N * C, 0.0f), dweight(C, 0.0f);
    HB_ASSERT_OK(hb_rmsnorm_forward(three.ctx, out.data(), rstd.data(), inp.data(), w.data(), N, C, 1e-5f));
    HB_ASSERT_OK(hb_rmsnorm_backward(three.ctx, dinp.data(), dweight.data(), dout.data(), inp.data(), w.data(),
                                     rstd.data(), N, C));
    EXPECT_TRUE(all_close("dinp", dinp, ref.dinp, 1e-5, 1e-4));
    EXPECT_TRUE(all_close("dweight", dweight, ref.dweight, 1e-4, 1e-4));
}

TEST_F(RmsNorm, BackwardMatchesFiniteDifferences) {
    const int64_t N = 4, C = 10;
    auto inp = random_floats(N * C, 6), w = random_floats(C, 7), R = random_floats(N * C, 8);
    std::vector<float> out(N * C), rstd(N), dinp(N * C, 0.0f), dw(C, 0.0f);
    auto loss = [&] {
        EXPECT_EQ(hb_rmsnorm_forward(ctx, out.data(), rstd.data(), inp.data(), w.data(), N, C, 1e-5f), HB_OK);
        return dot(out, R);
    };
    loss();
    HB_ASSERT_OK(hb_rmsnorm_backward(ctx, dinp.data(), dw.data(), R.data(), inp.data(), w.data(), rstd.data(), N, C));
    EXPECT_TRUE(gradient_check("inp", inp, dinp, loss, 20, 1e-3));
    EXPECT_TRUE(gradient_check("weight", w, dw, loss, 10, 1e-3));
}

TEST_F(RmsNorm, ErrorsNameTheArgument) {
    std::vector<float> x(6, 1.0f), rstd(2);
    EXPECT_EQ(hb_rmsnorm_forward(ctx, x.data(), rstd.data(), x.data(), x.data(), 2, 3, 0.0f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_rmsnorm_forward: eps must be"));
    EXPECT_EQ(hb_rmsnorm_forward(ctx, x.data(), nullptr, x.data(), x.data(), 2, 3, 1e-5f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("rstd is NULL"));
    EXPECT_EQ(hb_rmsnorm_backward(ctx, x.data(), nullptr, x.data(), x.data(), x.data(), rstd.data(), 2, -3),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_rmsnorm_backward: C must be > 0 (got -3)"));
    EXPECT_EQ(hb_rmsnorm_backward(ctx, nullptr, nullptr, x.data(), x.data(), x.data(), rstd.data(), 2, 3),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("dinp is NULL"));
}

}  // namespace
