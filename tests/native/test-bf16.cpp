// test-bf16.cpp — bf16 storage: the conversions bit by bit (ties to even, NaN, infinities, overflow, subnormals),
// the round trip, and hb_matmul_bf16 against a double-precision reference on the same bf16 values.
#include <cmath>
#include <cstring>
#include <limits>

#include "test-helpers.hpp"

using namespace hbtest;

namespace {

float from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

class Bf16 : public CpuKernel {
protected:
    uint16_t to_bf16(float f) {
        uint16_t h = 0;
        EXPECT_EQ(hb_convert_f32_to_bf16(ctx, &h, &f, 1), HB_OK) << last_error();
        return h;
    }
    float to_f32(uint16_t h) {
        float f = 0;
        EXPECT_EQ(hb_convert_bf16_to_f32(ctx, &f, &h, 1), HB_OK) << last_error();
        return f;
    }
};

TEST_F(Bf16, RoundsToNearestTiesToEven) {
    EXPECT_EQ(to_bf16(1.0f), 0x3f80);                      // exact
    EXPECT_EQ(to_bf16(from_bits(0x3f808000u)), 0x3f80);    // exactly half way, kept half even: down
    EXPECT_EQ(to_bf16(from_bits(0x3f818000u)), 0x3f82);    // exactly half way, kept half odd: up to even
    EXPECT_EQ(to_bf16(from_bits(0x3f808001u)), 0x3f81);    // just above half: up
    EXPECT_EQ(to_bf16(from_bits(0x3f807fffu)), 0x3f80);    // just below half: down
    EXPECT_EQ(to_bf16(-2.5f), 0xc020);
    EXPECT_EQ(to_bf16(0.0f), 0x0000);
    EXPECT_EQ(to_bf16(-0.0f), 0x8000);
    EXPECT_EQ(to_bf16(from_bits(0x00000001u)), 0x0000);    // the smallest subnormal rounds to zero
    EXPECT_EQ(to_bf16(from_bits(0x00018000u)), 0x0002);    // subnormal tie, odd kept half: up to even
}

TEST_F(Bf16, InfinitiesOverflowAndNaN) {
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(to_bf16(inf), 0x7f80);
    EXPECT_EQ(to_bf16(-inf), 0xff80);
    EXPECT_EQ(to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // past the largest bf16: infinity
    EXPECT_EQ(to_bf16(from_bits(0x7f7f7fffu)), 0x7f7f);               // the largest bf16 stays finite
    // A NaN whose payload is only in the dropped bits must not become infinity.
    const uint16_t nan = to_bf16(from_bits(0x7f800001u));
    EXPECT_TRUE(std::isnan(to_f32(nan))) << std::hex << nan;
    EXPECT_TRUE(std::isnan(to_f32(to_bf16(-std::numeric_limits<float>::quiet_NaN()))));
    EXPECT_EQ(to_bf16(-std::numeric_limits<float>::quiet_NaN()) & 0x8000, 0x8000);  // sign kept
}

TEST_F(Bf16, RoundTripIsExactOnBf16ValuesAndWithinHalfAnUlpOtherwise) {
    // Every bf16 bit pattern but NaNs converts to fp32 and back unchanged.
    std::vector<uint16_t> all;
    for (uint32_t h = 0; h < 65536; h++)
        if (!std::isnan(from_bits(h << 16))) all.push_back((uint16_t)h);
    std::vector<float> wide(all.size());
    std::vector<uint16_t> back(all.size());
    HB_ASSERT_OK(hb_convert_bf16_to_f32(ctx, wide.data(), all.data(), (int64_t)all.size()));
    HB_ASSERT_OK(hb_convert_f32_to_bf16(ctx, back.data(), wide.data(), (int64_t)wide.size()));
    for (size_t i = 0; i < all.size(); i++) {
        ASSERT_EQ(bits(wide[i]), (uint32_t)all[i] << 16);
        ASSERT_EQ(back[i], all[i]);
    }
    // Random fp32 values (threaded: n is above the parallel threshold): off by at most half a bf16 ulp, i.e.
    // 2^(e-8) for x in [2^e, 2^(e+1)).
    ThreadedContext three(3);
    auto x = random_floats(100003, 31, -50.0f, 50.0f);
    std::vector<uint16_t> h(x.size());
    std::vector<float> y(x.size());
    HB_ASSERT_OK(hb_convert_f32_to_bf16(three.ctx, h.data(), x.data(), (int64_t)x.size()));
    HB_ASSERT_OK(hb_convert_bf16_to_f32(three.ctx, y.data(), h.data(), (int64_t)h.size()));
    for (size_t i = 0; i < x.size(); i++)
        ASSERT_LE(std::fabs((double)y[i] - x[i]), std::ldexp(1.0, std::ilogb(x[i]) - 8)) << "x=" << x[i];
}

// out (M,N) = alpha * op(a) op(b) + beta * out in double, on the bf16 values.
std::vector<double> matmul_ref(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& out,
                               int64_t M, int64_t N, int64_t K, bool ta, bool tb, double alpha, double beta) {
    std::vector<double> r((size_t)(M * N));
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < K; k++) s += (double)(ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
            r[i * N + j] = alpha * s + beta * out[i * N + j];
        }
    return r;
}

TEST_F(Bf16, MatmulMatchesTheReferenceOnEveryTranspose) {
    struct Shape { int64_t M, N, K; };
    for (Shape s : {Shape{1, 1, 1}, Shape{37, 13, 5}, Shape{64, 48, 96}, Shape{301, 203, 101}})
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                SCOPED_TRACE(testing::Message() << "M=" << s.M << " N=" << s.N << " K=" << s.K << " ta=" << ta << " tb=" << tb);
                auto a32 = random_floats((size_t)(s.M * s.K), 41), b32 = random_floats((size_t)(s.K * s.N), 42);
                std::vector<uint16_t> a(a32.size()), b(b32.size());
                HB_ASSERT_OK(hb_convert_f32_to_bf16(ctx, a.data(), a32.data(), (int64_t)a.size()));
                HB_ASSERT_OK(hb_convert_f32_to_bf16(ctx, b.data(), b32.data(), (int64_t)b.size()));
                HB_ASSERT_OK(hb_convert_bf16_to_f32(ctx, a32.data(), a.data(), (int64_t)a.size()));  // the bf16 values
                HB_ASSERT_OK(hb_convert_bf16_to_f32(ctx, b32.data(), b.data(), (int64_t)b.size()));
                auto out = random_floats((size_t)(s.M * s.N), 43);
                auto ref = matmul_ref(a32, b32, out, s.M, s.N, s.K, ta, tb, 0.75, 0.5);
                HB_ASSERT_OK(hb_matmul_bf16(ctx, out.data(), a.data(), b.data(), s.M, s.N, s.K, ta, tb, 0.75f, 0.5f));
                EXPECT_TRUE(all_close("out", out, ref, 1e-5, 1e-5));
            }
}

