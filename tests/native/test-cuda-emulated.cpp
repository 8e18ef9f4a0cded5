// test-cuda-emulated.cpp — the device code of the CUDA backend (native/src/cuda/*-kernels.cuh), compiled as host
// C++ and run on CPU threads by cuda-emulator.hpp, against naive double-precision references. This checks the
// kernels' indexing, masking (causal, segments), GQA head mapping, tiling, reductions and online softmax on
// machines without a GPU; it cannot check timing, races the barriers happen to hide, cuBLAS, or the launch
// code of the .cu files (the launch shapes below mirror it). test-cuda-parity.cpp checks everything on a GPU.
#include "cuda-emulator.hpp"
// clang-format off: the emulator must come first
#include "adamw-kernels.cuh"
#include "bf16.hpp"
#include "attention-kernels.cuh"
#include "attention-tc-kernels.cuh"
#include "cross-entropy-kernels.cuh"
#include "elementwise-kernels.cuh"
#include "embedding-kernels.cuh"
#include "gemm-layout.hpp"
#include "rmsnorm-kernels.cuh"
#include "rope-kernels.cuh"
#include "swiglu-kernels.cuh"
// clang-format on

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "bf16.hpp"
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

// Naive attention in double: out (B,T,H,D), lse (B,H,T); then the backward for dout. Di = rowsum(dout * out)
// uses saved_out when given (the bf16 out the bf16 forward saved, as the backward kernels read it), else the exact out.
struct Reference {
    std::vector<double> out, lse, dq, dk, dv;
};

