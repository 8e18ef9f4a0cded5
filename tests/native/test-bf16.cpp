// test-bf16.cpp — bf16 storage: the conversions bit by bit (ties to even, NaN, infinities, overflow, subnormals),
// the round trip, and hb_matmul_bf16 against a double-precision reference on the same bf16 values; and the bf16
// mixed-precision variants, each against its fp32 twin run on the bf16-rounded inputs (humpback.h's definition).
#include <cmath>
#include <cstdlib>
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

// ---------------------------------------------------------------- bf16 activations (mixed precision)

class Bf16Mixed : public CpuKernel {
protected:
    std::vector<uint16_t> round(const std::vector<float>& x) {
        std::vector<uint16_t> h(x.size());
        EXPECT_EQ(hb_convert_f32_to_bf16(ctx, h.data(), x.data(), (int64_t)x.size()), HB_OK) << last_error();
        return h;
    }
    std::vector<float> widen(const std::vector<uint16_t>& h) {
        std::vector<float> x(h.size());
        EXPECT_EQ(hb_convert_bf16_to_f32(ctx, x.data(), h.data(), (int64_t)h.size()), HB_OK) << last_error();
        return x;
    }
};

::testing::AssertionResult bit_identical(const char* what, const std::vector<float>& got,
                                         const std::vector<float>& want) {
    if (got.size() != want.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
    for (size_t i = 0; i < got.size(); i++)
        if (bits(got[i]) != bits(want[i]))
            return ::testing::AssertionFailure() << what << "[" << i << "]: " << got[i] << " vs " << want[i];
    return ::testing::AssertionSuccess();
}

// bf16 values equal up to one unit in the last place (adjacent values; +0 and -0 are one value).
::testing::AssertionResult within_one_ulp(const char* what, const std::vector<uint16_t>& got,
                                          const std::vector<uint16_t>& want) {
    if (got.size() != want.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
    auto ordinal = [](uint16_t v) { return (v & 0x8000) ? -(int)(v & 0x7fff) : (int)v; };  // monotone in the value
    size_t bad = 0;
    std::ostringstream msg;
    for (size_t i = 0; i < got.size(); i++) {
        if (std::abs(ordinal(got[i]) - ordinal(want[i])) > 1 && bad++ < 5)
            msg << "\n  " << what << "[" << i << "]: 0x" << std::hex << got[i] << " vs 0x" << want[i] << std::dec;
    }
    if (bad == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements of " << what
                                         << " differ by more than one bf16 ulp:" << msg.str();
}

// Every dtype pair and transpose: an fp32 operand is rounded to bf16 first, so the result is hb_matmul_bf16 on the
// converted operands, bit for bit (the CPU backend runs the same widened GEMM).
TEST_F(Bf16Mixed, MatmulIsMatmulBf16OnTheRoundedOperands) {
    struct Shape { int64_t M, N, K; };
    for (Shape s : {Shape{1, 1, 1}, Shape{37, 13, 5}, Shape{64, 48, 96}})
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (hb_dtype at : {HB_DTYPE_F32, HB_DTYPE_BF16})
                    for (hb_dtype bt : {HB_DTYPE_F32, HB_DTYPE_BF16}) {
                        SCOPED_TRACE(testing::Message() << "M=" << s.M << " N=" << s.N << " K=" << s.K << " ta=" << ta
                                                        << " tb=" << tb << " a_type=" << at << " b_type=" << bt);
                        auto a32 = random_floats((size_t)(s.M * s.K), 61), b32 = random_floats((size_t)(s.K * s.N), 62);
                        const auto a16 = round(a32), b16 = round(b32);
                        auto out = random_floats((size_t)(s.M * s.N), 63), want = out;
                        HB_ASSERT_OK(hb_matmul_bf16(ctx, want.data(), a16.data(), b16.data(), s.M, s.N, s.K, ta, tb,
                                                    0.75f, 0.5f));
                        const void* a = at == HB_DTYPE_F32 ? (const void*)a32.data() : (const void*)a16.data();
                        const void* b = bt == HB_DTYPE_F32 ? (const void*)b32.data() : (const void*)b16.data();
                        HB_ASSERT_OK(hb_matmul_bf16_mixed(ctx, out.data(), a, at, b, bt, s.M, s.N, s.K, ta, tb, 0.75f,
                                                          0.5f));
                        EXPECT_TRUE(bit_identical("out", out, want));
                    }
}

TEST_F(Bf16Mixed, EmbeddingWidensTheRowsExactly) {
    const int64_t N = 300, V = 211, C = 129;  // N * C above the parallel threshold
    const auto wte16 = round(random_floats((size_t)(V * C), 71));
    const auto wte = widen(wte16);
    auto tokens = random_ints((size_t)N, 72, 0, (int32_t)V - 1);
    tokens[0] = 0;
    tokens[1] = (int32_t)V - 1;
    std::vector<float> out((size_t)(N * C), NAN), want((size_t)(N * C), NAN);
    HB_ASSERT_OK(hb_embedding_forward_bf16(ctx, out.data(), tokens.data(), wte16.data(), N, V, C));
    HB_ASSERT_OK(hb_embedding_forward(ctx, want.data(), tokens.data(), wte.data(), N, V, C));
    EXPECT_TRUE(bit_identical("out", out, want));
}

// out == bf16(the fp32 forward's out), rstd equal; one and several threads, rows shorter and longer than a vector.
TEST_F(Bf16Mixed, RmsNormRoundsTheFp32OutputOnce) {
    ThreadedContext three(3);
    for (hb_context* c : {ctx, three.ctx})
        for (int64_t C : {7, 1000}) {
            const int64_t N = 40;
            SCOPED_TRACE(testing::Message() << "C=" << C);
            auto inp = random_floats((size_t)(N * C), 81, -3.0f, 3.0f), weight = random_floats((size_t)C, 82, 0.5f, 1.5f);
            std::vector<float> out32((size_t)(N * C), NAN), rstd32((size_t)N, NAN), rstd((size_t)N, NAN);
            std::vector<uint16_t> out((size_t)(N * C), 0xffff);
            HB_ASSERT_OK(hb_rmsnorm_forward(c, out32.data(), rstd32.data(), inp.data(), weight.data(), N, C, 1e-5f));
            HB_ASSERT_OK(hb_rmsnorm_forward_bf16(c, out.data(), rstd.data(), inp.data(), weight.data(), N, C, 1e-5f));
            EXPECT_TRUE(within_one_ulp("out", out, round(out32)));
            EXPECT_TRUE(bit_identical("rstd", rstd, rstd32));
        }
}

TEST_F(Bf16Mixed, SwiGluRoundsTheFp32OutputOnce) {
    for (int64_t n : {1, 7, 100003}) {
        SCOPED_TRACE(testing::Message() << "n=" << n);
        auto gate = random_floats((size_t)n, 91, -8.0f, 8.0f), up = random_floats((size_t)n, 92, -2.0f, 2.0f);
        std::vector<float> out32((size_t)n, NAN);
        std::vector<uint16_t> out((size_t)n, 0xffff);
        HB_ASSERT_OK(hb_swiglu_forward(ctx, out32.data(), gate.data(), up.data(), n));
        HB_ASSERT_OK(hb_swiglu_forward_bf16(ctx, out.data(), gate.data(), up.data(), n));
        EXPECT_TRUE(within_one_ulp("out", out, round(out32)));
    }
}

// Cross-entropy on bf16 h and w: the forward is the fp32 forward on the widened inputs; the backward's dlogits are
// rounded to bf16 before its GEMMs, which a double reference doing the same checks (and the fp32 backward, loosely).
struct CeCase {
    int64_t N, V, C, chunk;
};

class Bf16CrossEntropy : public Bf16Mixed, public ::testing::WithParamInterface<CeCase> {};

TEST_P(Bf16CrossEntropy, MatchesTheFp32OpOnWidenedInputsWithBf16Dlogits) {
    const CeCase cs = GetParam();
    const int64_t N = cs.N, V = cs.V, C = cs.C;
    const auto h16 = round(random_floats((size_t)(N * C), 101, -2.0f, 2.0f));
    const auto w16 = round(random_floats((size_t)(V * C), 102));
    const auto h = widen(h16), w = widen(w16);
    auto targets = random_ints((size_t)N, 103, 0, (int32_t)V - 1);
    targets[0] = -100;  // ignored rows
    if (N > 2) targets[(size_t)(N / 2)] = -1;
    targets[(size_t)(N - 1)] = (int32_t)V - 1;
    const float loss_scale = 1.0f / 3.0f;

    std::vector<float> losses((size_t)N, NAN), lse((size_t)N, NAN), losses32((size_t)N, NAN), lse32((size_t)N, NAN);
    HB_ASSERT_OK(hb_cross_entropy_forward_bf16(ctx, losses.data(), lse.data(), h16.data(), w16.data(), targets.data(),
                                               N, V, C, cs.chunk));
    HB_ASSERT_OK(hb_cross_entropy_forward(ctx, losses32.data(), lse32.data(), h.data(), w.data(), targets.data(), N, V,
                                          C, cs.chunk));
    EXPECT_TRUE(all_close("losses", losses, to_double(losses32), 1e-6, 1e-6));
    EXPECT_TRUE(all_close("lse", lse, to_double(lse32), 1e-6, 1e-6));
    EXPECT_EQ(losses[0], 0.0f);

    // Reference: logits in double from the bf16 values, d = loss_scale * (softmax - onehot) in fp32 rounded to bf16,
    // then both products in double. d rounds to the other bf16 neighbour only where the fp32 d lies within the
    // library's rounding error of a bf16 half-way point (rare): the tolerance allows one such flip per row.
    std::vector<double> dh_ref((size_t)(N * C), 0.0), dw_step((size_t)(V * C), 0.0), dh_unrounded((size_t)(N * C), 0.0);
    std::vector<float> d32((size_t)V);
    for (int64_t i = 0; i < N; i++) {
        const int32_t t = targets[(size_t)i];
        if (t < 0) continue;
        for (int64_t j = 0; j < V; j++) {
            double s = 0.0;
            for (int64_t c = 0; c < C; c++) s += (double)h[(size_t)(i * C + c)] * w[(size_t)(j * C + c)];
            d32[(size_t)j] = (float)(loss_scale * (std::exp(s - (double)lse32[(size_t)i]) - (j == t ? 1.0 : 0.0)));
        }
        const auto d = widen(round(d32));
        for (int64_t j = 0; j < V; j++)
            for (int64_t c = 0; c < C; c++) {
                dh_ref[(size_t)(i * C + c)] += (double)d[(size_t)j] * w[(size_t)(j * C + c)];
                dh_unrounded[(size_t)(i * C + c)] += (double)d32[(size_t)j] * w[(size_t)(j * C + c)];
                dw_step[(size_t)(j * C + c)] += (double)d[(size_t)j] * h[(size_t)(i * C + c)];
            }
    }
    const double flip = loss_scale * std::ldexp(1.0, -8) * 2.0;  // one bf16 ulp of the target's d, times max |h|

    std::vector<float> dh((size_t)(N * C), NAN);  // overwritten
    auto dw = random_floats((size_t)(V * C), 104);  // accumulated
    auto dw_ref = to_double(dw);
    for (size_t i = 0; i < dw_ref.size(); i++) dw_ref[i] += dw_step[i];
    std::vector<float> dh32((size_t)(N * C), NAN), dw32 = dw;
    HB_ASSERT_OK(hb_cross_entropy_backward_bf16(ctx, dh.data(), dw.data(), h16.data(), w16.data(), targets.data(),
                                                lse.data(), loss_scale, N, V, C, cs.chunk));
    EXPECT_TRUE(all_close("dh", dh, dh_ref, flip, 1e-4));
    EXPECT_TRUE(all_close("dw", dw, dw_ref, flip, 1e-4));
    // Rounding dlogits is what makes the difference from the fp32 backward: the result follows the rounded reference
    // far more closely than the unrounded one (mean errors; a rare flip moves only a few elements).
    double err_rounded = 0, err_unrounded = 0;
    for (size_t i = 0; i < dh.size(); i++) {
        err_rounded += std::fabs(dh[i] - dh_ref[i]);
        err_unrounded += std::fabs(dh[i] - dh_unrounded[i]);
    }
    EXPECT_LT(err_rounded * 100, err_unrounded) << "mean |dh - ref|: rounded " << err_rounded / dh.size()
                                              << ", unrounded " << err_unrounded / dh.size();

    // Loosely the fp32 backward on the widened inputs: each dlogit moves by at most half a bf16 ulp (2^-9 |d|); a
    // row's |d| sum to at most 2 loss_scale, |w| <= 1, |h| <= 2, and few rows share a target.
    HB_ASSERT_OK(hb_cross_entropy_backward(ctx, dh32.data(), dw32.data(), h.data(), w.data(), targets.data(),
                                           lse32.data(), loss_scale, N, V, C, cs.chunk));
    const double half_ulp = loss_scale * std::ldexp(1.0, -9);
    EXPECT_TRUE(all_close("dh vs fp32", dh, to_double(dh32), 2 * half_ulp, 1e-2));
    EXPECT_TRUE(all_close("dw vs fp32", dw, to_double(dw32), 8 * half_ulp, 1e-2));

    std::vector<float> dh_frozen((size_t)(N * C), NAN);  // frozen head: dw NULL, dh unchanged
    HB_ASSERT_OK(hb_cross_entropy_backward_bf16(ctx, dh_frozen.data(), nullptr, h16.data(), w16.data(),
                                                targets.data(), lse.data(), loss_scale, N, V, C, cs.chunk));
    EXPECT_TRUE(bit_identical("dh (dw NULL)", dh_frozen, dh));
}

void PrintTo(const CeCase& c, std::ostream* os) {
    *os << "N=" << c.N << " V=" << c.V << " C=" << c.C << " chunk=" << c.chunk;
}

INSTANTIATE_TEST_SUITE_P(Shapes, Bf16CrossEntropy,
                         ::testing::Values(CeCase{7, 50, 8, 16},        // uneven chunks (16 does not divide 50)
                                           CeCase{9, 1000, 33, 0},      // the default chunk
                                           CeCase{5, 300, 16, 1000},    // chunk > V
                                           CeCase{300, 20000, 4, 20000}),  // several row blocks
                         [](const ::testing::TestParamInfo<CeCase>& info) {
                             const CeCase& c = info.param;
                             return "N" + std::to_string(c.N) + "V" + std::to_string(c.V) + "C" + std::to_string(c.C) +
                                    "Chunk" + std::to_string(c.chunk);
                         });

TEST_F(Bf16Mixed, ErrorsNameTheArgument) {
    float f[4] = {1, 2, 3, 4};
    uint16_t hh[4] = {0x3f80, 0x3f80, 0x3f80, 0x3f80};
    EXPECT_EQ(hb_matmul_bf16_mixed(ctx, f, f, (hb_dtype)2, hh, HB_DTYPE_BF16, 2, 2, 1, 0, 0, 1.0f, 0.0f),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_matmul_bf16_mixed: a_type must be HB_DTYPE_F32 or HB_DTYPE_BF16 (got 2)"));
    EXPECT_EQ(hb_matmul_bf16_mixed(ctx, f, f, HB_DTYPE_F32, hh, (hb_dtype)-1, 2, 2, 1, 0, 0, 1.0f, 0.0f),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("b_type must be"));
    EXPECT_EQ(hb_matmul_bf16_mixed(ctx, f, nullptr, HB_DTYPE_F32, hh, HB_DTYPE_BF16, 2, 2, 1, 0, 0, 1.0f, 0.0f),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_matmul_bf16_mixed: a is NULL"));
    EXPECT_EQ(hb_matmul_bf16_mixed(ctx, f, f, HB_DTYPE_F32, hh, HB_DTYPE_BF16, 2, 2, 1, 2, 0, 1.0f, 0.0f),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("trans_a and trans_b"));
    EXPECT_EQ(hb_matmul_bf16_mixed(ctx, f, f, HB_DTYPE_F32, hh, HB_DTYPE_BF16, (int64_t)1 << 32, 1, 1, 0, 0, 1.0f, 0.0f),
              HB_ERR_UNSUPPORTED);
    EXPECT_TRUE(error_mentions("hb_matmul_bf16_mixed: dimension 4294967296 exceeds the 32-bit BLAS interface"));

    const int32_t bad_token[2] = {1, 4};
    EXPECT_EQ(hb_embedding_forward_bf16(ctx, f, bad_token, hh, 2, 4, 1), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_embedding_forward_bf16: tokens[1] = 4 is out of range"));
    uint16_t out16[4];
    EXPECT_EQ(hb_rmsnorm_forward_bf16(ctx, out16, f, f, f, 2, 2, 0.0f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_rmsnorm_forward_bf16: eps must be"));
    EXPECT_EQ(hb_swiglu_forward_bf16(ctx, nullptr, f, f, 4), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_swiglu_forward_bf16: out is NULL"));

    const int32_t bad_target[2] = {0, 2};
    EXPECT_EQ(hb_cross_entropy_forward_bf16(ctx, f, f + 2, hh, hh, bad_target, 2, 2, 1, 0), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_cross_entropy_forward_bf16: targets[1] = 2 is out of range"));
    EXPECT_EQ(hb_cross_entropy_backward_bf16(ctx, f, nullptr, hh, hh, bad_target, f, 1.0f, 2, 2, 1, 0),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_cross_entropy_backward_bf16: targets[1] = 2 is out of range"));
    EXPECT_EQ(hb_cross_entropy_backward_bf16(ctx, f, nullptr, hh, hh, bad_target, f, NAN, 2, 2, 1, 0),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("loss_scale must be finite"));
    EXPECT_EQ(hb_cross_entropy_forward_bf16(ctx, f, f + 2, hh, hh, bad_target, 2, 2, 1, -1), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("chunk must be >= 0"));
}

}  // namespace
