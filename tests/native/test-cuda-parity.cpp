// test-cuda-parity.cpp — every kernel of humpback.h run on a CPU context and on a CUDA context from the same
// random inputs (fixed seeds, never zeros), compared element-wise with per-op tolerances
// (|cuda - cpu| <= atol + rtol * |cpu|; the CPU backend is the specification). Outputs the ABI says are
// overwritten start as NaN on both sides, so an element a kernel forgets to write fails the comparison.
// Without a CUDA device every test is skipped with the reason (never a silent pass).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "compare.hpp"
#include "humpback.h"
#include "train-step.hpp"

namespace {

using hbtest::expect_close;
using hbtest::Tolerance;

std::string last_error() { return hb_last_error(); }

// Empty when a CUDA device is usable, else why not.
std::string no_cuda_reason() {
    int32_t n = 0;
    if (hb_cuda_device_count(&n) != HB_OK) return "hb_cuda_device_count failed: " + last_error();
    if (n > 0) return "";
    hb_build_info info{};
    if (hb_get_build_info(&info) == HB_OK && info.cuda_compiled == 0)
        return "libhumpback was built without the CUDA backend (configure with -DHB_CUDA=ON)";
    return "the CUDA backend is built but hb_cuda_device_count found 0 devices (no NVIDIA driver or GPU)";
}

const char* side_name(int s) { return s == 0 ? "cpu" : "cuda"; }

// GEMM tolerance for a reduction of length K, from the compute mode the CUDA context will use.
Tolerance gemm_tolerance(int64_t K) {
    const double sk = std::sqrt((double)K);
    const char* mode = std::getenv("HB_CUDA_MATMUL");
    if (mode != nullptr && std::strcmp(mode, "tf32") == 0) return {2e-3 * sk, 5e-3};
    if (mode != nullptr && std::strcmp(mode, "bf16") == 0) return {1e-2 * sk, 2e-2};
    return {2e-6 * sk, 1e-5};
}

template <typename T>
struct Dual {  // one tensor on both contexts: p[0] in CPU memory, p[1] in device memory
    T* p[2] = {nullptr, nullptr};
    size_t n = 0;
};

// Runs `call` once per side with `c` the context and `s` the side (0 cpu, 1 cuda); pointers are x.p[s].
#define RUN_BOTH(call)                                                                                     \
    for (int s = 0; s < 2; s++) {                                                                          \
        hb_context* c = ctx[s];                                                                            \
        (void)c;                                                                                           \
        const hb_status st_ = (call);                                                                      \
        ASSERT_EQ(st_, HB_OK) << #call << " on " << side_name(s) << ": " << last_error();                 \
    }

class CudaParity : public ::testing::Test {
protected:
    hb_context* ctx[2] = {nullptr, nullptr};
    std::vector<std::pair<int, void*>> allocations;
    std::mt19937 rng{20240611u};

    void SetUp() override {
        const std::string why = no_cuda_reason();
        if (!why.empty()) GTEST_SKIP() << "no CUDA device: " << why;
        ASSERT_EQ(hb_context_create(HB_BACKEND_CPU, 0, 0, &ctx[0]), HB_OK) << last_error();
        ASSERT_EQ(hb_context_create(HB_BACKEND_CUDA, 0, 0, &ctx[1]), HB_OK) << last_error();
    }
    void TearDown() override {
        for (auto& [s, p] : allocations) hb_free(ctx[s], p);
        hb_context_free(ctx[0]);
        hb_context_free(ctx[1]);
    }

    template <typename T>
    Dual<T> upload(const std::vector<T>& host) {
        Dual<T> d;
        d.n = host.size();
        for (int s = 0; s < 2; s++) {
            void* p = nullptr;
            const int64_t bytes = (int64_t)(host.size() * sizeof(T));
            EXPECT_EQ(hb_alloc(ctx[s], bytes, &p), HB_OK) << last_error();
            allocations.emplace_back(s, p);
            EXPECT_EQ(hb_copy_to_device(ctx[s], p, host.data(), bytes), HB_OK) << last_error();
            d.p[s] = static_cast<T*>(p);
        }
        return d;
    }
    std::vector<float> uniform(size_t n, float lo = -1.0f, float hi = 1.0f) {
        std::uniform_real_distribution<float> u(lo, hi);
        std::vector<float> v(n);
        for (auto& x : v) x = u(rng);
        return v;
    }
    Dual<float> random(size_t n, float lo = -1.0f, float hi = 1.0f) { return upload(uniform(n, lo, hi)); }
    Dual<float> poison(size_t n) { return upload(std::vector<float>(n, NAN)); }
    Dual<int32_t> ints(size_t n, int32_t lo, int32_t hi) {
        std::uniform_int_distribution<int32_t> u(lo, hi);
        std::vector<int32_t> v(n);
        for (auto& x : v) x = u(rng);
        return upload(v);
    }