Reference reference(const Shape& s, const std::vector<float>& q, const std::vector<float>& k,
                    const std::vector<float>& v, const std::vector<int32_t>* seg, const std::vector<float>& dout,
                    float scale, const std::vector<float>* saved_out = nullptr) {
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
                for (int d = 0; d < D; d++)
                    di += (double)dout[qi(b, t, h, d)] * (saved_out ? (double)(*saved_out)[qi(b, t, h, d)] : r.out[qi(b, t, h, d)]);
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

// E: the storage type of q, k, v, out (float, or uint16_t bf16), as the kernels are instantiated for it.
template <int DMAX, bool EXACT, typename E>
void run_kernels(const Shape& s, std::vector<E>& out, std::vector<float>& lse, std::vector<float>& dq,
                 std::vector<float>& dk, std::vector<float>& dv, const std::vector<E>& q, const std::vector<E>& k,
                 const std::vector<E>& v, const int32_t* seg, const std::vector<float>& dout, float scale) {
    using namespace hb::cuda::attention_kernels;
    emu::launch(dim3((unsigned)((s.T + kBQ - 1) / kBQ), (unsigned)s.H, (unsigned)s.B), dim3(kThreads),
                forward_smem_bytes(DMAX), attention_forward_kernel<DMAX, EXACT, E>, out.data(), lse.data(), q.data(),
                k.data(), v.data(), seg, s.T, s.H, s.KVH, s.D, scale);
    const int64_t rows = (int64_t)s.B * s.T * s.H;
    std::vector<float> Di((size_t)rows, NAN);
    emu::launch(dim3((unsigned)((rows * 32 + 255) / 256)), dim3(256), 0, attention_di_kernel<E>, Di.data(),
                dout.data(), (const E*)out.data(), rows, s.T, s.H, s.D);
    std::fill(dq.begin(), dq.end(), 0.0f);  // attention.cu zeroes dq with cudaMemsetAsync
    emu::launch(dim3((unsigned)((s.T + kBK - 1) / kBK), (unsigned)s.KVH, (unsigned)s.B), dim3(kThreads),
                backward_smem_bytes(DMAX), attention_backward_kernel<DMAX, EXACT, E>, dq.data(), dk.data(), dv.data(),
                dout.data(), q.data(), k.data(), v.data(), lse.data(), Di.data(), seg, s.T, s.H, s.KVH, s.D, scale);
}

std::vector<uint16_t> to_bf16(const std::vector<float>& x) {
    std::vector<uint16_t> r(x.size());
    for (size_t i = 0; i < x.size(); i++) r[i] = hb::f32_to_bf16(x[i]);
    return r;
}
std::vector<float> to_f32(const std::vector<float>& x) { return x; }
std::vector<float> to_f32(const std::vector<uint16_t>& x) {
    std::vector<float> r(x.size());
    for (size_t i = 0; i < x.size(); i++) r[i] = hb::bf16_to_f32(x[i]);
    return r;
}

// With E = uint16_t the inputs are bf16 and the reference runs on their widened values; the bf16 out is
// compared within bf16 rounding, and the reference backward takes Di from that saved out, as the kernels do.
template <typename E = float>
void check(const Shape& s) {
    constexpr bool bf16 = std::is_same_v<E, uint16_t>;
    SCOPED_TRACE(::testing::Message() << (bf16 ? "bf16 " : "") << "B=" << s.B << " T=" << s.T << " H=" << s.H
                                      << " KVH=" << s.KVH << " D=" << s.D << " segments=" << s.segments);
    std::mt19937 rng(1234u + (unsigned)(s.T * 31 + s.D));
    const size_t nq = (size_t)s.B * s.T * s.H * s.D, nk = (size_t)s.B * s.T * s.KVH * s.D;
    auto q = random_vector(nq, rng), k = random_vector(nk, rng), v = random_vector(nk, rng);
    auto dout = random_vector(nq, rng);
    std::vector<int32_t> seg;
    if (s.segments) seg = make_segments(s, rng);
    const int32_t* segp = s.segments ? seg.data() : nullptr;
    const float scale = 1.0f / std::sqrt((float)s.D);
    std::vector<E> qe, ke, ve;
    if constexpr (bf16) {
        qe = to_bf16(q), ke = to_bf16(k), ve = to_bf16(v);
        q = to_f32(qe), k = to_f32(ke), v = to_f32(ve);
    } else {
        qe = q, ke = k, ve = v;
    }

    // Outputs start as NaN: every element the kernels own must be written.
    E nan;
    if constexpr (bf16) nan = 0x7fc0;  // a bf16 quiet NaN
    else nan = NAN;
    std::vector<E> oute(nq, nan);
    std::vector<float> lse((size_t)s.B * s.H * s.T, NAN), dq(nq, NAN), dk(nk, NAN), dv(nk, NAN);
    if (s.D == 64) run_kernels<64, true>(s, oute, lse, dq, dk, dv, qe, ke, ve, segp, dout, scale);
    else if (s.D == 128) run_kernels<128, true>(s, oute, lse, dq, dk, dv, qe, ke, ve, segp, dout, scale);
    else if (s.D < 64) run_kernels<64, false>(s, oute, lse, dq, dk, dv, qe, ke, ve, segp, dout, scale);
    else run_kernels<128, false>(s, oute, lse, dq, dk, dv, qe, ke, ve, segp, dout, scale);
    const std::vector<float> out = to_f32(oute);

    Reference ref = reference(s, q, k, v, s.segments ? &seg : nullptr, dout, scale, bf16 ? &out : nullptr);
    const hbtest::Tolerance tol{2e-5, 2e-4};
    expect_close("out", out, ref.out, bf16 ? hbtest::Tolerance{2e-5, 1.0 / 256} : tol);  // bf16: 8 significant bits
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
// The bf16 instantiations (hb_attention_*_bf16): q, k, v, out bf16, widened on load, out rounded at the store.
TEST(CudaEmulatedAttention, Bf16D64Gqa2PackedSegments) { check<uint16_t>({2, 45, 4, 2, 64, 1}); }
TEST(CudaEmulatedAttention, Bf16D128Gqa4) { check<uint16_t>({1, 40, 4, 1, 128, 0}); }
TEST(CudaEmulatedAttention, Bf16GenericOddD37Gqa2InterleavedSegments) { check<uint16_t>({1, 37, 4, 2, 37, 2}); }

// ---------------------------------------------------------------- tensor-core (WMMA) attention, bf16 storage

// Runs attention-tc-kernels.cuh as attention.cu launches it (the Di pre-pass is the CUDA-core one, with dout
// rounded to bf16 as the tensor-core backward rounds it) under the
// emulator's wmma shim, with the forward's lazy-rescale threshold given (attention.cu uses 8; 0 rescales O
// whenever a row's max grows, so the rescale path runs on every tile).
template <int D>
void run_tc_kernels(const Shape& s, std::vector<uint16_t>& out, std::vector<float>& lse, std::vector<float>& dq,
                    std::vector<float>& dk, std::vector<float>& dv, const std::vector<uint16_t>& q,
                    const std::vector<uint16_t>& k, const std::vector<uint16_t>& v, const int32_t* seg,
                    const std::vector<float>& dout, float scale, float threshold) {
    namespace tc = hb::cuda::attention_tc_kernels;
    emu::launch(dim3((unsigned)((s.T + tc::kBQ - 1) / tc::kBQ), (unsigned)s.H, (unsigned)s.B), dim3(tc::kThreads),
                tc::forward_smem_bytes(D), tc::attention_tc_forward_kernel<D>, out.data(), lse.data(), q.data(),
                k.data(), v.data(), seg, s.T, s.H, s.KVH, scale, threshold);
    const int64_t rows = (int64_t)s.B * s.T * s.H;
    std::vector<float> Di((size_t)rows, NAN);
    emu::launch(dim3((unsigned)((rows * 32 + 255) / 256)), dim3(256), 0,
                hb::cuda::attention_kernels::attention_di_kernel<uint16_t, true>, Di.data(), dout.data(),
                (const uint16_t*)out.data(), rows, s.T, s.H, s.D);
    std::fill(dq.begin(), dq.end(), 0.0f);  // attention.cu zeroes dq with cudaMemsetAsync
    emu::launch(dim3((unsigned)((s.T + tc::kBK - 1) / tc::kBK), (unsigned)s.KVH, (unsigned)s.B), dim3(tc::kThreads),
                tc::backward_smem_bytes(D), tc::attention_tc_backward_kernel<D>, dq.data(), dk.data(), dv.data(),
                dout.data(), q.data(), k.data(), v.data(), lse.data(), Di.data(), seg, s.T, s.H, s.KVH, scale);
}

double max_abs(const std::vector<double>& x) {
    double m = 0.0;
    for (double e : x) m = std::max(m, std::fabs(e));
    return m;
}

// bf16 q, k, v (exact inputs; the reference runs on their widened values in double, its backward takes Di from the
// kernel's bf16 out, as the kernels do). Tolerances: scores and dP are fp32 sums of exact bf16 products, so lse is
// fp32-accurate (2e-5 + 2e-4 relative); out, dq, dk, dv come from products with bf16-rounded P, dS and dout (8
// significant bits, relative error <= 2^-9 each), so they get 1e-2 relative plus 1e-2 of the tensor's largest
// magnitude (the rounding errors of a sum are relative to its terms, not to a result that cancels to ~0), plus 1e-5
// (T = 1: dS is exactly 0 in the reference, the kernel's dP - Di is an fp32 difference of equal sums).
// q_mul scales q to make scores large (tens); k_ramp scales key row s by 1 + k_ramp * s, so that later key tiles
// hold larger scores: the online softmax's reference max then moves by more than the threshold and O is rescaled.
void check_tc(const Shape& s, float threshold, float q_mul = 1.0f, float k_ramp = 0.0f) {
    SCOPED_TRACE(::testing::Message() << "tensor-core B=" << s.B << " T=" << s.T << " H=" << s.H << " KVH=" << s.KVH
                                      << " D=" << s.D << " segments=" << s.segments << " threshold=" << threshold
                                      << " q_mul=" << q_mul << " k_ramp=" << k_ramp);
    std::mt19937 rng(777u + (unsigned)(s.T * 31 + s.D));
    const size_t nq = (size_t)s.B * s.T * s.H * s.D, nk = (size_t)s.B * s.T * s.KVH * s.D;
    auto q = random_vector(nq, rng), k = random_vector(nk, rng), v = random_vector(nk, rng);
    auto dout = random_vector(nq, rng);
    for (auto& x : q) x *= q_mul;
    for (size_t i = 0; i < nk; i++) k[i] *= 1.0f + k_ramp * (float)((i / ((size_t)s.KVH * s.D)) % (size_t)s.T);
    std::vector<int32_t> seg;
    if (s.segments) seg = make_segments(s, rng);
    const int32_t* segp = s.segments ? seg.data() : nullptr;
    const float scale = 1.0f / std::sqrt((float)s.D);
    const std::vector<uint16_t> qe = to_bf16(q), ke = to_bf16(k), ve = to_bf16(v);
    q = to_f32(qe), k = to_f32(ke), v = to_f32(ve);

    std::vector<uint16_t> oute(nq, 0x7fc0);  // NaN: every element the kernels own must be written
    std::vector<float> lse((size_t)s.B * s.H * s.T, NAN), dq(nq, NAN), dk(nk, NAN), dv(nk, NAN);
    if (s.D == 64) run_tc_kernels<64>(s, oute, lse, dq, dk, dv, qe, ke, ve, segp, dout, scale, threshold);
    else run_tc_kernels<128>(s, oute, lse, dq, dk, dv, qe, ke, ve, segp, dout, scale, threshold);
    const std::vector<float> out = to_f32(oute);

    const Reference ref = reference(s, q, k, v, s.segments ? &seg : nullptr, dout, scale, &out);
    auto tol = [](const std::vector<double>& r) { return hbtest::Tolerance{1e-5 + 1e-2 * max_abs(r), 1e-2}; };
    expect_close("tc out", out, ref.out, tol(ref.out));
    expect_close("tc lse", lse, ref.lse, {2e-5, 2e-4});
    expect_close("tc dq", dq, ref.dq, tol(ref.dq));
    expect_close("tc dk", dk, ref.dk, tol(ref.dk));
    expect_close("tc dv", dv, ref.dv, tol(ref.dv));
}

TEST(CudaEmulatedAttentionTc, SingleTokenD128) { check_tc({1, 1, 1, 1, 128, 0}, 8.0f); }
TEST(CudaEmulatedAttentionTc, D64OddLengthGqa2PackedSegments) { check_tc({2, 45, 4, 2, 64, 1}, 8.0f); }
TEST(CudaEmulatedAttentionTc, D64WholeTileInterleavedSegments) { check_tc({1, 64, 2, 1, 64, 2}, 0.0f); }
TEST(CudaEmulatedAttentionTc, D128T100Gqa4InterleavedSegments) { check_tc({1, 100, 4, 1, 128, 2}, 0.0f); }
TEST(CudaEmulatedAttentionTc, D64ThreeTilesNoGrouping) { check_tc({1, 130, 2, 2, 64, 0}, 8.0f); }
TEST(CudaEmulatedAttentionTc, D128ThreeTilesGqa2PackedSegments) { check_tc({1, 130, 4, 2, 128, 1}, 8.0f); }
// Large scores: the reference max moves by more than the threshold, so the rescale of O runs with attention.cu's
// threshold too (and on every max increase with threshold 0).
TEST(CudaEmulatedAttentionTc, GrowingScoresRescaleThreshold8) { check_tc({1, 150, 2, 1, 64, 0}, 8.0f, 4.0f, 1.0f / 16); }
TEST(CudaEmulatedAttentionTc, LargeScoresRescaleEveryIncrease) { check_tc({1, 150, 2, 1, 64, 1}, 0.0f, 24.0f); }

// ---------------------------------------------------------------- the other kernel families

// Blocks of a grid-stride launch, as cuda-common.cuh's grid_stride_blocks.
unsigned grid_for(int64_t n, int threads) {
    const int64_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 4096 ? b : 4096);
}

std::vector<float> randv(size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng);
    return v;
}

