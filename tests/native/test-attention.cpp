// test-attention.cpp — hb_attention_forward/backward (causal GQA, flash style) against a naive double
// reference that materialises the softmax of one (b,h); T = 1 and T not a multiple of the tiles, odd D,
// GQA ratios 1, 2, 4, segments absent, packed and non-contiguous; a packed segment equals that segment run
// alone; finite differences; outputs and gradients overwritten; argument errors. The bf16 variants against the
// fp32 kernels on the widened inputs.
#include <cmath>
#include <cstdlib>
#include <limits>

#include "test-helpers.hpp"

using namespace hbtest;

namespace {

class Attention : public CpuKernel {};

struct Dims {
    int64_t B, T, H, KVH, D;
};

struct Ref {
    std::vector<double> out, lse, dq, dk, dv;
};

// Naive attention and its backward in double, one (b,h) at a time with the full (T,T) softmax.
Ref attention_ref(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                  const std::vector<float>& dout, const int32_t* seg, Dims s, double scale) {
    const int64_t B = s.B, T = s.T, H = s.H, KVH = s.KVH, D = s.D, G = H / KVH;
    Ref r{std::vector<double>(B * T * H * D, 0.0), std::vector<double>(B * H * T, 0.0),
          std::vector<double>(B * T * H * D, 0.0), std::vector<double>(B * T * KVH * D, 0.0),
          std::vector<double>(B * T * KVH * D, 0.0)};
    auto qi = [&](int64_t b, int64_t t, int64_t h) { return ((b * T + t) * H + h) * D; };
    auto ki = [&](int64_t b, int64_t t, int64_t g) { return ((b * T + t) * KVH + g) * D; };
    std::vector<double> P(T * T), dP(T * T);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            const int64_t g = h / G;
            auto visible = [&](int64_t t, int64_t u) { return u <= t && (!seg || seg[b * T + u] == seg[b * T + t]); };
            for (int64_t t = 0; t < T; t++) {
                double mx = -INFINITY;
                for (int64_t u = 0; u < T; u++) {
                    P[t * T + u] = -INFINITY;
                    if (!visible(t, u)) continue;
                    double sc = 0.0;
                    for (int64_t d = 0; d < D; d++) sc += (double)q[qi(b, t, h) + d] * k[ki(b, u, g) + d];
                    P[t * T + u] = sc * scale;
                    mx = std::max(mx, P[t * T + u]);
                }
                double sum = 0.0;
                for (int64_t u = 0; u < T; u++) sum += visible(t, u) ? std::exp(P[t * T + u] - mx) : 0.0;
                const double lse = mx + std::log(sum);
                r.lse[(b * H + h) * T + t] = lse;
                for (int64_t u = 0; u < T; u++) {
                    P[t * T + u] = visible(t, u) ? std::exp(P[t * T + u] - lse) : 0.0;
                    for (int64_t d = 0; d < D; d++) r.out[qi(b, t, h) + d] += P[t * T + u] * v[ki(b, u, g) + d];
                }
            }
            for (int64_t t = 0; t < T; t++) {
                double Di = 0.0;
                for (int64_t u = 0; u < T; u++) {
                    double dp = 0.0;
                    for (int64_t d = 0; d < D; d++) dp += (double)dout[qi(b, t, h) + d] * v[ki(b, u, g) + d];
                    dP[t * T + u] = dp;
                    Di += P[t * T + u] * dp;
                }
                for (int64_t u = 0; u < T; u++) {
                    const double p = P[t * T + u];
                    if (p == 0.0) continue;
                    const double ds = p * (dP[t * T + u] - Di);
                    for (int64_t d = 0; d < D; d++) {
                        r.dq[qi(b, t, h) + d] += scale * ds * k[ki(b, u, g) + d];
                        r.dk[ki(b, u, g) + d] += scale * ds * q[qi(b, t, h) + d];
                        r.dv[ki(b, u, g) + d] += p * dout[qi(b, t, h) + d];
                    }
                }
            }
        }
    return r;
}