    template <typename T>
    std::vector<T> download(const Dual<T>& d, int side) {
        std::vector<T> host(d.n);
        EXPECT_EQ(hb_context_synchronize(ctx[side]), HB_OK) << side_name(side) << ": " << last_error();
        EXPECT_EQ(hb_copy_to_host(ctx[side], host.data(), d.p[side], (int64_t)(d.n * sizeof(T))), HB_OK)
            << side_name(side) << ": " << last_error();
        return host;
    }
    void compare(const std::string& what, const Dual<float>& d, Tolerance tol) {
        expect_close(what, download(d, 1), download(d, 0), tol);
    }
};

// ---------------------------------------------------------------- dense math

TEST_F(CudaParity, Matmul) {
    struct Case {
        int64_t M, N, K;
    };
    for (Case cs : {Case{1, 1, 1}, Case{7, 13, 5}, Case{64, 48, 96}, Case{129, 65, 257}})
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (float beta : {0.0f, 0.5f}) {
                    SCOPED_TRACE(::testing::Message() << "M=" << cs.M << " N=" << cs.N << " K=" << cs.K
                                                      << " trans_a=" << ta << " trans_b=" << tb << " beta=" << beta);
                    auto a = random((size_t)(cs.M * cs.K)), b = random((size_t)(cs.K * cs.N));
                    auto out = random((size_t)(cs.M * cs.N));
                    RUN_BOTH(hb_matmul(c, out.p[s], a.p[s], b.p[s], cs.M, cs.N, cs.K, ta, tb, 0.7f, beta));
                    compare("matmul out", out, gemm_tolerance(cs.K));
                }
}

// Operands at odd offsets into larger buffers (4-byte aligned only): cuBLASLt must be told the alignment.
TEST_F(CudaParity, MatmulUnalignedOperands) {
    const int64_t M = 33, N = 17, K = 70;
    auto a = random((size_t)(M * K + 1)), b = random((size_t)(K * N + 3)), out = random((size_t)(M * N + 1));
    RUN_BOTH(hb_matmul(c, out.p[s] + 1, a.p[s] + 1, b.p[s] + 3, M, N, K, 0, 1, 1.0f, 1.0f));
    compare("matmul out (offset)", out, gemm_tolerance(K));
}

// bf16 storage: the conversions share one bit-exact definition (core/bf16.hpp), so they must agree bit for bit;
// the bf16 GEMM accumulates in fp32 on both sides (tensor cores on the GPU).
TEST_F(CudaParity, Bf16ConversionsAgreeBitForBit) {
    std::vector<float> x = uniform(4099, -300.0f, 300.0f);
    x[0] = INFINITY;
    x[1] = -0.0f;
    x[2] = 3.0e38f;  // rounds to infinity
    x[3] = 1.0e-40f;  // subnormal
    auto in = upload(x);
    auto h = upload(std::vector<uint16_t>(x.size(), 0xffff));
    auto back = poison(x.size());
    RUN_BOTH(hb_convert_f32_to_bf16(c, h.p[s], in.p[s], (int64_t)x.size()));
    RUN_BOTH(hb_convert_bf16_to_f32(c, back.p[s], h.p[s], (int64_t)x.size()));
    const auto h_cpu = download(h, 0), h_gpu = download(h, 1);
    int mismatches = 0;
    for (size_t i = 0; i < x.size() && mismatches < 10; i++)
        if (h_cpu[i] != h_gpu[i]) {
            ADD_FAILURE() << "bf16 of " << x[i] << ": cpu 0x" << std::hex << h_cpu[i] << ", cuda 0x" << h_gpu[i] << std::dec;
            mismatches++;
        }
    compare("bf16 -> f32", back, {0.0, 0.0});
}

TEST_F(CudaParity, MatmulBf16) {
    struct Case {
        int64_t M, N, K;
    };
    for (Case cs : {Case{1, 1, 1}, Case{7, 13, 5}, Case{64, 48, 96}, Case{129, 65, 257}})
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                SCOPED_TRACE(::testing::Message() << "M=" << cs.M << " N=" << cs.N << " K=" << cs.K << " trans_a=" << ta
                                                  << " trans_b=" << tb);
                auto a32 = random((size_t)(cs.M * cs.K)), b32 = random((size_t)(cs.K * cs.N));
                auto a = upload(std::vector<uint16_t>(a32.n)), b = upload(std::vector<uint16_t>(b32.n));
                RUN_BOTH(hb_convert_f32_to_bf16(c, a.p[s], a32.p[s], (int64_t)a32.n));
                RUN_BOTH(hb_convert_f32_to_bf16(c, b.p[s], b32.p[s], (int64_t)b32.n));
                auto out = random((size_t)(cs.M * cs.N));
                RUN_BOTH(hb_matmul_bf16(c, out.p[s], a.p[s], b.p[s], cs.M, cs.N, cs.K, ta, tb, 0.7f, 0.5f));
                // Exact products, fp32 sums in different orders: the fp32 GEMM tolerance.
                compare("matmul_bf16 out", out, {2e-6 * std::sqrt((double)cs.K), 1e-5});
            }
}

TEST_F(CudaParity, AxpyAddScale) {
    for (int64_t n : {1, 1000, 100003}) {
        SCOPED_TRACE(::testing::Message() << "n=" << n);
        auto x = random((size_t)n), y = random((size_t)n), z = poison((size_t)n);
        RUN_BOTH(hb_axpy(c, y.p[s], x.p[s], -0.75f, n));
        compare("axpy y", y, {1e-6, 1e-6});
        RUN_BOTH(hb_add(c, z.p[s], x.p[s], y.p[s], n));
        compare("add out", z, {1e-6, 1e-6});
        RUN_BOTH(hb_add(c, x.p[s], x.p[s], y.p[s], n));  // out aliases a
        compare("add out aliasing a", x, {1e-6, 1e-6});
        RUN_BOTH(hb_scale(c, x.p[s], 1.5f, n));
        compare("scale x", x, {1e-6, 1e-6});
    }
}

// ---------------------------------------------------------------- embedding, rmsnorm, rope, swiglu

TEST_F(CudaParity, Embedding) {
    const int64_t N = 37, V = 50, C = 33;
    auto tokens = ints((size_t)N, 0, (int32_t)V - 1);
    auto wte = random((size_t)(V * C));
    auto out = poison((size_t)(N * C));
    RUN_BOTH(hb_embedding_forward(c, out.p[s], tokens.p[s], wte.p[s], N, V, C));
    compare("embedding out", out, {0.0, 0.0});
    auto dout = random((size_t)(N * C)), dwte = random((size_t)(V * C));
    RUN_BOTH(hb_embedding_backward(c, dwte.p[s], dout.p[s], tokens.p[s], N, V, C));
    compare("embedding dwte", dwte, {1e-6, 1e-5});
}

TEST_F(CudaParity, RmsNorm) {
    for (int64_t N : {1, 17})
        for (int64_t C : {7, 768, 2049}) {
            SCOPED_TRACE(::testing::Message() << "N=" << N << " C=" << C);
            auto inp = random((size_t)(N * C), -2.0f, 2.0f), weight = random((size_t)C, 0.5f, 1.5f);
            auto out = poison((size_t)(N * C)), rstd = poison((size_t)N);
            RUN_BOTH(hb_rmsnorm_forward(c, out.p[s], rstd.p[s], inp.p[s], weight.p[s], N, C, 1e-5f));
            compare("rmsnorm out", out, {1e-5, 1e-5});
            compare("rmsnorm rstd", rstd, {1e-5, 1e-5});
            auto dout = random((size_t)(N * C)), dinp = random((size_t)(N * C)), dweight = random((size_t)C);
            RUN_BOTH(hb_rmsnorm_backward(c, dinp.p[s], dweight.p[s], dout.p[s], inp.p[s], weight.p[s], rstd.p[s], N,
                                         C));
            compare("rmsnorm dinp (+=)", dinp, {1e-5, 1e-4});
            compare("rmsnorm dweight (+=)", dweight, {1e-5 * (double)N, 1e-4});
            RUN_BOTH(hb_rmsnorm_backward(c, dinp.p[s], nullptr, dout.p[s], inp.p[s], weight.p[s], rstd.p[s], N, C));
            compare("rmsnorm dinp (+=, frozen weight)", dinp, {1e-5, 1e-4});
        }
}