// The bf16 instantiation of a kernel templated over its output type computes what the fp32 one does, rounded once.
void expect_rounded(const char* what, const std::vector<uint16_t>& got, const std::vector<float>& fp32) {
    ASSERT_EQ(got.size(), fp32.size()) << what;
    int bad = 0;
    for (size_t i = 0; i < got.size() && bad < 5; i++)
        if (got[i] != hb::f32_to_bf16(fp32[i])) {
            ADD_FAILURE() << what << "[" << i << "]: 0x" << std::hex << got[i] << ", bf16 of the fp32 result 0x"
                          << hb::f32_to_bf16(fp32[i]) << std::dec;
            bad++;
        }
}

TEST(CudaEmulatedKernels, ElementwiseIncludingAShortGrid) {
    using namespace hb::cuda::elementwise_kernels;
    const int64_t n = 1000;
    // 2 blocks for 1000 elements: each thread loops (the grid-stride path large tensors take)
    for (unsigned grid : {grid_for(n, kThreads), 2u}) {
        auto x = randv(n, 1), y = randv(n, 2), y0 = y;
        emu::launch(dim3(grid), dim3(kThreads), 0, axpy_kernel, y.data(), (const float*)x.data(), -0.5f, n);
        std::vector<double> ref(n);
        for (int64_t i = 0; i < n; i++) ref[i] = (double)y0[i] - 0.5 * x[i];
        expect_close("axpy", y, ref, {1e-6, 1e-6});
        std::vector<float> out(n, NAN);
        emu::launch(dim3(grid), dim3(kThreads), 0, add_kernel, out.data(), (const float*)x.data(),
                    (const float*)y.data(), n);
        for (int64_t i = 0; i < n; i++) ref[i] = (double)x[i] + y[i];
        expect_close("add", out, ref, {1e-6, 1e-6});
        emu::launch(dim3(grid), dim3(kThreads), 0, scale_kernel, out.data(), 3.0f, n);
        for (int64_t i = 0; i < n; i++) ref[i] *= 3.0;
        expect_close("scale", out, ref, {1e-6, 1e-6});
    }
}