// Packed examples: consecutive runs of random length in [1, max_len], ids 0, 1, 2, ... per batch row.
std::vector<int32_t> packed_segments(int64_t B, int64_t T, uint64_t seed, int32_t max_len) {
    auto lens = random_ints(B * T, seed, 1, max_len);
    std::vector<int32_t> seg(B * T);
    for (int64_t b = 0; b < B; b++) {
        int32_t id = 0, left = lens[b * T];
        for (int64_t t = 0; t < T; t++) {
            if (left == 0) left = lens[b * T + t], id++;
            seg[b * T + t] = id;
            left--;
        }
    }
    return seg;
}

struct Run {
    std::vector<float> out, lse, dq, dk, dv;
};

// Forward then backward with dout, outputs pre-filled with NaN to prove they are overwritten.
Run run_attention(hb_context* ctx, const std::vector<float>& q, const std::vector<float>& k,
                  const std::vector<float>& v, const std::vector<float>& dout, const int32_t* seg, Dims s,
                  float scale) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    Run r{std::vector<float>(q.size(), nan), std::vector<float>(s.B * s.H * s.T, nan), std::vector<float>(q.size(), nan),
          std::vector<float>(k.size(), nan), std::vector<float>(v.size(), nan)};
    EXPECT_EQ(hb_attention_forward(ctx, r.out.data(), r.lse.data(), q.data(), k.data(), v.data(), seg, s.B, s.T, s.H,
                                   s.KVH, s.D, scale),
              HB_OK)
        << last_error();
    EXPECT_EQ(hb_attention_backward(ctx, r.dq.data(), r.dk.data(), r.dv.data(), dout.data(), q.data(), k.data(),
                                    v.data(), r.out.data(), r.lse.data(), seg, s.B, s.T, s.H, s.KVH, s.D, scale),
              HB_OK)
        << last_error();
    return r;
}

void check_against_reference(hb_context* ctx, Dims s, const int32_t* seg, uint64_t seed) {
    auto q = random_floats(s.B * s.T * s.H * s.D, seed, -1.5f, 1.5f);
    auto k = random_floats(s.B * s.T * s.KVH * s.D, seed + 1, -1.5f, 1.5f);
    auto v = random_floats(s.B * s.T * s.KVH * s.D, seed + 2);
    auto dout = random_floats(s.B * s.T * s.H * s.D, seed + 3);
    const float scale = 1.0f / std::sqrt((float)s.D);
    auto ref = attention_ref(q, k, v, dout, seg, s, scale);
    auto got = run_attention(ctx, q, k, v, dout, seg, s, scale);
    EXPECT_TRUE(all_close("out", got.out, ref.out, 1e-5, 1e-4));
    EXPECT_TRUE(all_close("lse", got.lse, ref.lse, 1e-5, 1e-5));
    EXPECT_TRUE(all_close("dq", got.dq, ref.dq, 1e-5, 1e-3));
    EXPECT_TRUE(all_close("dk", got.dk, ref.dk, 1e-5, 1e-3));
    EXPECT_TRUE(all_close("dv", got.dv, ref.dv, 1e-5, 1e-3));
}

const Dims kDims[] = {
    {2, 1, 2, 1, 6},      // T = 1, G = 2
    {1, 70, 4, 2, 10},    // T just past one 64-tile, G = 2
    {2, 130, 4, 1, 16},   // three tiles, G = 4 (MQA-like)
    {1, 67, 3, 3, 37},    // G = 1, odd D
    {2, 200, 2, 2, 64},   // D = 64: full-width register tiles
    {1, 256, 4, 2, 64},   // a training shape, several tasks per thread
};

TEST_F(Attention, MatchesReferenceWithoutSegments) {
    uint64_t seed = 10;
    for (Dims s : kDims) {
        SCOPED_TRACE(testing::Message() << "B=" << s.B << " T=" << s.T << " H=" << s.H << " KVH=" << s.KVH << " D=" << s.D);
        check_against_reference(ctx, s, nullptr, seed += 10);
    }
}

TEST_F(Attention, MatchesReferenceWithPackedSegments) {
    uint64_t seed = 100;
    for (Dims s : kDims) {
        SCOPED_TRACE(testing::Message() << "B=" << s.B << " T=" << s.T << " H=" << s.H << " KVH=" << s.KVH << " D=" << s.D);
        for (int32_t max_len : {3, 40, 150}) {
            auto seg = packed_segments(s.B, s.T, seed, max_len);
            check_against_reference(ctx, s, seg.data(), seed += 10);
        }
    }
}