// The angle is positions[n] * inv_freq[i] in fp32, as in HF; an fp32 angle near position p is only known to
// about p * 2^-24 radians, so backends that form it differently (double, or fp32) may differ by that much.
// Short positions check the rotation tightly; long ones (up to 8191) with a tolerance that allows for the angle.
TEST_F(CudaParity, Rope) {
    hb_rope_config cfg{500000.0f, 1, 32.0f, 1.0f, 4.0f, 8192};
    for (int32_t max_pos : {255, 8191})
        for (int64_t D : {2, 64, 128}) {
            SCOPED_TRACE(::testing::Message() << "D=" << D << " positions <= " << max_pos);
            const int64_t N = 11, H = 3;
            const Tolerance tol = max_pos < 256 ? Tolerance{5e-5, 1e-4} : Tolerance{2e-3, 1e-3};
            std::vector<float> inv((size_t)(D / 2));
            ASSERT_EQ(hb_rope_inv_freq(inv.data(), D, &cfg), HB_OK) << last_error();
            auto inv_freq = upload(inv);
            auto positions = ints((size_t)N, 0, max_pos);
            auto x = random((size_t)(N * H * D));
            RUN_BOTH(hb_rope_forward(c, x.p[s], positions.p[s], inv_freq.p[s], N, H, D));
            compare("rope forward x", x, tol);
            auto dx = random((size_t)(N * H * D));
            RUN_BOTH(hb_rope_backward(c, dx.p[s], positions.p[s], inv_freq.p[s], N, H, D));
            compare("rope backward dx", dx, tol);
        }
}

TEST_F(CudaParity, SwiGlu) {
    for (int64_t n : {1, 1001}) {
        SCOPED_TRACE(::testing::Message() << "n=" << n);
        auto gate = random((size_t)n, -6.0f, 6.0f), up = random((size_t)n), out = poison((size_t)n);
        RUN_BOTH(hb_swiglu_forward(c, out.p[s], gate.p[s], up.p[s], n));
        compare("swiglu out", out, {1e-6, 1e-5});
        auto dout = random((size_t)n), dgate = poison((size_t)n), dup = poison((size_t)n);
        RUN_BOTH(hb_swiglu_backward(c, dgate.p[s], dup.p[s], dout.p[s], gate.p[s], up.p[s], n));
        compare("swiglu dgate", dgate, {1e-6, 1e-5});
        compare("swiglu dup", dup, {1e-6, 1e-5});
    }
}

// ---------------------------------------------------------------- attention

struct AttentionCase {
    int64_t B, T, H, KVH, D;
    bool segments;
};

void PrintTo(const AttentionCase& p, std::ostream* os) {
    *os << "B=" << p.B << " T=" << p.T << " H=" << p.H << " KVH=" << p.KVH << " D=" << p.D
        << (p.segments ? " segments" : "");
}

class CudaParityAttention : public CudaParity, public ::testing::WithParamInterface<AttentionCase> {
protected:
    // Without p.segments, none (NULL); else packed examples: runs of equal ids, a new example every ~20 tokens.
    Dual<int32_t> segments(const AttentionCase& p) {
        if (!p.segments) return {};
        std::vector<int32_t> ids((size_t)(p.B * p.T));
        for (int64_t b = 0; b < p.B; b++) {
            int32_t id = 0;
            for (int64_t t = 0; t < p.T; t++) {
                if (t > 0 && rng() % 20 == 0) id++;
                ids[(size_t)(b * p.T + t)] = id;
            }
        }
        return upload(ids);
    }
};

TEST_P(CudaParityAttention, ForwardBackward) {
    const AttentionCase p = GetParam();
    const size_t nq = (size_t)(p.B * p.T * p.H * p.D), nk = (size_t)(p.B * p.T * p.KVH * p.D);
    auto q = random(nq), k = random(nk), v = random(nk);
    const Dual<int32_t> seg = segments(p);
    const float scale = 1.0f / std::sqrt((float)p.D);
    auto out = poison(nq), lse = poison((size_t)(p.B * p.H * p.T));
    RUN_BOTH(hb_attention_forward(c, out.p[s], lse.p[s], q.p[s], k.p[s], v.p[s], seg.p[s], p.B, p.T, p.H, p.KVH, p.D,
                                  scale));
    compare("attention out", out, {2e-5, 2e-4});
    compare("attention lse", lse, {2e-5, 2e-4});

    // Each side differentiates its own forward (out, lse), as a training step would.
    auto dout = random(nq), dq = poison(nq), dk = poison(nk), dv = poison(nk);
    RUN_BOTH(hb_attention_backward(c, dq.p[s], dk.p[s], dv.p[s], dout.p[s], q.p[s], k.p[s], v.p[s], out.p[s],
                                   lse.p[s], seg.p[s], p.B, p.T, p.H, p.KVH, p.D, scale));
    compare("attention dq", dq, {5e-5, 5e-4});
    compare("attention dk", dk, {5e-5, 5e-4});
    compare("attention dv", dv, {5e-5, 5e-4});
}

// Does the CUDA context run the bf16 attention ops at this head dim on the tensor-core kernels? (D = 64 / 128 unless
// HB_CUDA_ATTENTION=simt; see docs/cuda.md.) Their products take bf16 P, dS and dout, so results agree with the
// fp32-arithmetic CPU kernels to ~1e-2 of the tensor's magnitude rather than to fp32 rounding.
bool tensor_core_attention(int64_t D) {
    const char* mode = std::getenv("HB_CUDA_ATTENTION");
    return (D == 64 || D == 128) && !(mode != nullptr && std::strcmp(mode, "simt") == 0);
}

// |got - ref| <= rel * (max |ref| + |ref|) + 1e-5: the tolerance of a result computed from bf16-rounded operands.
void expect_close_scaled(const std::string& what, const std::vector<float>& got, const std::vector<float>& ref,
                         double rel) {
    double m = 0.0;
    for (float x : ref) m = std::max(m, (double)std::fabs(x));
    expect_close(what, got, ref, {1e-5 + rel * m, rel});
}