TEST(CudaEmulatedKernels, SwiGlu) {
    using namespace hb::cuda::swiglu_kernels;
    const int64_t n = 777;
    auto g = randv(n, 3, -6.0f, 6.0f), u = randv(n, 4), d = randv(n, 5);
    std::vector<float> out(n, NAN), dg(n, NAN), du(n, NAN);
    emu::launch(dim3(grid_for(n, kThreads)), dim3(kThreads), 0, swiglu_forward_kernel<float>, out.data(),
                (const float*)g.data(), (const float*)u.data(), n);
    emu::launch(dim3(grid_for(n, kThreads)), dim3(kThreads), 0, swiglu_backward_kernel, dg.data(), du.data(),
                (const float*)d.data(), (const float*)g.data(), (const float*)u.data(), n);
    std::vector<double> ro(n), rg(n), ru(n);
    for (int64_t i = 0; i < n; i++) {
        const double x = g[i], sg = 1.0 / (1.0 + std::exp(-x));
        ro[i] = x * sg * u[i];
        rg[i] = d[i] * u[i] * sg * (1.0 + x * (1.0 - sg));
        ru[i] = d[i] * x * sg;
    }
    expect_close("swiglu out", out, ro, {1e-6, 1e-5});
    std::vector<uint16_t> out16(n, 0xffff);
    emu::launch(dim3(grid_for(n, kThreads)), dim3(kThreads), 0, swiglu_forward_kernel<uint16_t>, out16.data(),
                (const float*)g.data(), (const float*)u.data(), n);
    expect_rounded("swiglu bf16 out", out16, out);
    expect_close("swiglu dgate", dg, rg, {1e-6, 1e-5});
    expect_close("swiglu dup", du, ru, {1e-6, 1e-5});
}

TEST(CudaEmulatedKernels, EmbeddingWithRepeatedAndOutOfRangeTokens) {
    using namespace hb::cuda::embedding_kernels;
    const int64_t N = 9, V = 13, C = 7;
    const std::vector<int32_t> tokens = {3, 0, 12, 3, -1, 7, 13, 3, 5};  // -1 and 13 are out of range
    auto wte = randv((size_t)(V * C), 6), dout = randv((size_t)(N * C), 7), dwte = randv((size_t)(V * C), 8);
    std::vector<float> out((size_t)(N * C), NAN);
    std::vector<double> ro(out.size()), rd(dwte.begin(), dwte.end());
    emu::launch(dim3(grid_for(N * C, kThreads)), dim3(kThreads), 0, embedding_forward_kernel<float>, out.data(),
                tokens.data(), (const float*)wte.data(), N, V, C);
    emu::launch(dim3(grid_for(N * C, kThreads)), dim3(kThreads), 0, embedding_backward_kernel, dwte.data(),
                (const float*)dout.data(), tokens.data(), N, V, C);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            const int32_t t = tokens[(size_t)n];
            const bool ok = t >= 0 && t < V;
            ro[(size_t)(n * C + c)] = ok ? wte[(size_t)(t * C + c)] : 0.0;
            if (ok) rd[(size_t)(t * C + c)] += dout[(size_t)(n * C + c)];
        }
    expect_close("embedding out", out, ro, {0.0, 0.0});
    // bf16 table: the rows widened exactly (out-of-range ids still give zeros).
    std::vector<uint16_t> wte16(wte.size());
    for (size_t i = 0; i < wte.size(); i++) wte16[i] = hb::f32_to_bf16(wte[i]);
    std::vector<float> out_b((size_t)(N * C), NAN);
    emu::launch(dim3(grid_for(N * C, kThreads)), dim3(kThreads), 0, embedding_forward_kernel<uint16_t>, out_b.data(),
                tokens.data(), (const uint16_t*)wte16.data(), N, V, C);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            const int32_t t = tokens[(size_t)n];
            ro[(size_t)(n * C + c)] = t >= 0 && t < V ? hb::bf16_to_f32(wte16[(size_t)(t * C + c)]) : 0.0;
        }
    expect_close("embedding out (bf16 table)", out_b, ro, {0.0, 0.0});
    expect_close("embedding dwte", dwte, rd, {1e-6, 1e-6});
}