// Segment ids that come back (0 0 1 1 0 0 ...): attention follows ids, not runs.
TEST_F(Attention, MatchesReferenceWithNonContiguousSegments) {
    Dims s{2, 150, 4, 2, 10};
    std::vector<int32_t> seg(s.B * s.T);
    for (int64_t i = 0; i < s.B * s.T; i++) seg[i] = (int32_t)((i / 7) % 3);
    check_against_reference(ctx, s, seg.data(), 555);
}

// Each packed example gives exactly what it gives alone: same outputs, lse and gradients on its rows.
TEST_F(Attention, PackedSegmentEqualsSegmentAlone) {
    const Dims s{1, 140, 4, 2, 16};
    const int64_t starts[] = {0, 5, 71, 140};  // segments of 5, 66 and 69 tokens
    std::vector<int32_t> seg(s.T);
    for (int i = 0; i < 3; i++)
        for (int64_t t = starts[i]; t < starts[i + 1]; t++) seg[t] = 10 + i;
    auto q = random_floats(s.T * s.H * s.D, 1), k = random_floats(s.T * s.KVH * s.D, 2);
    auto v = random_floats(s.T * s.KVH * s.D, 3), dout = random_floats(s.T * s.H * s.D, 4);
    const float scale = 0.3f;
    auto packed = run_attention(ctx, q, k, v, dout, seg.data(), s, scale);
    for (int i = 0; i < 3; i++) {
        const int64_t t0 = starts[i], len = starts[i + 1] - t0;
        SCOPED_TRACE(testing::Message() << "segment " << i << " at " << t0 << ", " << len << " tokens");
        auto slice = [&](const std::vector<float>& x, int64_t heads) {
            return std::vector<float>(x.begin() + t0 * heads * s.D, x.begin() + (t0 + len) * heads * s.D);
        };
        const Dims one{1, len, s.H, s.KVH, s.D};
        auto alone = run_attention(ctx, slice(q, s.H), slice(k, s.KVH), slice(v, s.KVH), slice(dout, s.H), nullptr, one, scale);
        EXPECT_TRUE(all_close("out", alone.out.data(), slice(packed.out, s.H).data(), alone.out.size(), 1e-6, 1e-5));
        EXPECT_TRUE(all_close("dq", alone.dq.data(), slice(packed.dq, s.H).data(), alone.dq.size(), 1e-6, 1e-5));
        EXPECT_TRUE(all_close("dk", alone.dk.data(), slice(packed.dk, s.KVH).data(), alone.dk.size(), 1e-6, 1e-5));
        EXPECT_TRUE(all_close("dv", alone.dv.data(), slice(packed.dv, s.KVH).data(), alone.dv.size(), 1e-6, 1e-5));
        for (int64_t h = 0; h < s.H; h++)
            EXPECT_TRUE(all_close("lse", alone.lse.data() + h * len, packed.lse.data() + h * s.T + t0, len, 1e-6, 1e-5));
    }
}

// 3 threads: forward tasks and backward (b, KV head) tasks do not divide evenly.
TEST_F(Attention, ThreeThreadsMatchReference) {
    ThreadedContext three(3);
    const Dims s{2, 100, 4, 2, 16};
    auto seg = packed_segments(s.B, s.T, 7, 30);
    check_against_reference(three.ctx, s, seg.data(), 700);
    check_against_reference(three.ctx, s, nullptr, 710);
}

TEST_F(Attention, BackwardMatchesFiniteDifferences) {
    const Dims s{2, 9, 4, 2, 6};
    auto seg = packed_segments(s.B, s.T, 77, 5);
    auto q = random_floats(s.B * s.T * s.H * s.D, 5), k = random_floats(s.B * s.T * s.KVH * s.D, 6);
    auto v = random_floats(s.B * s.T * s.KVH * s.D, 7), R = random_floats(s.B * s.T * s.H * s.D, 8);
    const float scale = 0.5f;
    auto got = run_attention(ctx, q, k, v, R, seg.data(), s, scale);
    std::vector<float> out(q.size()), lse(s.B * s.H * s.T);
    auto loss = [&] {
        EXPECT_EQ(hb_attention_forward(ctx, out.data(), lse.data(), q.data(), k.data(), v.data(), seg.data(), s.B, s.T,
                                       s.H, s.KVH, s.D, scale),
                  HB_OK);
        return dot(out, R);
    };
    EXPECT_TRUE(gradient_check("q", q, got.dq, loss, 20));
    EXPECT_TRUE(gradient_check("k", k, got.dk, loss, 20));
    EXPECT_TRUE(gradient_check("v", v, got.dv, loss, 20));
}