// bf16 q, k, v, out: both sides convert the same fp32 inputs with the shared bit-exact conversion. The bf16 outs
// may differ by one bf16 step where the fp32 values straddle a rounding boundary; the backward then gets the CPU's
// out and lse on both sides, so its comparison is not blurred by that. On the tensor-core path (D = 64 / 128) out,
// dq, dk, dv get 1e-2 of the tensor's magnitude (the emulator measures ~3e-3); lse stays fp32-accurate.
TEST_P(CudaParityAttention, ForwardBackwardBf16) {
    const AttentionCase p = GetParam();
    const size_t nq = (size_t)(p.B * p.T * p.H * p.D), nk = (size_t)(p.B * p.T * p.KVH * p.D);
    const size_t nl = (size_t)(p.B * p.H * p.T);
    auto q32 = random(nq), k32 = random(nk), v32 = random(nk);
    auto q = upload(std::vector<uint16_t>(nq)), k = upload(std::vector<uint16_t>(nk)), v = upload(std::vector<uint16_t>(nk));
    RUN_BOTH(hb_convert_f32_to_bf16(c, q.p[s], q32.p[s], (int64_t)nq));
    RUN_BOTH(hb_convert_f32_to_bf16(c, k.p[s], k32.p[s], (int64_t)nk));
    RUN_BOTH(hb_convert_f32_to_bf16(c, v.p[s], v32.p[s], (int64_t)nk));
    const Dual<int32_t> seg = segments(p);
    const float scale = 1.0f / std::sqrt((float)p.D);
    auto out = upload(std::vector<uint16_t>(nq, 0x7fc0));
    auto lse = poison(nl), out_f32 = poison(nq);
    RUN_BOTH(hb_attention_forward_bf16(c, out.p[s], lse.p[s], q.p[s], k.p[s], v.p[s], seg.p[s], p.B, p.T, p.H, p.KVH,
                                       p.D, scale));
    RUN_BOTH(hb_convert_bf16_to_f32(c, out_f32.p[s], out.p[s], (int64_t)nq));
    const bool tc = tensor_core_attention(p.D);
    if (tc) expect_close_scaled("attention_bf16 out (tensor cores)", download(out_f32, 1), download(out_f32, 0), 1e-2);
    else compare("attention_bf16 out", out_f32, {2e-5, 1.0 / 128});  // within one bf16 step
    compare("attention_bf16 lse", lse, {2e-5, 2e-4});

    auto saved_out = upload(download(out, 0));
    auto saved_lse = upload(download(lse, 0));
    auto dout = random(nq), dq = poison(nq), dk = poison(nk), dv = poison(nk);
    RUN_BOTH(hb_attention_backward_bf16(c, dq.p[s], dk.p[s], dv.p[s], dout.p[s], q.p[s], k.p[s], v.p[s],
                                        saved_out.p[s], saved_lse.p[s], seg.p[s], p.B, p.T, p.H, p.KVH, p.D, scale));
    if (tc) {
        expect_close_scaled("attention_bf16 dq (tensor cores)", download(dq, 1), download(dq, 0), 1e-2);
        expect_close_scaled("attention_bf16 dk (tensor cores)", download(dk, 1), download(dk, 0), 1e-2);
        expect_close_scaled("attention_bf16 dv (tensor cores)", download(dv, 1), download(dv, 0), 1e-2);
    } else {
        compare("attention_bf16 dq", dq, {5e-5, 5e-4});
        compare("attention_bf16 dk", dk, {5e-5, 5e-4});
        compare("attention_bf16 dv", dv, {5e-5, 5e-4});
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaParityAttention,
    ::testing::Values(AttentionCase{1, 1, 1, 1, 64, false},    // T = 1
                      AttentionCase{2, 37, 4, 4, 64, false},   // odd T, no grouping
                      AttentionCase{2, 70, 8, 4, 128, true},   // GQA 2, segments, D = 128
                      AttentionCase{1, 129, 8, 2, 64, true},   // GQA 4, segments, T just past a tile
                      AttentionCase{1, 45, 4, 1, 128, false},  // GQA 4 with one KV head
                      AttentionCase{2, 33, 4, 2, 40, true},    // generic head dim
                      AttentionCase{1, 96, 2, 1, 96, false},   // generic head dim > 64
                      AttentionCase{1, 300, 4, 2, 64, true}),  // several tiles per row
    [](const ::testing::TestParamInfo<AttentionCase>& info) {
        const AttentionCase& p = info.param;
        return "B" + std::to_string(p.B) + "T" + std::to_string(p.T) + "H" + std::to_string(p.H) + "KV" +
               std::to_string(p.KVH) + "D" + std::to_string(p.D) + (p.segments ? "Seg" : "");
    });

// HB_CUDA_ATTENTION (read at hb_context_create): tc (default) runs the bf16 attention ops at D = 64 / 128 on the
// tensor-core kernels, simt on the CUDA-core ones; any other value is rejected. Both paths on the same device buffers:
// the tensor-core results within their bf16 rounding of the CUDA-core ones (lse fp32-accurate).
TEST_F(CudaParity, AttentionBf16TensorCoreVsSimt) {
    const char* prev = std::getenv("HB_CUDA_ATTENTION");
    const std::string saved = prev != nullptr ? prev : "";
    auto make = [](const char* mode, hb_context** out) {
        setenv("HB_CUDA_ATTENTION", mode, 1);
        return hb_context_create(HB_BACKEND_CUDA, 0, 0, out);
    };
    hb_context *tc = nullptr, *simt = nullptr, *bad = nullptr;
    const hb_status st_tc = make("tc", &tc), st_simt = make("simt", &simt), st_bad = make("fast", &bad);
    const std::string bad_error = st_bad != HB_OK ? last_error() : "";
    if (prev != nullptr) setenv("HB_CUDA_ATTENTION", saved.c_str(), 1);
    else unsetenv("HB_CUDA_ATTENTION");
    ASSERT_EQ(st_tc, HB_OK) << last_error();
    ASSERT_EQ(st_simt, HB_OK) << last_error();
    EXPECT_EQ(st_bad, HB_ERR_INVALID_ARGUMENT);
    EXPECT_NE(bad_error.find("HB_CUDA_ATTENTION"), std::string::npos) << bad_error;
    if (bad != nullptr) hb_context_free(bad);

    for (int64_t D : {64, 128}) {
        SCOPED_TRACE(::testing::Message() << "D=" << D);
        const int64_t B = 2, T = 200, H = 8, KVH = 2;
        const size_t nq = (size_t)(B * T * H * D), nk = (size_t)(B * T * KVH * D), nl = (size_t)(B * H * T);
        auto to_bf16 = [](const std::vector<float>& x) {
            std::vector<uint16_t> r(x.size());
            for (size_t i = 0; i < x.size(); i++) {  // round to nearest even, as core/bf16.hpp (finite inputs)
                uint32_t u;
                std::memcpy(&u, &x[i], 4);
                r[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
            }
            return r;
        };
        auto q = upload(to_bf16(uniform(nq))), k = upload(to_bf16(uniform(nk))), v = upload(to_bf16(uniform(nk)));
        std::vector<int32_t> ids((size_t)(B * T));
        for (size_t i = 0; i < ids.size(); i++) ids[i] = (int32_t)((i % (size_t)T) / 37);  // packed examples
        auto seg = upload(ids);
        auto dout = random(nq);
        const float scale = 1.0f / std::sqrt((float)D);
        std::vector<float> res[2][5];  // [tc, simt][out, lse, dq, dk, dv]
        hb_context* sides[2] = {tc, simt};
        for (int i = 0; i < 2; i++) {
            hb_context* c = sides[i];
            auto out = upload(std::vector<uint16_t>(nq, 0x7fc0));
            auto lse = poison(nl), dq = poison(nq), dk = poison(nk), dv = poison(nk), out_f32 = poison(nq);
            ASSERT_EQ(hb_attention_forward_bf16(c, out.p[1], lse.p[1], q.p[1], k.p[1], v.p[1], seg.p[1], B, T, H, KVH, D,
                                                scale), HB_OK) << last_error();
            ASSERT_EQ(hb_attention_backward_bf16(c, dq.p[1], dk.p[1], dv.p[1], dout.p[1], q.p[1], k.p[1], v.p[1],
                                                 out.p[1], lse.p[1], seg.p[1], B, T, H, KVH, D, scale), HB_OK)
                << last_error();
            ASSERT_EQ(hb_convert_bf16_to_f32(c, out_f32.p[1], out.p[1], (int64_t)nq), HB_OK) << last_error();
            ASSERT_EQ(hb_context_synchronize(c), HB_OK) << last_error();
            res[i][0] = download(out_f32, 1), res[i][1] = download(lse, 1), res[i][2] = download(dq, 1);
            res[i][3] = download(dk, 1), res[i][4] = download(dv, 1);
        }
        expect_close_scaled("tc vs simt out", res[0][0], res[1][0], 1e-2);
        expect_close("tc vs simt lse", res[0][1], res[1][1], {2e-5, 2e-4});
        expect_close_scaled("tc vs simt dq", res[0][2], res[1][2], 1e-2);
        expect_close_scaled("tc vs simt dk", res[0][3], res[1][3], 1e-2);
        expect_close_scaled("tc vs simt dv", res[0][4], res[1][4], 1e-2);
    }
    hb_context_free(tc);
    hb_context_free(simt);
}

// ---------------------------------------------------------------- fused cross-entropy

TEST_F(CudaParity, CrossEntropy) {
    const int64_t N = 9, V = 1000, C = 64;
    std::vector<int32_t> tgt((size_t)N);
    std::uniform_int_distribution<int32_t> u(0, (int32_t)V - 1);
    for (auto& t : tgt) t = u(rng);
    tgt[2] = -1;    // ignored
    tgt[5] = -100;  // ignored (HF's ignore_index)
    tgt[7] = (int32_t)V - 1;
    auto targets = upload(tgt);
    auto h = random((size_t)(N * C)), w = random((size_t)(V * C), -0.3f, 0.3f);
    const float loss_scale = 1.0f / 7.0f;  // mean over the unmasked rows
    const Tolerance tol = gemm_tolerance(C);
    for (int64_t chunk : {0, 128, 333, 1000}) {
        SCOPED_TRACE(::testing::Message() << "chunk=" << chunk);
        auto losses = poison((size_t)N), lse = poison((size_t)N);
        RUN_BOTH(hb_cross_entropy_forward(c, losses.p[s], lse.p[s], h.p[s], w.p[s], targets.p[s], N, V, C, chunk));
        compare("cross-entropy losses", losses, tol);
        // lse of ignored rows is not specified: compare the others.
        std::vector<float> lse_cpu = download(lse, 0), lse_gpu = download(lse, 1);
        for (size_t i = 0; i < tgt.size(); i++)
            if (tgt[i] < 0) lse_cpu[i] = lse_gpu[i] = 0.0f;
        expect_close("cross-entropy lse", lse_gpu, lse_cpu, tol);

        auto dh = poison((size_t)(N * C)), dw = random((size_t)(V * C));
        RUN_BOTH(hb_cross_entropy_backward(c, dh.p[s], dw.p[s], h.p[s], w.p[s], targets.p[s], lse.p[s], loss_scale,
                                           N, V, C, chunk));
        compare("cross-entropy dh", dh, gemm_tolerance(V));
        compare("cross-entropy dw (+=)", dw, gemm_tolerance(N));
        auto dh2 = poison((size_t)(N * C));
        RUN_BOTH(hb_cross_entropy_backward(c, dh2.p[s], nullptr, h.p[s], w.p[s], targets.p[s], lse.p[s], loss_scale,
                                           N, V, C, chunk));
        compare("cross-entropy dh (frozen head)", dh2, gemm_tolerance(V));
    }
}

// ---------------------------------------------------------------- bf16 activations (mixed precision)

// bf16 outputs of both sides within one bf16 ulp (adjacent bit patterns of the same sign): the fp32 results they
// round differ in the last fp32 bits (expf, rsqrtf, the order of sums), which may tip a rounding either way.
void expect_bf16_within_ulp(const std::string& what, const std::vector<uint16_t>& gpu,
                            const std::vector<uint16_t>& cpu) {
    ASSERT_EQ(gpu.size(), cpu.size()) << what;
    int bad = 0;
    auto ordinal = [](uint16_t v) { return (v & 0x8000) ? -(int)(v & 0x7fff) : (int)v; };  // monotone in the value
    for (size_t i = 0; i < gpu.size() && bad < 10; i++) {
        if (std::abs(ordinal(gpu[i]) - ordinal(cpu[i])) > 1) {
            ADD_FAILURE() << what << "[" << i << "]: cuda 0x" << std::hex << gpu[i] << ", cpu 0x" << cpu[i] << std::dec;
            bad++;
        }
    }
}

TEST_F(CudaParity, MatmulBf16MixedEveryDtypePair) {
    struct Case {
        int64_t M, N, K;
    };
    for (Case cs : {Case{1, 1, 1}, Case{7, 13, 5}, Case{129, 65, 257}})
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (hb_dtype at : {HB_DTYPE_F32, HB_DTYPE_BF16})
                    for (hb_dtype bt : {HB_DTYPE_F32, HB_DTYPE_BF16}) {
                        SCOPED_TRACE(::testing::Message() << "M=" << cs.M << " N=" << cs.N << " K=" << cs.K
                                                          << " trans_a=" << ta << " trans_b=" << tb << " a_type=" << at
                                                          << " b_type=" << bt);
                        auto a32 = random((size_t)(cs.M * cs.K)), b32 = random((size_t)(cs.K * cs.N));
                        auto a16 = upload(std::vector<uint16_t>(a32.n)), b16 = upload(std::vector<uint16_t>(b32.n));
                        RUN_BOTH(hb_convert_f32_to_bf16(c, a16.p[s], a32.p[s], (int64_t)a32.n));
                        RUN_BOTH(hb_convert_f32_to_bf16(c, b16.p[s], b32.p[s], (int64_t)b32.n));
                        auto out = random((size_t)(cs.M * cs.N));
                        RUN_BOTH(hb_matmul_bf16_mixed(
                            c, out.p[s], at == HB_DTYPE_F32 ? (const void*)a32.p[s] : (const void*)a16.p[s], at,
                            bt == HB_DTYPE_F32 ? (const void*)b32.p[s] : (const void*)b16.p[s], bt, cs.M, cs.N, cs.K,
                            ta, tb, 0.7f, 0.5f));
                        compare("matmul_bf16_mixed out", out, {2e-6 * std::sqrt((double)cs.K), 1e-5});
                    }
}

TEST_F(CudaParity, EmbeddingBf16Table) {
    const int64_t N = 37, V = 50, C = 33;
    auto tokens = ints((size_t)N, 0, (int32_t)V - 1);
    auto wte32 = random((size_t)(V * C));
    auto wte = upload(std::vector<uint16_t>(wte32.n));
    RUN_BOTH(hb_convert_f32_to_bf16(c, wte.p[s], wte32.p[s], (int64_t)wte32.n));
    auto out = poison((size_t)(N * C));
    RUN_BOTH(hb_embedding_forward_bf16(c, out.p[s], tokens.p[s], wte.p[s], N, V, C));
    compare("embedding out (bf16 table)", out, {0.0, 0.0});
}

TEST_F(CudaParity, RmsNormBf16Output) {
    for (int64_t N : {1, 17})
        for (int64_t C : {7, 768, 2049}) {
            SCOPED_TRACE(::testing::Message() << "N=" << N << " C=" << C);
            auto inp = random((size_t)(N * C), -2.0f, 2.0f), weight = random((size_t)C, 0.5f, 1.5f);
            auto out = upload(std::vector<uint16_t>((size_t)(N * C), 0xffff));
            auto rstd = poison((size_t)N);
            RUN_BOTH(hb_rmsnorm_forward_bf16(c, out.p[s], rstd.p[s], inp.p[s], weight.p[s], N, C, 1e-5f));
            expect_bf16_within_ulp("rmsnorm bf16 out", download(out, 1), download(out, 0));
            compare("rmsnorm rstd (bf16 out)", rstd, {1e-5, 1e-5});
        }
}

TEST_F(CudaParity, SwiGluBf16Output) {
    for (int64_t n : {1, 1001, 100003}) {
        SCOPED_TRACE(::testing::Message() << "n=" << n);
        auto gate = random((size_t)n, -6.0f, 6.0f), up = random((size_t)n);
        auto out = upload(std::vector<uint16_t>((size_t)n, 0xffff));
        RUN_BOTH(hb_swiglu_forward_bf16(c, out.p[s], gate.p[s], up.p[s], n));
        expect_bf16_within_ulp("swiglu bf16 out", download(out, 1), download(out, 0));
    }
}

// Logits from bf16 h and w (fp32 accumulation on both sides, whatever HB_CUDA_MATMUL says). The backward rounds
// dlogits to bf16 on both sides; where the two fp32 dlogits straddle a bf16 rounding point they round apart by one
// bf16 ulp (2^-8 |d| <= 2^-8 loss_scale), which the gradients' atol allows for.
TEST_F(CudaParity, CrossEntropyBf16) {
    const int64_t N = 9, V = 1000, C = 64;
    std::vector<int32_t> tgt((size_t)N);
    std::uniform_int_distribution<int32_t> u(0, (int32_t)V - 1);
    for (auto& t : tgt) t = u(rng);
    tgt[2] = -1;    // ignored
    tgt[5] = -100;  // ignored
    tgt[7] = (int32_t)V - 1;
    auto targets = upload(tgt);
    auto h32 = random((size_t)(N * C)), w32 = random((size_t)(V * C), -0.3f, 0.3f);
    auto h = upload(std::vector<uint16_t>(h32.n)), w = upload(std::vector<uint16_t>(w32.n));
    RUN_BOTH(hb_convert_f32_to_bf16(c, h.p[s], h32.p[s], (int64_t)h32.n));
    RUN_BOTH(hb_convert_f32_to_bf16(c, w.p[s], w32.p[s], (int64_t)w32.n));
    const float loss_scale = 1.0f / 7.0f;
    const Tolerance fwd{2e-6 * std::sqrt((double)C), 1e-5};
    const double flip = loss_scale * std::ldexp(1.0, -7);
    for (int64_t chunk : {0, 128, 333, 1000}) {
        SCOPED_TRACE(::testing::Message() << "chunk=" << chunk);
        auto losses = poison((size_t)N), lse = poison((size_t)N);
        RUN_BOTH(hb_cross_entropy_forward_bf16(c, losses.p[s], lse.p[s], h.p[s], w.p[s], targets.p[s], N, V, C, chunk));
        compare("cross-entropy bf16 losses", losses, fwd);
        std::vector<float> lse_cpu = download(lse, 0), lse_gpu = download(lse, 1);
        for (size_t i = 0; i < tgt.size(); i++)
            if (tgt[i] < 0) lse_cpu[i] = lse_gpu[i] = 0.0f;
        expect_close("cross-entropy bf16 lse", lse_gpu, lse_cpu, fwd);

        auto dh = poison((size_t)(N * C)), dw = random((size_t)(V * C));
        RUN_BOTH(hb_cross_entropy_backward_bf16(c, dh.p[s], dw.p[s], h.p[s], w.p[s], targets.p[s], lse.p[s],
                                                loss_scale, N, V, C, chunk));
        compare("cross-entropy bf16 dh", dh, {2e-6 * std::sqrt((double)V) + flip, 1e-3});
        compare("cross-entropy bf16 dw (+=)", dw, {2e-6 * std::sqrt((double)N) + flip, 1e-3});
        auto dh2 = poison((size_t)(N * C));
        RUN_BOTH(hb_cross_entropy_backward_bf16(c, dh2.p[s], nullptr, h.p[s], w.p[s], targets.p[s], lse.p[s],
                                                loss_scale, N, V, C, chunk));
        compare("cross-entropy bf16 dh (frozen head)", dh2, {2e-6 * std::sqrt((double)V) + flip, 1e-3});
    }
}

// ---------------------------------------------------------------- LoRA

TEST_F(CudaParity, Lora) {
    const int64_t N = 13, in = 40, out = 24, R = 4;
    const float scale = 2.0f;
    auto x = random((size_t)(N * in)), a = random((size_t)(R * in)), b = random((size_t)(out * R));
    auto y = random((size_t)(N * out)), xa = poison((size_t)(N * R));
    RUN_BOTH(hb_lora_forward(c, y.p[s], xa.p[s], x.p[s], a.p[s], b.p[s], N, in, out, R, scale));
    compare("lora xa", xa, gemm_tolerance(in));
    compare("lora y (+=)", y, gemm_tolerance(in * R));
    for (bool with_dx : {true, false}) {
        SCOPED_TRACE(with_dx ? "dx" : "dx NULL");
        auto dy = random((size_t)(N * out)), dx = random((size_t)(N * in));
        auto da = random((size_t)(R * in)), db = random((size_t)(out * R)), work = poison((size_t)(N * R));
        RUN_BOTH(hb_lora_backward(c, with_dx ? dx.p[s] : nullptr, da.p[s], db.p[s], work.p[s], dy.p[s], x.p[s],
                                  xa.p[s], a.p[s], b.p[s], N, in, out, R, scale));
        compare("lora da (+=)", da, gemm_tolerance(N * out));
        compare("lora db (+=)", db, gemm_tolerance(N * in));
        if (with_dx) compare("lora dx (+=)", dx, gemm_tolerance(out * R));
    }
}

// ---------------------------------------------------------------- optimizer

TEST_F(CudaParity, SumSquaresAndClipScale) {
    for (int64_t n : {1, 12345}) {
        SCOPED_TRACE(::testing::Message() << "n=" << n);
        auto x = random((size_t)n), sumsq = upload(std::vector<float>{0.5f});
        RUN_BOTH(hb_sum_squares(c, sumsq.p[s], x.p[s], n));
        RUN_BOTH(hb_sum_squares(c, sumsq.p[s], x.p[s], n));  // accumulates
        compare("sum_squares", sumsq, {1e-6, 1e-5});
    }
    for (float sq : {100.0f, 0.25f})
        for (float max_norm : {1.0f, 0.0f, -1.0f, 1000.0f}) {
            SCOPED_TRACE(::testing::Message() << "sumsq=" << sq << " max_norm=" << max_norm);
            auto sumsq = upload(std::vector<float>{sq}), scale = poison(1);
            RUN_BOTH(hb_clip_scale(c, scale.p[s], sumsq.p[s], max_norm));
            compare("clip_scale", scale, {1e-7, 1e-6});
        }
}

TEST_F(CudaParity, AdamW) {
    const int64_t n = 10007;
    hb_adamw_config cfg{1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 3};
    for (bool scaled : {false, true}) {
        SCOPED_TRACE(scaled ? "grad_scale 0.5" : "grad_scale NULL");
        auto param = random((size_t)n), grad = random((size_t)n);
        auto m = random((size_t)n, -0.1f, 0.1f), v = random((size_t)n, 0.001f, 0.01f);
        auto gs = upload(std::vector<float>{0.5f});
        RUN_BOTH(hb_adamw_update(c, param.p[s], grad.p[s], m.p[s], v.p[s], scaled ? gs.p[s] : nullptr, n, &cfg));
        compare("adamw param", param, {1e-6, 1e-5});
        compare("adamw m", m, {1e-7, 1e-5});
        compare("adamw v", v, {1e-8, 1e-5});
    }
}

// The multi-tensor ops over more tensors than one CUDA launch takes (AdamW: 64, sum_squares: 128), so several
// batches run; sizes 1 to past a grid-stride block count, different weight decays.
TEST_F(CudaParity, MultiTensorSumSquaresAndAdamW) {
    const int count = 150;
    auto size_of = [](int i) -> int64_t { return i == 7 ? 300007 : 1 + (i * 389) % 5000; };
    std::vector<Dual<float>> param, grad, m, v;
    for (int i = 0; i < count; i++) {
        const size_t n = (size_t)size_of(i);
        param.push_back(random(n));
        grad.push_back(random(n));
        m.push_back(random(n, -0.1f, 0.1f));
        v.push_back(random(n, 0.001f, 0.01f));
    }
    auto sumsq = upload(std::vector<float>{0.5f});
    std::vector<const float*> xs[2];
    std::vector<int64_t> ns;
    for (int i = 0; i < count; i++) {
        for (int s = 0; s < 2; s++) xs[s].push_back(grad[(size_t)i].p[s]);
        ns.push_back(size_of(i));
    }
    RUN_BOTH(hb_sum_squares_multi(c, sumsq.p[s], xs[s].data(), ns.data(), count));
    compare("sum_squares_multi", sumsq, {1e-6, 1e-5});

    hb_adamw_config cfg{1e-3f, 0.9f, 0.95f, 1e-8f, 0.0f, 3};
    auto gs = upload(std::vector<float>{0.5f});
    for (bool scaled : {false, true}) {
        SCOPED_TRACE(scaled ? "grad_scale 0.5" : "grad_scale NULL");
        std::vector<hb_adamw_tensor> t[2];
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < count; i++)
                t[s].push_back({param[(size_t)i].p[s], grad[(size_t)i].p[s], m[(size_t)i].p[s], v[(size_t)i].p[s],
                                size_of(i), i % 3 == 0 ? 0.0f : 0.1f, 0});
        RUN_BOTH(hb_adamw_update_multi(c, t[s].data(), count, scaled ? gs.p[s] : nullptr, &cfg));
        for (int i = 0; i < count; i++) {
            SCOPED_TRACE(::testing::Message() << "tensor " << i);
            compare("adamw_multi param", param[(size_t)i], {1e-6, 1e-5});
            compare("adamw_multi m", m[(size_t)i], {1e-7, 1e-5});
            compare("adamw_multi v", v[(size_t)i], {1e-8, 1e-5});
        }
    }
}

// ---------------------------------------------------------------- CUDA-only behaviour

TEST_F(CudaParity, MatmulModeComesFromTheEnvironment) {
    const char* old = std::getenv("HB_CUDA_MATMUL");
    const std::string saved = old != nullptr ? old : "";
    setenv("HB_CUDA_MATMUL", "fp16", 1);
    hb_context* bad = nullptr;
    EXPECT_EQ(hb_context_create(HB_BACKEND_CUDA, 0, 0, &bad), HB_ERR_INVALID_ARGUMENT);
    EXPECT_NE(last_error().find("HB_CUDA_MATMUL"), std::string::npos) << last_error();
    hb_context_free(bad);
    for (const char* mode : {"fp32", "tf32", "bf16"}) {
        setenv("HB_CUDA_MATMUL", mode, 1);
        hb_context* good = nullptr;
        EXPECT_EQ(hb_context_create(HB_BACKEND_CUDA, 0, 0, &good), HB_OK) << mode << ": " << last_error();
        hb_context_free(good);
    }
    if (old != nullptr) setenv("HB_CUDA_MATMUL", saved.c_str(), 1);
    else unsetenv("HB_CUDA_MATMUL");
}

TEST_F(CudaParity, HeadDimAbove128IsUnsupported) {
    const int64_t B = 1, T = 4, H = 1, D = 160;
    auto q = random((size_t)(B * T * H * D)), out = poison((size_t)(B * T * H * D)), lse = poison((size_t)(B * H * T));
    EXPECT_EQ(hb_attention_forward(ctx[1], out.p[1], lse.p[1], q.p[1], q.p[1], q.p[1], nullptr, B, T, H, H, D,
                                   0.1f),
              HB_ERR_UNSUPPORTED);
    EXPECT_NE(last_error().find("128"), std::string::npos) << last_error();
}

}  // namespace