TEST(CudaEmulatedKernels, RopeForwardBackward) {
    using namespace hb::cuda::rope_kernels;
    const int64_t N = 5, H = 3, D = 8, half = D / 2;
    const std::vector<int32_t> pos = {0, 1, 7, 100, 31};
    std::vector<float> inv_freq((size_t)half);
    for (int64_t i = 0; i < half; i++) inv_freq[(size_t)i] = (float)std::pow(10000.0, -2.0 * i / D);
    auto x = randv((size_t)(N * H * D), 9), x0 = x;
    emu::launch(dim3(grid_for(N * H * half, kThreads)), dim3(kThreads), 0, rope_kernel, x.data(), pos.data(),
                (const float*)inv_freq.data(), N, H, D, 1.0f);
    std::vector<double> ref(x.size());
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < half; i++) {
                const double a = (double)((float)pos[(size_t)n] * inv_freq[(size_t)i]);
                const size_t o = (size_t)((n * H + h) * D);
                const double x1 = x0[o + i], x2 = x0[o + i + half];
                ref[o + i] = x1 * std::cos(a) - x2 * std::sin(a);
                ref[o + i + half] = x2 * std::cos(a) + x1 * std::sin(a);
            }
    expect_close("rope forward", x, ref, {1e-5, 1e-5});
    emu::launch(dim3(grid_for(N * H * half, kThreads)), dim3(kThreads), 0, rope_kernel, x.data(), pos.data(),
                (const float*)inv_freq.data(), N, H, D, -1.0f);
    expect_close("rope backward of forward = identity", x, std::vector<double>(x0.begin(), x0.end()), {1e-5, 1e-5});
}

TEST(CudaEmulatedKernels, RmsNorm) {
    using namespace hb::cuda::rmsnorm_kernels;
    for (int64_t C : {7, 300}) {  // fewer and more columns than threads
        SCOPED_TRACE(::testing::Message() << "C=" << C);
        const int64_t N = 5;
        const float eps = 1e-5f;
        auto x = randv((size_t)(N * C), 10, -2.0f, 2.0f), w = randv((size_t)C, 11, 0.5f, 1.5f);
        auto dout = randv((size_t)(N * C), 12), dinp = randv((size_t)(N * C), 13), dinp0 = dinp;
        std::vector<float> out((size_t)(N * C), NAN), rstd((size_t)N, NAN);
        emu::launch(dim3((unsigned)N), dim3(kThreads), 0, rmsnorm_forward_kernel<float>, out.data(), rstd.data(),
                    (const float*)x.data(), (const float*)w.data(), C, eps);
        emu::launch(dim3((unsigned)N), dim3(kThreads), 0, rmsnorm_backward_dinp_kernel, dinp.data(),
                    (const float*)dout.data(), (const float*)x.data(), (const float*)w.data(),
                    (const float*)rstd.data(), C);
        std::vector<double> ro(out.size()), rr((size_t)N), rd(dinp0.begin(), dinp0.end());
        for (int64_t n = 0; n < N; n++) {
            double ss = 0, dot = 0;
            for (int64_t c = 0; c < C; c++) ss += (double)x[(size_t)(n * C + c)] * x[(size_t)(n * C + c)];
            const double r = 1.0 / std::sqrt(ss / C + eps);
            rr[(size_t)n] = r;
            for (int64_t c = 0; c < C; c++) {
                const size_t i = (size_t)(n * C + c);
                ro[i] = x[i] * r * w[(size_t)c];
                dot += (double)dout[i] * w[(size_t)c] * x[i];
            }
            for (int64_t c = 0; c < C; c++) {
                const size_t i = (size_t)(n * C + c);
                rd[i] += r * dout[i] * w[(size_t)c] - r * r * r * dot / C * x[i];
            }
        }
        expect_close("rmsnorm out", out, ro, {1e-5, 1e-5});
        expect_close("rmsnorm rstd", rstd, rr, {1e-5, 1e-5});
        std::vector<uint16_t> out16((size_t)(N * C), 0xffff);
        std::vector<float> rstd16((size_t)N, NAN);
        emu::launch(dim3((unsigned)N), dim3(kThreads), 0, rmsnorm_forward_kernel<uint16_t>, out16.data(),
                    rstd16.data(), (const float*)x.data(), (const float*)w.data(), C, eps);
        expect_rounded("rmsnorm bf16 out", out16, out);
        expect_close("rmsnorm rstd (bf16 out)", rstd16, std::vector<double>(rstd.begin(), rstd.end()), {0.0, 0.0});
        expect_close("rmsnorm dinp (+=)", dinp, rd, {1e-5, 1e-4});
    }
    // dweight: several row blocks (N > kRowsPerBlock) and a partial column block.
    const int64_t N = 300, C = 40;
    auto x = randv((size_t)(N * C), 14), dout = randv((size_t)(N * C), 15), rstd = randv((size_t)N, 16, 0.5f, 2.0f);
    auto dw = randv((size_t)C, 17);
    std::vector<double> ref(dw.begin(), dw.end());
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            ref[(size_t)c] += (double)dout[(size_t)(n * C + c)] * x[(size_t)(n * C + c)] * rstd[(size_t)n];
    emu::launch(dim3((unsigned)((C + 31) / 32), (unsigned)((N + kRowsPerBlock - 1) / kRowsPerBlock)), dim3(32, 8), 0,
                rmsnorm_backward_dweight_kernel, dw.data(), (const float*)dout.data(), (const float*)x.data(),
                (const float*)rstd.data(), N, C);
    expect_close("rmsnorm dweight (+=)", dw, ref, {1e-4, 1e-5});
}

