// test-lora.cpp — hb_lora_forward/backward against a double reference: y and da, db, dx accumulate, xa saved,
// dx NULL skipped; finite differences for x, a, b; argument errors.
#include "test-helpers.hpp"

using namespace hbtest;

namespace {

class Lora : public CpuKernel {};

struct Shape { int64_t N, in, out, R; };

TEST_F(Lora, MatchesReferenceAndAccumulates) {
    for (Shape s : {Shape{1, 1, 1, 1}, Shape{9, 37, 13, 3}, Shape{70, 64, 96, 8}}) {
        SCOPED_TRACE(testing::Message() << "N=" << s.N << " in=" << s.in << " out=" << s.out << " R=" << s.R);
        const int64_t N = s.N, in = s.in, out = s.out, R = s.R;
        const double scale = 2.0;
        auto x = random_floats(N * in, 1), a = random_floats(R * in, 2), b = random_floats(out * R, 3);
        auto dy = random_floats(N * out, 4);
        // reference: xa = x a^T, y += scale xa b^T; dxa = scale dy b; da = dxa^T x; db = scale dy^T xa; dx = dxa a
        std::vector<double> xa(N * R, 0.0), dxa(N * R, 0.0);
        for (int64_t i = 0; i < N; i++)
            for (int64_t r = 0; r < R; r++) {
                for (int64_t c = 0; c < in; c++) xa[i * R + r] += (double)x[i * in + c] * a[r * in + c];
                for (int64_t o = 0; o < out; o++) dxa[i * R + r] += scale * dy[i * out + o] * b[o * R + r];
            }
        // the gradients alone, in double
        std::vector<double> y_add(N * out, 0.0), g_da(R * in, 0.0), g_db(out * R, 0.0), g_dx(N * in, 0.0);
        for (int64_t i = 0; i < N; i++) {
            for (int64_t o = 0; o < out; o++)
                for (int64_t r = 0; r < R; r++) {
                    y_add[i * out + o] += scale * xa[i * R + r] * b[o * R + r];
                    g_db[o * R + r] += scale * dy[i * out + o] * xa[i * R + r];
                }
            for (int64_t r = 0; r < R; r++)
                for (int64_t c = 0; c < in; c++) {
                    g_da[r * in + c] += dxa[i * R + r] * x[i * in + c];
                    g_dx[i * in + c] += dxa[i * R + r] * a[r * in + c];
                }
        }
        auto plus = [](const std::vector<float>& base, const std::vector<double>& add) {
            std::vector<double> r(base.size());
            for (size_t i = 0; i < base.size(); i++) r[i] = (double)base[i] + add[i];
            return r;
        };
        // y, da, db, dx start non-zero: all four accumulate.
        auto y = random_floats(N * out, 5), da = random_floats(R * in, 6), db = random_floats(out * R, 7);
        auto dx = random_floats(N * in, 8);
        auto y_ref = plus(y, y_add), da_ref = plus(da, g_da), db_ref = plus(db, g_db), dx_ref = plus(dx, g_dx);
        std::vector<float> xa_got(N * R, NAN), work(N * R, NAN);
        HB_ASSERT_OK(hb_lora_forward(ctx, y.data(), xa_got.data(), x.data(), a.data(), b.data(), N, in, out, R, (float)scale));
        EXPECT_TRUE(all_close("y", y, y_ref, 1e-5, 1e-5));
        EXPECT_TRUE(all_close("xa", xa_got, xa, 1e-5, 1e-5));
        HB_ASSERT_OK(hb_lora_backward(ctx, dx.data(), da.data(), db.data(), work.data(), dy.data(), x.data(),
                                      xa_got.data(), a.data(), b.data(), N, in, out, R, (float)scale));
        EXPECT_TRUE(all_close("da", da, da_ref, 1e-4, 1e-5));
        EXPECT_TRUE(all_close("db", db, db_ref, 1e-4, 1e-5));
        EXPECT_TRUE(all_close("dx", dx, dx_ref, 1e-4, 1e-5));

        // dx NULL: only the adapter gradients, which accumulate once more.
        auto da2_ref = plus(da, g_da), db2_ref = plus(db, g_db);
        HB_ASSERT_OK(hb_lora_backward(ctx, nullptr, da.data(), db.data(), work.data(), dy.data(), x.data(),
                                      xa_got.data(), a.data(), b.data(), N, in, out, R, (float)scale));
        EXPECT_TRUE(all_close("da (dx NULL)", da, da2_ref, 1e-4, 1e-5));
        EXPECT_TRUE(all_close("db (dx NULL)", db, db2_ref, 1e-4, 1e-5));
    }
}

TEST_F(Lora, BackwardMatchesFiniteDifferences) {
    const int64_t N = 5, in = 7, out = 6, R = 2;
    const float scale = 1.5f;
    auto x = random_floats(N * in, 9), a = random_floats(R * in, 10), b = random_floats(out * R, 11);
    auto Rm = random_floats(N * out, 12);
    std::vector<float> y(N * out), xa(N * R), work(N * R), dx(N * in, 0.0f), da(R * in, 0.0f), db(out * R, 0.0f);
    auto loss = [&] {
        std::fill(y.begin(), y.end(), 0.0f);
        EXPECT_EQ(hb_lora_forward(ctx, y.data(), xa.data(), x.data(), a.data(), b.data(), N, in, out, R, scale), HB_OK);
        return dot(y, Rm);
    };
    loss();
    HB_ASSERT_OK(hb_lora_backward(ctx, dx.data(), da.data(), db.data(), work.data(), Rm.data(), x.data(), xa.data(),
                                  a.data(), b.data(), N, in, out, R, scale));
    EXPECT_TRUE(gradient_check("x", x, dx, loss, 15));
    EXPECT_TRUE(gradient_check("a", a, da, loss, 10));
    EXPECT_TRUE(gradient_check("b", b, db, loss, 10));
}

TEST_F(Lora, ErrorsNameTheArgument) {
    std::vector<float> buf(64, 1.0f);
    float* p = buf.data();
    EXPECT_EQ(hb_lora_forward(ctx, p, nullptr, p, p, p, 2, 2, 2, 1, 1.0f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_lora_forward: xa is NULL"));
    EXPECT_EQ(hb_lora_backward(ctx, p, p, p, nullptr, p, p, p, p, p, 2, 2, 2, 1, 1.0f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_lora_backward: work is NULL"));
    EXPECT_EQ(hb_lora_backward(ctx, p, p, p, p, p, p, p, p, p, 2, 2, 2, 0, 1.0f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("R must be > 0"));
}

}  // namespace
