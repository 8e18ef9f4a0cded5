// test-matmul.cpp — hb_matmul: every transpose combination, alpha/beta, awkward sizes, and the linear-layer
// backward built from it (dx = dy W, dW = dy^T x) against finite differences.
#include "test-helpers.hpp"

using namespace hbtest;

namespace {

// out (M,N) = alpha * op(a) op(b) + beta * out, in double.
std::vector<double> matmul_ref(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& out,
                               int64_t M, int64_t N, int64_t K, bool ta, bool tb, double alpha, double beta) {
    std::vector<double> r(M * N);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < K; k++) {
                const double av = ta ? a[k * M + i] : a[i * K + k];
                const double bv = tb ? b[j * K + k] : b[k * N + j];
                s += av * bv;
            }
            r[i * N + j] = alpha * s + beta * out[i * N + j];
        }
    return r;
}

class Matmul : public CpuKernel {};

TEST_F(Matmul, AllTransposesMatchReference) {
    struct Shape { int64_t M, N, K; };
    // The last two are large enough to be split over threads, by rows of out and by columns.
    for (Shape s : {Shape{1, 1, 1}, Shape{37, 13, 5}, Shape{64, 48, 96}, Shape{3, 70, 129}, Shape{301, 203, 101},
                    Shape{21, 703, 300}}) {
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                SCOPED_TRACE(testing::Message() << "M=" << s.M << " N=" << s.N << " K=" << s.K << " ta=" << ta << " tb=" << tb);
                auto a = random_floats(s.M * s.K, 1);
                auto b = random_floats(s.K * s.N, 2);
                auto out = random_floats(s.M * s.N, 3);
                auto ref = matmul_ref(a, b, out, s.M, s.N, s.K, ta, tb, 0.75, 0.5);
                HB_ASSERT_OK(hb_matmul(ctx, out.data(), a.data(), b.data(), s.M, s.N, s.K, ta, tb, 0.75f, 0.5f));
                EXPECT_TRUE(all_close("out", out, ref, 1e-5, 1e-5));
            }
    }
}

// Split over 3 threads, by rows (M >= N) and by columns: slabs of unequal size, transposed operands.
TEST_F(Matmul, UnevenThreadSplitsMatchReference) {
    ThreadedContext three(3);
    struct Shape { int64_t M, N, K; };
    for (Shape s : {Shape{301, 203, 101}, Shape{21, 703, 300}})
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                auto a = random_floats(s.M * s.K, 11), b = random_floats(s.K * s.N, 12), out = random_floats(s.M * s.N, 13);
                auto ref = matmul_ref(a, b, out, s.M, s.N, s.K, ta, tb, 1.0, 1.0);
                HB_ASSERT_OK(hb_matmul(three.ctx, out.data(), a.data(), b.data(), s.M, s.N, s.K, ta, tb, 1.0f, 1.0f));
                EXPECT_TRUE(all_close("out", out, ref, 1e-5, 1e-5)) << "M=" << s.M << " ta=" << ta << " tb=" << tb;
            }
}

TEST_F(Matmul, BetaZeroOverwritesGarbage) {
    const int64_t M = 5, N = 7, K = 3;
    auto a = random_floats(M * K, 4), b = random_floats(K * N, 5);
    std::vector<float> out(M * N, std::nanf(""));
    auto ref = matmul_ref(a, b, std::vector<float>(M * N, 0.0f), M, N, K, false, false, 1.0, 0.0);
    HB_ASSERT_OK(hb_matmul(ctx, out.data(), a.data(), b.data(), M, N, K, 0, 0, 1.0f, 0.0f));
    EXPECT_TRUE(all_close("out", out, ref, 1e-5, 1e-5));
}

// A linear layer y = x W^T (x (N,in), W (out,in)) and its gradients as the model computes them:
// dx = dy W (matmul NN), dW += dy^T x (matmul with trans_a, beta 1).
TEST_F(Matmul, LinearLayerGradientsMatchFiniteDifferences) {
    const int64_t N = 9, in = 13, out = 6;
    auto x = random_floats(N * in, 6), W = random_floats(out * in, 7), R = random_floats(N * out, 8);
    std::vector<float> y(N * out);
    auto loss = [&] {
        EXPECT_EQ(hb_matmul(ctx, y.data(), x.data(), W.data(), N, out, in, 0, 1, 1.0f, 0.0f), HB_OK);
        return dot(y, R);
    };
    std::vector<float> dx(N * in), dW(out * in, 0.0f);
    HB_ASSERT_OK(hb_matmul(ctx, dx.data(), R.data(), W.data(), N, in, out, 0, 0, 1.0f, 0.0f));
    HB_ASSERT_OK(hb_matmul(ctx, dW.data(), R.data(), x.data(), out, in, N, 1, 0, 1.0f, 1.0f));
    EXPECT_TRUE(gradient_check("x", x, dx, loss));
    EXPECT_TRUE(gradient_check("W", W, dW, loss));
}

TEST_F(Matmul, ErrorsNameTheArgument) {
    float buf[16] = {1};
    EXPECT_EQ(hb_matmul(ctx, nullptr, buf, buf, 2, 2, 2, 0, 0, 1.0f, 0.0f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_matmul: out is NULL"));
    EXPECT_EQ(hb_matmul(ctx, buf, buf, buf, 2, 0, 2, 0, 0, 1.0f, 0.0f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("N must be > 0"));
    EXPECT_EQ(hb_matmul(ctx, buf, buf, buf, 2, 2, 2, 2, 0, 1.0f, 0.0f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("trans_a"));
    EXPECT_EQ(hb_matmul(ctx, buf, buf, buf, (int64_t)1 << 32, 2, 2, 0, 0, 1.0f, 0.0f), HB_ERR_UNSUPPORTED);
    EXPECT_TRUE(error_mentions("32-bit"));
    EXPECT_EQ(hb_matmul(nullptr, buf, buf, buf, 2, 2, 2, 0, 0, 1.0f, 0.0f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("ctx is NULL"));
}

}  // namespace