TEST(CudaEmulatedKernels, SumSquaresClipScaleAdamW) {
    using namespace hb::cuda::adamw_kernels;
    const int64_t n = 5000;
    auto x = randv((size_t)n, 18);
    double ss = 0.5;
    for (float v : x) ss += (double)v * v;
    for (unsigned grid : {grid_for(n, kThreads), 3u}) {
        std::vector<float> sumsq = {0.5f};
        emu::launch(dim3(grid), dim3(kThreads), 0, sum_squares_kernel, sumsq.data(), (const float*)x.data(), n);
        expect_close("sum_squares (+=)", sumsq, std::vector<double>{ss}, {1e-6, 1e-5});
    }
    for (float max_norm : {1.0f, 0.0f, 1e6f}) {
        std::vector<float> sumsq = {100.0f}, scale = {NAN};
        emu::launch(dim3(1), dim3(32), 0, clip_scale_kernel, scale.data(), (const float*)sumsq.data(), max_norm);
        const double want = max_norm <= 0 ? 1.0 : std::min(1.0, max_norm / (10.0 + 1e-6));
        expect_close("clip_scale", scale, std::vector<double>{want}, {1e-7, 1e-6});
    }
    const int64_t m = 1000;
    auto p = randv((size_t)m, 19), g = randv((size_t)m, 20), mo = randv((size_t)m, 21, -0.1f, 0.1f);
    auto vo = randv((size_t)m, 22, 0.001f, 0.01f);
    const std::vector<float> gs = {0.5f};
    const float lr = 1e-3f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f;
    const int step = 3;
    const double bc1 = 1.0 - std::pow((double)b1, step), bc2 = 1.0 - std::pow((double)b2, step);
    std::vector<double> rp((size_t)m), rm((size_t)m), rv((size_t)m);
    for (int64_t i = 0; i < m; i++) {
        const double gi = (double)g[(size_t)i] * 0.5;
        rm[(size_t)i] = b1 * (double)mo[(size_t)i] + (1 - (double)b1) * gi;
        rv[(size_t)i] = b2 * (double)vo[(size_t)i] + (1 - (double)b2) * gi * gi;
        const double mh = rm[(size_t)i] / bc1, vh = rv[(size_t)i] / bc2;
        rp[(size_t)i] = p[(size_t)i] - lr * (mh / (std::sqrt(vh) + eps) + wd * p[(size_t)i]);
    }
    emu::launch(dim3(grid_for(m, kThreads)), dim3(kThreads), 0, adamw_kernel, p.data(), (const float*)g.data(),
                mo.data(), vo.data(), gs.data(), m, lr, b1, b2, eps, wd, (float)bc1, (float)bc2);
    expect_close("adamw param", p, rp, {1e-6, 1e-5});
    expect_close("adamw m", mo, rm, {1e-7, 1e-5});
    expect_close("adamw v", vo, rv, {1e-8, 1e-5});
}