// ---------------------------------------------------------------- a whole training step (train-step.hpp)
// One decoder layer, the embedding and the tied LM head with fused cross-entropy, forward and backward, planned and
// run as the C# model does it (the step bench-cuda times): full fine-tuning and LoRA, fp32 and bf16 mixed precision,
// at head dim 64 (bf16: the tensor-core attention) with T = 80 (two attention tiles). Both contexts get the same
// random weights and tokens (seeded arenas, same allocation order); losses, every trained gradient and the gradient
// of the layer's input are compared. The C# CudaModelParityTests do the same for the whole model where dotnet runs.

namespace {

struct StepOutputs {
    std::vector<float> losses, grads, dx;
};

StepOutputs run_train_step(hb_context* c, hbstep::Mode mode, hb_dtype act, uint32_t seed) {
    using namespace hbstep;
    const ModelShape tiny{"tiny", 128, 1, 2, 1, 64, 192, 301};
    const int64_t B = 2, T = 80, N = B * T;
    Arena per_layer(c, seed, (int32_t)tiny.V), shared(c, seed + 1, (int32_t)tiny.V);
    StepModel m(per_layer, shared, tiny, mode, act, B, T);
    CHECK(hb_memset(c, m.layer.st.g, 0, m.layer.st.n * 4));  // gradients accumulate: start from zero
    if (m.te.g != nullptr) CHECK(hb_memset(c, m.te.g, 0, m.te.n * 4));
    m.embed(c);
    m.layer.forward(c);
    m.head(c);
    m.layer.backward(c);
    m.embed_backward(c);
    StepOutputs out{std::vector<float>((size_t)N), std::vector<float>((size_t)m.layer.st.n),
                    std::vector<float>((size_t)(N * tiny.C))};
    CHECK(hb_context_synchronize(c));
    CHECK(hb_copy_to_host(c, out.losses.data(), m.losses, N * 4));
    CHECK(hb_copy_to_host(c, out.grads.data(), m.layer.st.g, (int64_t)out.grads.size() * 4));
    CHECK(hb_copy_to_host(c, out.dx.data(), m.layer.dres, (int64_t)out.dx.size() * 4));
    return out;
}

double max_abs(const std::vector<float>& v) {
    double m = 0;
    for (float x : v) m = std::max(m, (double)std::fabs(x));
    return m;
}

// bf16: the same values are rounded on both sides, but sums in another order can move a rounding by one bf16 ulp,
// and the tensor-core attention's products take bf16 P and dS where the CPU keeps fp32.
void compare_steps(const std::string& what, const StepOutputs& got, const StepOutputs& ref, hb_dtype act) {
    const double rel = act == HB_DTYPE_BF16 ? 2e-2 : 1e-4;
    expect_close(what + " losses", got.losses, ref.losses, {rel * max_abs(ref.losses), rel});
    expect_close(what + " gradients", got.grads, ref.grads, {rel * max_abs(ref.grads), rel});
    expect_close(what + " d(layer input)", got.dx, ref.dx, {rel * max_abs(ref.dx), rel});
}

class CudaTrainStep : public ::testing::TestWithParam<std::tuple<hbstep::Mode, hb_dtype>> {};

std::string step_name(const ::testing::TestParamInfo<std::tuple<hbstep::Mode, hb_dtype>>& info) {
    return std::string(std::get<0>(info.param) == hbstep::Mode::Full ? "Full" : "Lora") +
           (std::get<1>(info.param) == HB_DTYPE_BF16 ? "Bf16" : "Fp32");
}

}  // namespace