// The point of bf16 storage: the same product as the fp32 GEMM up to bf16's 8-bit mantissa on the inputs.
TEST_F(Bf16, MatmulIsCloseToTheFp32Product) {
    const int64_t M = 48, N = 40, K = 256;
    auto a32 = random_floats((size_t)(M * K), 51), b32 = random_floats((size_t)(K * N), 52);
    std::vector<uint16_t> a(a32.size()), b(b32.size());
    HB_ASSERT_OK(hb_convert_f32_to_bf16(ctx, a.data(), a32.data(), (int64_t)a.size()));
    HB_ASSERT_OK(hb_convert_f32_to_bf16(ctx, b.data(), b32.data(), (int64_t)b.size()));
    std::vector<float> exact((size_t)(M * N)), approx((size_t)(M * N));
    HB_ASSERT_OK(hb_matmul(ctx, exact.data(), a32.data(), b32.data(), M, N, K, 0, 1, 1.0f, 0.0f));
    HB_ASSERT_OK(hb_matmul_bf16(ctx, approx.data(), a.data(), b.data(), M, N, K, 0, 1, 1.0f, 0.0f));
    std::vector<double> ref(exact.begin(), exact.end());
    // Each input is off by at most 2^-8 relative: a sum of K products of values in [-1,1] moves by ~2^-8 sqrt(K).
    EXPECT_TRUE(all_close("bf16 vs fp32", approx, ref, std::ldexp(1.0, -8) * std::sqrt((double)K), 0.0));
    double diff = 0;
    for (size_t i = 0; i < exact.size(); i++) diff = std::max(diff, (double)std::fabs(exact[i] - approx[i]));
    EXPECT_GT(diff, 0.0) << "bf16 rounding should change the product somewhere";
}

TEST_F(Bf16, ErrorsNameTheArgument) {
    float f[4] = {1, 2, 3, 4};
    uint16_t h[4] = {0x3f80, 0x3f80, 0x3f80, 0x3f80};
    EXPECT_EQ(hb_convert_f32_to_bf16(ctx, nullptr, f, 4), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_convert_f32_to_bf16: out is NULL"));
    EXPECT_EQ(hb_convert_bf16_to_f32(ctx, f, h, 0), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("n must be > 0"));
    EXPECT_EQ(hb_matmul_bf16(ctx, f, h, nullptr, 2, 2, 1, 0, 0, 1.0f, 0.0f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_matmul_bf16: b is NULL"));
    EXPECT_EQ(hb_matmul_bf16(ctx, f, h, h, 2, 2, 1, 0, 3, 1.0f, 0.0f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("trans_a and trans_b"));
    EXPECT_EQ(hb_matmul_bf16(ctx, f, h, h, (int64_t)1 << 32, 1, 1, 0, 0, 1.0f, 0.0f), HB_ERR_UNSUPPORTED);
    EXPECT_TRUE(error_mentions("32-bit"));
}

}  // namespace
