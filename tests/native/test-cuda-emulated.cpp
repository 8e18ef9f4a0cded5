// test-cuda-emulated.cpp — the CUDA attention kernels (native/src/cuda/attention-kernels.cuh), compiled as host
// C++ and run on CPU threads by cuda-emulator.hpp, against a naive double-precision reference. This checks the
// kernels' indexing, masking (causal, segments), GQA head mapping, tiling and online softmax on machines
// without a GPU; it cannot check timing, races the barriers happen to hide, or anything of the launch code.
// test-cuda-parity.cpp checks the real kernels on a GPU.
#include "cuda-emulator.hpp"
// clang-format off: the emulator must come first
#include "attention-kernels.cuh"
// clang-format on

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "compare.hpp"

namespace {

using hbtest::expect_close;

struct Shape {
    int B, T, H, KVH, D;
    int segments;  // 0 none, 1 packed examples (runs of equal ids), 2 interleaved ids (t % 3)
};

std::vector<float> random_vector(size_t n, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng);
    return v;
}

std::vector<int32_t> make_segments(const Shape& s, std::mt19937& rng) {
    std::vector<int32_t> seg((size_t)s.B * s.T);
    for (int b = 0; b < s.B; b++) {
        int id = 0;
        for (int t = 0; t < s.T; t++) {
            if (s.segments == 1) {
                if (t > 0 && rng() % 9 == 0) id++;
                seg[(size_t)b * s.T + t] = id;
            } else {
                seg[(size_t)b * s.T + t] = t % 3;
            }
        }
    }
    return seg;
}

// Naive attention in double: out (B,T,H,D), lse (B,H,T); then the backward for dout.
struct Reference {
    std::vector<double> out, lse, dq, dk, dv;
};

Reference reference(const Shape& s, const std::vector<float>& q, const std::vector<float>& k,
                    const std::vector<float>& v, const std::vector<int32_t>* seg, const std::vector<float>& dout,
                    float scale) {
    const int B = s.B, T = s.T, H = s.H, KVH = s.KVH, D = s.D, G = H / KVH;
    Reference r;
    r.out.assign((size_t)B * T * H * D, 0.0);
    r.lse.assign((size_t)B * H * T, 0.0);
    r.dq.assign(r.out.size(), 0.0);
    r.dk.assign((size_t)B * T * KVH * D, 0.0);
    r.dv.assign(r.dk.size(), 0.0);
    auto qi = [&](int b, int t, int h, int d) { return (((size_t)b * T + t) * H + h) * D + d; };
    auto ki = [&](int b, int t, int h, int d) { return (((size_t)b * T + t) * KVH + h) * D + d; };
    std::vector<double> p(T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const int kh = h / G;
            for (int t = 0; t < T; t++) {
                double m = -INFINITY;
                for (int u = 0; u <= t; u++) {
                    p[u] = -INFINITY;
                    if (seg && (*seg)[(size_t)b * T + u] != (*seg)[(size_t)b * T + t]) continue;
                    double acc = 0;
                    for (int d = 0; d < D; d++) acc += (double)q[qi(b, t, h, d)] * k[ki(b, u, kh, d)];
                    p[u] = acc * scale;
                    m = std::max(m, p[u]);
                }
                double l = 0;
                for (int u = 0; u <= t; u++) {
                    p[u] = std::isinf(p[u]) ? 0.0 : std::exp(p[u] - m);
                    l += p[u];
                }
                const double lse = m + std::log(l);
                r.lse[((size_t)b * H + h) * T + t] = lse;
                for (int d = 0; d < D; d++) {
                    double acc = 0;
                    for (int u = 0; u <= t; u++) acc += p[u] / l * v[ki(b, u, kh, d)];
                    r.out[qi(b, t, h, d)] = acc;
                }
                // backward of row t
                double di = 0;
                for (int d = 0; d < D; d++) di += (double)dout[qi(b, t, h, d)] * r.out[qi(b, t, h, d)];
                for (int u = 0; u <= t; u++) {
                    const double pu = p[u] / l;
                    if (pu == 0.0) continue;
                    double dp = 0;
                    for (int d = 0; d < D; d++) dp += (double)dout[qi(b, t, h, d)] * v[ki(b, u, kh, d)];
                    const double ds = pu * (dp - di);
                    for (int d = 0; d < D; d++) {
                        r.dq[qi(b, t, h, d)] += scale * ds * k[ki(b, u, kh, d)];
                        r.dk[ki(b, u, kh, d)] += scale * ds * q[qi(b, t, h, d)];
                        r.dv[ki(b, u, kh, d)] += pu * dout[qi(b, t, h, d)];
                    }
                }
            }
        }
    return r;
}