TEST_P(CudaTrainStep, OneLayerStepMatchesTheCpu) {
    const std::string why = no_cuda_reason();
    if (!why.empty()) GTEST_SKIP() << "no CUDA device: " << why;
    const auto [mode, act] = GetParam();
    hb_context *cpu = nullptr, *gpu = nullptr;
    ASSERT_EQ(hb_context_create(HB_BACKEND_CPU, 0, 0, &cpu), HB_OK) << last_error();
    ASSERT_EQ(hb_context_create(HB_BACKEND_CUDA, 0, 0, &gpu), HB_OK) << last_error();
    const StepOutputs ref = run_train_step(cpu, mode, act, 11), got = run_train_step(gpu, mode, act, 11);
    compare_steps("cuda vs cpu", got, ref, act);
    hb_context_free(cpu);
    hb_context_free(gpu);
}

INSTANTIATE_TEST_SUITE_P(Modes, CudaTrainStep,
                         ::testing::Combine(::testing::Values(hbstep::Mode::Full, hbstep::Mode::Lora),
                                            ::testing::Values(HB_DTYPE_F32, HB_DTYPE_BF16)),
                         step_name);

// The harness itself, on any machine: two CPU contexts with different thread counts agree within the fp32
// tolerance, and a different seed gives different results (the comparison is not vacuous).
TEST(TrainStepHarness, CpuContextsAgreeAndSeedsDiffer) {
    for (hbstep::Mode mode : {hbstep::Mode::Full, hbstep::Mode::Lora})
        for (hb_dtype act : {HB_DTYPE_F32, HB_DTYPE_BF16}) {
            SCOPED_TRACE(std::string(mode == hbstep::Mode::Full ? "full " : "lora ") + (act == HB_DTYPE_BF16 ? "bf16" : "fp32"));
            hb_context *one = nullptr, *three = nullptr;
            ASSERT_EQ(hb_context_create(HB_BACKEND_CPU, 0, 1, &one), HB_OK) << last_error();
            ASSERT_EQ(hb_context_create(HB_BACKEND_CPU, 0, 3, &three), HB_OK) << last_error();
            const StepOutputs a = run_train_step(one, mode, act, 11);
            const StepOutputs b = run_train_step(three, mode, act, 11);
            compare_steps("1 vs 3 threads", b, a, HB_DTYPE_F32);
            const StepOutputs other = run_train_step(one, mode, act, 12);
            EXPECT_NE(other.losses, a.losses);
            EXPECT_GT(max_abs(a.grads), 0.0);
            EXPECT_GT(max_abs(a.dx), 0.0);
            hb_context_free(one);
            hb_context_free(three);
        }
}