// The multi-tensor kernels against the single-tensor ones, tensor by tensor, bit for bit: more tensors than one
// batch holds (several launches, the last one partial), sizes from 1 to a few blocks, different weight decays.
// The launch loop mirrors adamw.cu's (grid x for the batch's largest tensor, grid y = tensors in the batch).
TEST(CudaEmulatedKernels, MultiTensorSumSquaresAndAdamW) {
    using namespace hb::cuda::adamw_kernels;
    // Blocks of 64 threads (two warps, so block_sum still combines warps) rather than adamw.cu's 256: a quarter of the
    // emulator's threads. The kernels assume only a multiple of 32; SumSquaresClipScaleAdamW runs them at 256.
    const int threads = 64;
    // One block per tensor in the full first batch (the emulator is slow); the last, partial batch mixes n = 1 with
    // tensors of two to four blocks, so its small tensors have blocks past their end.
    auto size_of = [](int i, int batch) -> int64_t {
        return i < batch ? 1 + (i * 37) % 64 : i % 2 == 0 ? 1 : 65 + (i * 53) % 190;
    };
    auto bits_equal = [](const std::vector<float>& a, const std::vector<float>& b) {
        return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
    };

    {  // sum_squares: kSumSquaresBatch + 3 tensors = two launches
        const int count = kSumSquaresBatch + 3;
        std::vector<std::vector<float>> xs;
        for (int i = 0; i < count; i++) xs.push_back(randv((size_t)size_of(i, kSumSquaresBatch), 300 + (unsigned)i));
        std::vector<float> single = {0.25f}, multi = {0.25f};
        for (auto& x : xs)
            emu::launch(dim3(grid_for((int64_t)x.size(), threads)), dim3(threads), 0, sum_squares_kernel,
                        single.data(), (const float*)x.data(), (int64_t)x.size());
        for (int first = 0; first < count; first += kSumSquaresBatch) {
            const int k = std::min(kSumSquaresBatch, count - first);
            SumSquaresBatch batch{};
            int64_t largest = 0;
            for (int j = 0; j < k; j++) {
                batch.x[j] = xs[(size_t)(first + j)].data();
                batch.n[j] = (int64_t)xs[(size_t)(first + j)].size();
                largest = std::max(largest, batch.n[j]);
            }
            emu::launch(dim3(grid_for(largest, threads), (unsigned)k), dim3(threads), 0, sum_squares_multi_kernel,
                        multi.data(), batch);
        }
        double ref = 0.25;
        for (auto& x : xs)
            for (float v : x) ref += (double)v * v;
        expect_close("sum_squares_multi", multi, std::vector<double>{ref}, {1e-5, 1e-5});
        EXPECT_TRUE(bits_equal(single, multi)) << single[0] << " vs " << multi[0];
    }

    // AdamW: kAdamWBatch + 6 tensors = two launches; each tensor's own weight decay.
    const int count = kAdamWBatch + 6;
    struct T {
        std::vector<float> p, g, m, v;
        float wd;
    };
    std::vector<T> single, multi;
    for (int i = 0; i < count; i++) {
        const size_t n = (size_t)size_of(i, kAdamWBatch);
        const unsigned seed = 500 + 4 * (unsigned)i;
        single.push_back({randv(n, seed), randv(n, seed + 1), randv(n, seed + 2, -0.1f, 0.1f),
                          randv(n, seed + 3, 0.001f, 0.01f), i % 4 == 0 ? 0.0f : 0.01f * (float)(i % 7)});
    }
    multi = single;
    const std::vector<float> gs = {0.5f};
    const float lr = 1e-3f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f;
    const float bc1 = (float)(1.0 - std::pow((double)b1, 3)), bc2 = (float)(1.0 - std::pow((double)b2, 3));
    for (bool scaled : {true, false}) {
        const float* gsp = scaled ? gs.data() : nullptr;
        for (T& t : single) {
            const int64_t n = (int64_t)t.p.size();
            emu::launch(dim3(grid_for(n, threads)), dim3(threads), 0, adamw_kernel, t.p.data(),
                        (const float*)t.g.data(), t.m.data(), t.v.data(), gsp, n, lr, b1, b2, eps, t.wd, bc1, bc2);
        }
        for (int first = 0; first < count; first += kAdamWBatch) {
            const int k = std::min(kAdamWBatch, count - first);
            AdamWBatch batch{};
            int64_t largest = 0;
            for (int j = 0; j < k; j++) {
                T& t = multi[(size_t)(first + j)];
                batch.param[j] = t.p.data();
                batch.grad[j] = t.g.data();
                batch.m[j] = t.m.data();
                batch.v[j] = t.v.data();
                batch.n[j] = (int64_t)t.p.size();
                batch.weight_decay[j] = t.wd;
                largest = std::max(largest, batch.n[j]);
            }
            emu::launch(dim3(grid_for(largest, threads), (unsigned)k), dim3(threads), 0, adamw_multi_kernel, batch,
                        gsp, lr, b1, b2, eps, bc1, bc2);
        }
    }
    for (int i = 0; i < count; i++) {
        SCOPED_TRACE(::testing::Message() << "tensor " << i << " n=" << single[(size_t)i].p.size());
        EXPECT_TRUE(bits_equal(single[(size_t)i].p, multi[(size_t)i].p));
        EXPECT_TRUE(bits_equal(single[(size_t)i].m, multi[(size_t)i].m));
        EXPECT_TRUE(bits_equal(single[(size_t)i].v, multi[(size_t)i].v));
    }
    EXPECT_NE(single[1].p[0], randv(single[1].p.size(), 504)[0]);  // the steps did change the parameters
}