TEST_F(Attention, ErrorsNameTheArgument) {
    std::vector<float> x(2 * 3 * 6 * 4, 0.5f), lse(2 * 6 * 3);
    float* p = x.data();
    EXPECT_EQ(hb_attention_forward(ctx, p, lse.data(), p, p, p, nullptr, 2, 3, 6, 4, 4, 0.5f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_attention_forward: H (6) must be a multiple of KVH (4)"));
    EXPECT_EQ(hb_attention_forward(ctx, p, lse.data(), p, p, p, nullptr, 2, 3, 6, 3, 4, 0.0f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("scale must be"));
    EXPECT_EQ(hb_attention_forward(ctx, p, nullptr, p, p, p, nullptr, 2, 3, 6, 3, 4, 0.5f), HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("lse is NULL"));
    EXPECT_EQ(hb_attention_backward(ctx, p, nullptr, p, p, p, p, p, p, lse.data(), nullptr, 2, 3, 6, 3, 4, 0.5f),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_attention_backward: dk is NULL"));
    EXPECT_EQ(hb_attention_backward(ctx, p, p, p, p, p, p, p, p, lse.data(), nullptr, 2, 0, 6, 3, 4, 0.5f),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("T must be > 0"));
}

// ---------------------------------------------------------------- bf16 q, k, v, out

std::vector<uint16_t> to_bf16(hb_context* ctx, const std::vector<float>& x) {
    std::vector<uint16_t> r(x.size());
    EXPECT_EQ(hb_convert_f32_to_bf16(ctx, r.data(), x.data(), (int64_t)x.size()), HB_OK) << last_error();
    return r;
}

std::vector<float> widen(hb_context* ctx, const std::vector<uint16_t>& x) {
    std::vector<float> r(x.size());
    EXPECT_EQ(hb_convert_bf16_to_f32(ctx, r.data(), x.data(), (int64_t)x.size()), HB_OK) << last_error();
    return r;
}

// Distance in bf16 steps (ulps) between two finite bf16 values: their bit patterns mapped to ordered integers.
int bf16_ulps(uint16_t a, uint16_t b) {
    auto ord = [](uint16_t h) { return (h & 0x8000) ? -(int)(h & 0x7fff) : (int)h; };
    return std::abs(ord(a) - ord(b));
}

// The bf16 variants compute what the fp32 kernels compute on the widened bf16 inputs: lse and the gradients
// to fp32 tolerance (same math), out = bf16(fp32 out) up to a rare 1-ulp difference at a rounding boundary.
void check_bf16_against_fp32(hb_context* ctx, Dims s, const int32_t* seg, uint64_t seed) {
    const size_t nq = (size_t)(s.B * s.T * s.H * s.D), nk = (size_t)(s.B * s.T * s.KVH * s.D);
    const size_t nl = (size_t)(s.B * s.H * s.T);
    const auto qb = to_bf16(ctx, random_floats(nq, seed, -1.5f, 1.5f));
    const auto kb = to_bf16(ctx, random_floats(nk, seed + 1, -1.5f, 1.5f));
    const auto vb = to_bf16(ctx, random_floats(nk, seed + 2));
    const auto q = widen(ctx, qb), k = widen(ctx, kb), v = widen(ctx, vb);
    const auto dout = random_floats(nq, seed + 3);
    const float scale = 1.0f / std::sqrt((float)s.D);
    const float nan = std::numeric_limits<float>::quiet_NaN();

    // forward: outputs poisoned (a bf16 NaN is 0x7fc0) to prove they are overwritten
    std::vector<float> out32(nq), lse32(nl), lse(nl, nan);
    std::vector<uint16_t> out(nq, 0x7fc0);
    ASSERT_EQ(hb_attention_forward(ctx, out32.data(), lse32.data(), q.data(), k.data(), v.data(), seg, s.B, s.T, s.H,
                                   s.KVH, s.D, scale),
              HB_OK)
        << last_error();
    ASSERT_EQ(hb_attention_forward_bf16(ctx, out.data(), lse.data(), qb.data(), kb.data(), vb.data(), seg, s.B, s.T,
                                        s.H, s.KVH, s.D, scale),
              HB_OK)
        << last_error();
    EXPECT_TRUE(all_close("lse", lse, lse32, 1e-6, 1e-6));
    const auto want = to_bf16(ctx, out32);
    size_t off_by_one = 0, worse = 0;
    for (size_t i = 0; i < nq; i++) {
        const int d = bf16_ulps(out[i], want[i]);
        if ((out[i] & 0x7fff) > 0x7f80 || d > 1) {  // NaN, or more than one bf16 step away
            if (worse++ < 5) ADD_FAILURE() << "out[" << i << "]: 0x" << std::hex << out[i] << ", bf16(fp32 out) 0x" << want[i];
        } else if (d == 1) {
            off_by_one++;
        }
    }
    EXPECT_EQ(worse, 0u);
    EXPECT_LE(off_by_one, nq / 100 + 1) << "1-ulp differences should be rare rounding-boundary cases";

    // backward: the fp32 kernel on the widened saved out, both with the bf16 forward's lse
    const auto outw = widen(ctx, out);
    std::vector<float> dq32(nq), dk32(nk), dv32(nk), dq(nq, nan), dk(nk, nan), dv(nk, nan);
    ASSERT_EQ(hb_attention_backward(ctx, dq32.data(), dk32.data(), dv32.data(), dout.data(), q.data(), k.data(),
                                    v.data(), outw.data(), lse.data(), seg, s.B, s.T, s.H, s.KVH, s.D, scale),
              HB_OK)
        << last_error();
    ASSERT_EQ(hb_attention_backward_bf16(ctx, dq.data(), dk.data(), dv.data(), dout.data(), qb.data(), kb.data(),
                                         vb.data(), out.data(), lse.data(), seg, s.B, s.T, s.H, s.KVH, s.D, scale),
              HB_OK)
        << last_error();
    EXPECT_TRUE(all_close("dq", dq, dq32, 1e-6, 1e-5));
    EXPECT_TRUE(all_close("dk", dk, dk32, 1e-6, 1e-5));
    EXPECT_TRUE(all_close("dv", dv, dv32, 1e-6, 1e-5));
}

TEST_F(Attention, Bf16MatchesFp32OnWidenedInputs) {
    uint64_t seed = 900;
    for (Dims s : kDims) {  // T = 1, odd T, GQA 1, 2, 4, odd D
        SCOPED_TRACE(testing::Message() << "B=" << s.B << " T=" << s.T << " H=" << s.H << " KVH=" << s.KVH << " D=" << s.D);
        check_bf16_against_fp32(ctx, s, nullptr, seed += 10);
        auto seg = packed_segments(s.B, s.T, seed, 40);
        check_bf16_against_fp32(ctx, s, seg.data(), seed += 10);
    }
}

TEST_F(Attention, Bf16ThreeThreadsMatchFp32) {
    ThreadedContext three(3);
    const Dims s{2, 100, 4, 2, 16};
    auto seg = packed_segments(s.B, s.T, 9, 30);
    check_bf16_against_fp32(three.ctx, s, seg.data(), 990);
}

TEST_F(Attention, Bf16ErrorsNameTheArgument) {
    std::vector<uint16_t> x(2 * 3 * 6 * 4, 0x3f00);
    std::vector<float> lse(2 * 6 * 3), g(x.size());
    uint16_t* p = x.data();
    EXPECT_EQ(hb_attention_forward_bf16(ctx, p, lse.data(), nullptr, p, p, nullptr, 2, 3, 6, 3, 4, 0.5f),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_attention_forward_bf16: q is NULL"));
    EXPECT_EQ(hb_attention_forward_bf16(ctx, p, lse.data(), p, p, p, nullptr, 2, 3, 6, 4, 4, 0.5f),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("H (6) must be a multiple of KVH (4)"));
    EXPECT_EQ(hb_attention_backward_bf16(ctx, g.data(), g.data(), g.data(), g.data(), p, p, p, nullptr, lse.data(),
                                         nullptr, 2, 3, 6, 3, 4, 0.5f),
              HB_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(error_mentions("hb_attention_backward_bf16: out is NULL"));
}

}  // namespace