template <int DMAX, bool EXACT>
void run_kernels(const Shape& s, std::vector<float>& out, std::vector<float>& lse, std::vector<float>& dq,
                 std::vector<float>& dk, std::vector<float>& dv, const std::vector<float>& q,
                 const std::vector<float>& k, const std::vector<float>& v, const int32_t* seg,
                 const std::vector<float>& dout, float scale) {
    using namespace hb::cuda;
    emu::launch(dim3((unsigned)((s.T + kBQ - 1) / kBQ), (unsigned)s.H, (unsigned)s.B), dim3(kThreads),
                forward_smem_bytes(DMAX), attention_forward_kernel<DMAX, EXACT>, out.data(), lse.data(), q.data(),
                k.data(), v.data(), seg, s.T, s.H, s.KVH, s.D, scale);
    const int64_t rows = (int64_t)s.B * s.T * s.H;
    std::vector<float> Di((size_t)rows, NAN);
    emu::launch(dim3((unsigned)((rows * 32 + 255) / 256)), dim3(256), 0, attention_di_kernel, Di.data(), dout.data(),
                out.data(), rows, s.T, s.H, s.D);
    std::fill(dq.begin(), dq.end(), 0.0f);  // attention.cu zeroes dq with cudaMemsetAsync
    emu::launch(dim3((unsigned)((s.T + kBK - 1) / kBK), (unsigned)s.KVH, (unsigned)s.B), dim3(kThreads),
                backward_smem_bytes(DMAX), attention_backward_kernel<DMAX, EXACT>, dq.data(), dk.data(), dv.data(),
                dout.data(), q.data(), k.data(), v.data(), lse.data(), Di.data(), seg, s.T, s.H, s.KVH, s.D, scale);
}

void check(const Shape& s) {
    SCOPED_TRACE(::testing::Message() << "B=" << s.B << " T=" << s.T << " H=" << s.H << " KVH=" << s.KVH
                                      << " D=" << s.D << " segments=" << s.segments);
    std::mt19937 rng(1234u + (unsigned)(s.T * 31 + s.D));
    const size_t nq = (size_t)s.B * s.T * s.H * s.D, nk = (size_t)s.B * s.T * s.KVH * s.D;
    auto q = random_vector(nq, rng), k = random_vector(nk, rng), v = random_vector(nk, rng);
    auto dout = random_vector(nq, rng);
    std::vector<int32_t> seg;
    if (s.segments) seg = make_segments(s, rng);
    const int32_t* segp = s.segments ? seg.data() : nullptr;
    const float scale = 1.0f / std::sqrt((float)s.D);

    // Outputs start as NaN: every element the kernels own must be written.
    std::vector<float> out(nq, NAN), lse((size_t)s.B * s.H * s.T, NAN), dq(nq, NAN), dk(nk, NAN), dv(nk, NAN);
    if (s.D == 64) run_kernels<64, true>(s, out, lse, dq, dk, dv, q, k, v, segp, dout, scale);
    else if (s.D == 128) run_kernels<128, true>(s, out, lse, dq, dk, dv, q, k, v, segp, dout, scale);
    else if (s.D < 64) run_kernels<64, false>(s, out, lse, dq, dk, dv, q, k, v, segp, dout, scale);
    else run_kernels<128, false>(s, out, lse, dq, dk, dv, q, k, v, segp, dout, scale);

    Reference ref = reference(s, q, k, v, s.segments ? &seg : nullptr, dout, scale);
    const hbtest::Tolerance tol{2e-5, 2e-4};
    expect_close("out", out, ref.out, tol);
    expect_close("lse", lse, ref.lse, tol);
    expect_close("dq", dq, ref.dq, tol);
    expect_close("dk", dk, ref.dk, tol);
    expect_close("dv", dv, ref.dv, tol);
}

TEST(CudaEmulatedAttention, SingleToken) { check({1, 1, 1, 1, 64, 0}); }
TEST(CudaEmulatedAttention, D64OddLengthPackedSegments) { check({2, 45, 4, 4, 64, 1}); }
TEST(CudaEmulatedAttention, D128Gqa2InterleavedSegments) { check({1, 70, 4, 2, 128, 2}); }
TEST(CudaEmulatedAttention, GenericD40Gqa4) { check({1, 33, 8, 2, 40, 0}); }
TEST(CudaEmulatedAttention, GenericD20Gqa2WholeTiles) { check({1, 64, 2, 1, 20, 1}); }
TEST(CudaEmulatedAttention, GenericD96) { check({1, 35, 2, 2, 96, 0}); }

}  // namespace