// The cross-entropy row kernels over uneven vocabulary chunks; the GEMMs (cuBLAS on the GPU) are host loops here.
TEST(CudaEmulatedKernels, CrossEntropyChunks) {
    using namespace hb::cuda::cross_entropy_kernels;
    const int64_t N = 6, V = 50, C = 8;
    const std::vector<int32_t> targets = {3, -1, 49, 16, 0, -100};
    auto h = randv((size_t)(N * C), 23, -2.0f, 2.0f), w = randv((size_t)(V * C), 24, -2.0f, 2.0f);
    auto logits_of = [&](int64_t v0, int64_t cw) {  // (N, cw) = h @ w[v0:v0+cw]^T
        std::vector<float> l((size_t)(N * cw));
        for (int64_t n = 0; n < N; n++)
            for (int64_t j = 0; j < cw; j++) {
                double a = 0;
                for (int64_t c = 0; c < C; c++) a += (double)h[(size_t)(n * C + c)] * w[(size_t)((v0 + j) * C + c)];
                l[(size_t)(n * cw + j)] = (float)a;
            }
        return l;
    };
    // reference
    std::vector<double> rl((size_t)N), rlse((size_t)N), rdh((size_t)(N * C), 0.0), rdw((size_t)(V * C), 0.0);
    const float loss_scale = 0.25f;
    auto full = logits_of(0, V);
    for (int64_t n = 0; n < N; n++) {
        double m = -INFINITY, s = 0;
        for (int64_t j = 0; j < V; j++) m = std::max(m, (double)full[(size_t)(n * V + j)]);
        for (int64_t j = 0; j < V; j++) s += std::exp(full[(size_t)(n * V + j)] - m);
        rlse[(size_t)n] = m + std::log(s);
        const int32_t t = targets[(size_t)n];
        rl[(size_t)n] = t < 0 ? 0.0 : rlse[(size_t)n] - full[(size_t)(n * V + t)];
        if (t < 0) continue;
        for (int64_t j = 0; j < V; j++) {
            const double p = std::exp(full[(size_t)(n * V + j)] - rlse[(size_t)n]);
            const double d = loss_scale * (p - (j == t ? 1.0 : 0.0));
            for (int64_t c = 0; c < C; c++) {
                rdh[(size_t)(n * C + c)] += d * w[(size_t)(j * C + c)];
                rdw[(size_t)(j * C + c)] += d * h[(size_t)(n * C + c)];
            }
        }
    }
    for (int64_t chunk : {16, 50}) {
        SCOPED_TRACE(::testing::Message() << "chunk=" << chunk);
        std::vector<float> losses((size_t)N, 0.0f), lse((size_t)N, NAN), run_sum((size_t)N, NAN);
        for (int64_t v0 = 0; v0 < V; v0 += chunk) {
            const int64_t cw = std::min(chunk, V - v0);
            auto l = logits_of(v0, cw);
            emu::launch(dim3((unsigned)N), dim3(kThreads), 0, ce_chunk_kernel, lse.data(), run_sum.data(),
                        losses.data(), (const float*)l.data(), targets.data(), cw, v0, (int)(v0 == 0));
        }
        emu::launch(dim3(grid_for(N, kThreads)), dim3(kThreads), 0, ce_finish_kernel, losses.data(), lse.data(),
                    (const float*)run_sum.data(), targets.data(), N);
        expect_close("losses", losses, rl, {1e-5, 1e-5});
        expect_close("lse", lse, rlse, {1e-5, 1e-5});

        std::vector<double> dh((size_t)(N * C), 0.0), dw((size_t)(V * C), 0.0);
        for (int64_t v0 = 0; v0 < V; v0 += chunk) {
            const int64_t cw = std::min(chunk, V - v0);
            auto l = logits_of(v0, cw);
            // The bf16 backward's instantiation writes the same dlogits, rounded, to a separate buffer.
            std::vector<uint16_t> l16(l.size(), 0xffff);
            emu::launch(dim3(grid_for(N * cw, kThreads)), dim3(kThreads), 0, ce_dlogits_kernel<uint16_t>, l16.data(),
                        (const float*)l.data(), targets.data(), (const float*)lse.data(), loss_scale, N, cw, v0);
            emu::launch(dim3(grid_for(N * cw, kThreads)), dim3(kThreads), 0, ce_dlogits_kernel<float>, l.data(),
                        (const float*)l.data(), targets.data(), (const float*)lse.data(), loss_scale, N, cw, v0);
            expect_rounded("bf16 dlogits", l16, l);
            for (int64_t n = 0; n < N; n++)
                for (int64_t j = 0; j < cw; j++)
                    for (int64_t c = 0; c < C; c++) {
                        dh[(size_t)(n * C + c)] += (double)l[(size_t)(n * cw + j)] * w[(size_t)((v0 + j) * C + c)];
                        dw[(size_t)((v0 + j) * C + c)] += (double)l[(size_t)(n * cw + j)] * h[(size_t)(n * C + c)];
                    }
        }
        expect_close("dh", dh, rdh, {1e-5, 1e-4});
        expect_close("dw", dw, rdw, {1e-5, 1e-4});
    }
}

// matmul.cu hands cuBLAS the column-major problem from gemm-layout.hpp. A naive column-major GEMM with exactly
// those arguments (what cublasGemmEx / cublasLtMatmul compute) must give the row-major product.
TEST(CudaEmulatedKernels, GemmLayoutMapsRowMajorToColumnMajor) {
    struct Case {
        int64_t M, N, K;
    };
    for (Case cs : {Case{1, 1, 1}, Case{3, 5, 7}, Case{8, 2, 9}})
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                SCOPED_TRACE(::testing::Message() << "M=" << cs.M << " N=" << cs.N << " K=" << cs.K << " ta=" << ta
                                                  << " tb=" << tb);
                const int64_t M = cs.M, N = cs.N, K = cs.K;
                auto a = randv((size_t)(M * K), 30), b = randv((size_t)(K * N), 31);
                // row-major reference: op(a)[i][l] = ta ? a[l*M+i] : a[i*K+l]; op(b)[l][j] = tb ? b[j*K+l] : b[l*N+j]
                std::vector<double> ref((size_t)(M * N), 0.0);
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++)
                        for (int64_t l = 0; l < K; l++)
                            ref[(size_t)(i * N + j)] += (double)(ta ? a[(size_t)(l * M + i)] : a[(size_t)(i * K + l)]) *
                                                        (tb ? b[(size_t)(j * K + l)] : b[(size_t)(l * N + j)]);
                const hb::cuda::ColumnMajorGemm g = hb::cuda::column_major_gemm(M, N, K, ta, tb);
                ASSERT_EQ(g.rows_first * g.cols_first, K * N);
                ASSERT_EQ(g.rows_second * g.cols_second, M * K);
                ASSERT_EQ(g.trans_first ? g.cols_first : g.rows_first, g.m);    // op(first) is (m,k)
                ASSERT_EQ(g.trans_second ? g.rows_second : g.cols_second, g.n);  // op(second) is (k,n)
                // column-major element (r,c) of a matrix with leading dimension ld is at r + c*ld
                auto first = [&](int64_t r, int64_t c) {
                    return g.trans_first ? b[(size_t)(c + r * g.ld_first)] : b[(size_t)(r + c * g.ld_first)];
                };
                auto second = [&](int64_t r, int64_t c) {
                    return g.trans_second ? a[(size_t)(c + r * g.ld_second)] : a[(size_t)(r + c * g.ld_second)];
                };
                std::vector<double> out((size_t)(M * N), NAN);
                for (int64_t i = 0; i < g.m; i++)
                    for (int64_t j = 0; j < g.n; j++) {
                        double acc = 0;
                        for (int64_t l = 0; l < g.k; l++) acc += (double)first(i, l) * second(l, j);
                        out[(size_t)(i + j * g.ldc)] = acc;
                    }
                expect_close("gemm via column-major mapping", out, ref, {1e-12, 1e-12});
            }
}

}  // namespace
