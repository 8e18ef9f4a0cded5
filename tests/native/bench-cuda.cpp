// bench-cuda.cpp — throughput of the CUDA backend through the public hb_ API, printed as markdown tables:
//  1. attention forward / backward, B=4 T=2048 H=32 KVH=8, D=128 and D=64 (causal FLOPs: 4*B*T^2*H*D/2
//     forward, 2.5x that backward);
//  2. matmul 4096^3 in each compute mode (fp32, tf32, bf16: HB_CUDA_MATMUL is set before each context);
//  3. a synthetic full fine-tuning step of Llama-3.2-1B and -3B shapes (B=1, T=2048), layer by layer with the
//     real ops — rmsnorm, q/k/v matmuls, rope, attention, o-proj, SwiGLU MLP, fused LM head + cross-entropy,
//     the backward of all of it, AdamW — reported as tokens/s and MFU against 989 TFLOP/s (H100 SXM dense bf16).
// Timing: the context's stream is private to libhumpback (the ABI exposes no cudaStream_t for cudaEvents), so
// each measurement is host time between hb_context_synchronize calls around `iters` back-to-back repetitions,
// after warm-up; per-call launch overhead is included, as it is in training.
// Usage: bench-cuda [--quick]   (exit 2 when there is no CUDA device)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "humpback.h"

namespace {

constexpr double kPeakBf16 = 989e12;  // H100 SXM dense bf16, the MFU reference (MISSION.md)

void check(hb_status st, const char* what) {
    if (st != HB_OK) {
        std::fprintf(stderr, "bench-cuda: %s failed: %s (%s)\n", what, hb_status_to_string(st), hb_last_error());
        std::exit(1);
    }
}
#define CHECK(call) check((call), #call)

// Device buffers of one context, filled with a small non-zero constant (memset byte 0x3c: 0.0115f).
class Arena {
public:
    explicit Arena(hb_context* ctx) : ctx_(ctx) {}
    ~Arena() {
        for (void* p : ptrs_) hb_free(ctx_, p);
    }
    float* floats(int64_t n) { return static_cast<float*>(bytes(n * 4, 0x3c)); }
    int32_t* zeros_i32(int64_t n) { return static_cast<int32_t*>(bytes(n * 4, 0)); }
    template <typename T>
    T* upload(const std::vector<T>& host) {
        void* p = bytes((int64_t)(host.size() * sizeof(T)), 0);
        CHECK(hb_copy_to_device(ctx_, p, host.data(), (int64_t)(host.size() * sizeof(T))));
        return static_cast<T*>(p);
    }

private:
    void* bytes(int64_t n, int fill) {
        void* p = nullptr;
        CHECK(hb_alloc(ctx_, n, &p));
        CHECK(hb_memset(ctx_, p, fill, n));
        ptrs_.push_back(p);
        return p;
    }
    hb_context* ctx_;
    std::vector<void*> ptrs_;
};

// Average seconds per call of f.
double time_it(hb_context* ctx, int warmup, int iters, const std::function<void()>& f) {
    for (int i = 0; i < warmup; i++) f();
    CHECK(hb_context_synchronize(ctx));
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; i++) f();
    CHECK(hb_context_synchronize(ctx));
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
}

hb_context* make_context(const char* mode) {
    if (mode != nullptr) setenv("HB_CUDA_MATMUL", mode, 1);
    hb_context* ctx = nullptr;
    CHECK(hb_context_create(HB_BACKEND_CUDA, 0, 0, &ctx));
    return ctx;
}

// ---------------------------------------------------------------- attention

void bench_attention(bool quick) {
    std::printf("\n### Attention (causal, fp32 CUDA-core kernels)\n\n");
    std::printf("| B | T | H | KVH | D | fwd ms | fwd TFLOP/s | bwd ms | bwd TFLOP/s | fwd+bwd TFLOP/s |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
    hb_context* ctx = make_context(nullptr);
    for (int64_t D : {128, 64}) {
        const int64_t B = 4, T = 2048, H = 32, KVH = 8;
        Arena ar(ctx);
        const int64_t nq = B * T * H * D, nk = B * T * KVH * D;
        float *q = ar.floats(nq), *k = ar.floats(nk), *v = ar.floats(nk), *out = ar.floats(nq);
        float *lse = ar.floats(B * H * T), *dout = ar.floats(nq), *dq = ar.floats(nq), *dk = ar.floats(nk),
              *dv = ar.floats(nk);
        const float scale = 1.0f / std::sqrt((float)D);
        const int iters = quick ? 2 : 10;
        double tf = time_it(ctx, 1, iters, [&] {
            CHECK(hb_attention_forward(ctx, out, lse, q, k, v, nullptr, B, T, H, KVH, D, scale));
        });
        double tb = time_it(ctx, 1, iters, [&] {
            CHECK(hb_attention_backward(ctx, dq, dk, dv, dout, q, k, v, out, lse, nullptr, B, T, H, KVH, D, scale));
        });
        const double ff = 4.0 * B * (double)T * T * H * D / 2.0, fb = 2.5 * ff;
        std::printf("| %lld | %lld | %lld | %lld | %lld | %.2f | %.1f | %.2f | %.1f | %.1f |\n", (long long)B,
                    (long long)T, (long long)H, (long long)KVH, (long long)D, tf * 1e3, ff / tf / 1e12, tb * 1e3,
                    fb / tb / 1e12, (ff + fb) / (tf + tb) / 1e12);
    }
    hb_context_free(ctx);
}

// ---------------------------------------------------------------- matmul

void bench_matmul(bool quick) {
    std::printf("\n### Matmul 4096 x 4096 x 4096 (fp32 in/out)\n\n| mode | ms | TFLOP/s |\n|---|---|---|\n");
    const int64_t n = 4096;
    for (const char* mode : {"fp32", "tf32", "bf16"}) {
        hb_context* ctx = make_context(mode);
        {
            Arena ar(ctx);
            float *a = ar.floats(n * n), *b = ar.floats(n * n), *c = ar.floats(n * n);
            double t = time_it(ctx, 2, quick ? 3 : 20,
                               [&] { CHECK(hb_matmul(ctx, c, a, b, n, n, n, 0, 1, 1.0f, 0.0f)); });
            std::printf("| %s | %.2f | %.1f |\n", mode, t * 1e3, 2.0 * n * n * n / t / 1e12);
        }
        hb_context_free(ctx);
    }
}

// ---------------------------------------------------------------- training step

struct ModelShape {
    const char* name;
    int64_t C, L, H, KVH, D, F, V;
};

// One decoder layer's weights, gradients, AdamW moments and activations (reused by every layer: the timing
// is the same, and memory stays at one layer's worth).
struct Layer {
    int64_t C, H, KVH, D, F, N, B, T;
    float *wn1, *wq, *wk, *wv, *wo, *wn2, *wg, *wu, *wd;             // weights
    float *dwn1, *dwq, *dwk, *dwv, *dwo, *dwn2, *dwg, *dwu, *dwd;   // gradients (+=)
    float *params, *grads, *m, *v;                                  // all of the above, contiguous
    int64_t nparams;
    float *x, *ln1, *rstd1, *q, *k, *vv, *att, *lse, *o, *x2, *ln2, *rstd2, *g, *u, *a, *mlp, *y;
    float *dy, *da, *dg, *du, *dln2, *dx2, *datt, *dq, *dk, *dv, *dln1, *dx;
    int32_t* pos;
    float* inv_freq;

    Layer(Arena& ar, const ModelShape& s, int64_t B_, int64_t T_)
        : C(s.C), H(s.H), KVH(s.KVH), D(s.D), F(s.F), N(B_ * T_), B(B_), T(T_) {
        const int64_t sizes[9] = {C, H * D * C, KVH * D * C, KVH * D * C, C * H * D, C, F * C, F * C, C * F};
        nparams = 0;
        for (int64_t n : sizes) nparams += n;
        params = ar.floats(nparams);
        grads = ar.floats(nparams);
        m = ar.floats(nparams);
        v = ar.floats(nparams);
        float** w[9] = {&wn1, &wq, &wk, &wv, &wo, &wn2, &wg, &wu, &wd};
        float** dw[9] = {&dwn1, &dwq, &dwk, &dwv, &dwo, &dwn2, &dwg, &dwu, &dwd};
        int64_t off = 0;
        for (int i = 0; i < 9; i++) {
            *w[i] = params + off;
            *dw[i] = grads + off;
            off += sizes[i];
        }
        for (float** p : {&x, &ln1, &o, &x2, &ln2, &mlp, &y, &dy, &dln2, &dx2, &dln1, &dx}) *p = ar.floats(N * C);
        for (float** p : {&q, &att, &datt, &dq}) *p = ar.floats(N * H * D);
        for (float** p : {&k, &vv, &dk, &dv}) *p = ar.floats(N * KVH * D);
        for (float** p : {&g, &u, &a, &da, &dg, &du}) *p = ar.floats(N * F);
        rstd1 = ar.floats(N);
        rstd2 = ar.floats(N);
        lse = ar.floats(B * H * T);
        std::vector<int32_t> hp((size_t)N);
        for (int64_t i = 0; i < N; i++) hp[(size_t)i] = (int32_t)(i % T);
        pos = ar.upload(hp);
        std::vector<float> inv((size_t)(D / 2));
        hb_rope_config cfg{500000.0f, 1, 32.0f, 1.0f, 4.0f, 8192};
        CHECK(hb_rope_inv_freq(inv.data(), D, &cfg));
        inv_freq = ar.upload(inv);
    }

    void forward(hb_context* c) {
        CHECK(hb_rmsnorm_forward(c, ln1, rstd1, x, wn1, N, C, 1e-5f));
        CHECK(hb_matmul(c, q, ln1, wq, N, H * D, C, 0, 1, 1.0f, 0.0f));
        CHECK(hb_matmul(c, k, ln1, wk, N, KVH * D, C, 0, 1, 1.0f, 0.0f));
        CHECK(hb_matmul(c, vv, ln1, wv, N, KVH * D, C, 0, 1, 1.0f, 0.0f));
        CHECK(hb_rope_forward(c, q, pos, inv_freq, N, H, D));
        CHECK(hb_rope_forward(c, k, pos, inv_freq, N, KVH, D));
        CHECK(hb_attention_forward(c, att, lse, q, k, vv, nullptr, B, T, H, KVH, D, 1.0f / std::sqrt((float)D)));
        CHECK(hb_matmul(c, o, att, wo, N, C, H * D, 0, 1, 1.0f, 0.0f));
        CHECK(hb_add(c, x2, x, o, N * C));
        CHECK(hb_rmsnorm_forward(c, ln2, rstd2, x2, wn2, N, C, 1e-5f));
        CHECK(hb_matmul(c, g, ln2, wg, N, F, C, 0, 1, 1.0f, 0.0f));
        CHECK(hb_matmul(c, u, ln2, wu, N, F, C, 0, 1, 1.0f, 0.0f));
        CHECK(hb_swiglu_forward(c, a, g, u, N * F));
        CHECK(hb_matmul(c, mlp, a, wd, N, C, F, 0, 1, 1.0f, 0.0f));
        CHECK(hb_add(c, y, x2, mlp, N * C));
    }

    void backward(hb_context* c) {
        // MLP: y = x2 + a @ wd^T, a = swiglu(ln2 @ wg^T, ln2 @ wu^T), ln2 = rmsnorm(x2)
        CHECK(hb_matmul(c, da, dy, wd, N, F, C, 0, 0, 1.0f, 0.0f));
        CHECK(hb_matmul(c, dwd, dy, a, C, F, N, 1, 0, 1.0f, 1.0f));
        CHECK(hb_swiglu_backward(c, dg, du, da, g, u, N * F));
        CHECK(hb_matmul(c, dln2, dg, wg, N, C, F, 0, 0, 1.0f, 0.0f));
        CHECK(hb_matmul(c, dln2, du, wu, N, C, F, 0, 0, 1.0f, 1.0f));
        CHECK(hb_matmul(c, dwg, dg, ln2, F, C, N, 1, 0, 1.0f, 1.0f));
        CHECK(hb_matmul(c, dwu, du, ln2, F, C, N, 1, 0, 1.0f, 1.0f));
        CHECK(hb_copy_device(c, dx2, dy, N * C * 4));
        CHECK(hb_rmsnorm_backward(c, dx2, dwn2, dln2, x2, wn2, rstd2, N, C));
        // attention: x2 = x + attention(rope(ln1 wq^T), rope(ln1 wk^T), ln1 wv^T) @ wo^T
        CHECK(hb_matmul(c, datt, dx2, wo, N, H * D, C, 0, 0, 1.0f, 0.0f));
        CHECK(hb_matmul(c, dwo, dx2, att, C, H * D, N, 1, 0, 1.0f, 1.0f));
        CHECK(hb_attention_backward(c, dq, dk, dv, datt, q, k, vv, att, lse, nullptr, B, T, H, KVH, D,
                                    1.0f / std::sqrt((float)D)));
        CHECK(hb_rope_backward(c, dq, pos, inv_freq, N, H, D));
        CHECK(hb_rope_backward(c, dk, pos, inv_freq, N, KVH, D));
        CHECK(hb_matmul(c, dln1, dq, wq, N, C, H * D, 0, 0, 1.0f, 0.0f));
        CHECK(hb_matmul(c, dln1, dk, wk, N, C, KVH * D, 0, 0, 1.0f, 1.0f));
        CHECK(hb_matmul(c, dln1, dv, wv, N, C, KVH * D, 0, 0, 1.0f, 1.0f));
        CHECK(hb_matmul(c, dwq, dq, ln1, H * D, C, N, 1, 0, 1.0f, 1.0f));
        CHECK(hb_matmul(c, dwk, dk, ln1, KVH * D, C, N, 1, 0, 1.0f, 1.0f));
        CHECK(hb_matmul(c, dwv, dv, ln1, KVH * D, C, N, 1, 0, 1.0f, 1.0f));
        CHECK(hb_copy_device(c, dx, dx2, N * C * 4));
        CHECK(hb_rmsnorm_backward(c, dx, dwn1, dln1, x, wn1, rstd1, N, C));
    }
};

void bench_step(const ModelShape& s, const char* mode, bool quick) {
    const int64_t B = 1, T = 2048, N = B * T;
    hb_context* ctx = make_context(mode);
    {
        Arena ar(ctx);
        Layer layer(ar, s, B, T);
        // Embedding tied to the LM head (Llama 3.2 1B/3B): wte (V,C) serves both, dwte gets both gradients.
        float *wte = ar.floats(s.V * s.C), *dwte = ar.floats(s.V * s.C), *mte = ar.floats(s.V * s.C),
              *vte = ar.floats(s.V * s.C);
        float *wnf = ar.floats(s.C), *dwnf = ar.floats(s.C), *hf = ar.floats(N * s.C), *rstdf = ar.floats(N);
        float *dhf = ar.floats(N * s.C), *losses = ar.floats(N), *lse = ar.floats(N);
        int32_t *tokens = ar.zeros_i32(N), *targets = ar.zeros_i32(N);
        hb_adamw_config cfg{1e-5f, 0.9f, 0.95f, 1e-8f, 0.1f, 1};

        const int iters = quick ? 1 : 3;
        auto c = ctx;
        double t_embed = time_it(c, 1, iters, [&] {
            CHECK(hb_embedding_forward(c, layer.x, tokens, wte, N, s.V, s.C));
            CHECK(hb_embedding_backward(c, dwte, layer.dx, tokens, N, s.V, s.C));
        });
        double t_fwd = time_it(c, 1, iters, [&] { layer.forward(c); });
        double t_bwd = time_it(c, 1, iters, [&] { layer.backward(c); });
        double t_head = time_it(c, 1, iters, [&] {
            CHECK(hb_rmsnorm_forward(c, hf, rstdf, layer.y, wnf, N, s.C, 1e-5f));
            CHECK(hb_cross_entropy_forward(c, losses, lse, hf, wte, targets, N, s.V, s.C, 0));
            CHECK(hb_cross_entropy_backward(c, dhf, dwte, hf, wte, targets, lse, 1.0f / (float)N, N, s.V, s.C, 0));
            CHECK(hb_rmsnorm_backward(c, layer.dy, dwnf, dhf, layer.y, wnf, rstdf, N, s.C));
        });
        double t_adam_layer = time_it(c, 1, iters, [&] {
            CHECK(hb_adamw_update(c, layer.params, layer.grads, layer.m, layer.v, nullptr, layer.nparams, &cfg));
        });
        double t_adam_embed = time_it(c, 1, iters, [&] {
            CHECK(hb_adamw_update(c, wte, dwte, mte, vte, nullptr, s.V * s.C, &cfg));
        });
        const double step = t_embed + s.L * (t_fwd + t_bwd + t_adam_layer) + t_head + t_adam_embed;

        // Model FLOPs: 6 per parameter and token for the matmuls (layers + tied head), plus causal attention
        // (forward 4*T^2*H*D/2 per sequence and layer, backward 2.5x).
        const double params = (double)s.L * (double)layer.nparams + (double)s.V * s.C;
        const double attn = (double)s.L * 3.5 * 4.0 * B * (double)T * T * s.H * s.D / 2.0;
        const double flops = 6.0 * params * N + attn;
        std::printf("| %s | %s | %lld | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %.1f | %.1f%% |\n", s.name, mode,
                    (long long)N, t_fwd * 1e3, t_bwd * 1e3, t_head * 1e3, t_adam_layer * 1e3, step * 1e3,
                    (double)N / step, flops / step / 1e12, 100.0 * flops / step / kPeakBf16);
    }
    hb_context_free(ctx);
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--quick") == 0) quick = true;
        else {
            std::fprintf(stderr, "usage: bench-cuda [--quick]\n");
            return 1;
        }
    }
    int32_t n = 0;
    CHECK(hb_cuda_device_count(&n));
    if (n == 0) {
        std::printf("bench-cuda: no CUDA device (hb_cuda_device_count = 0): nothing to measure\n");
        return 2;
    }
    hb_device_info info{};
    CHECK(hb_cuda_device_info(0, &info));
    hb_build_info build{};
    CHECK(hb_get_build_info(&build));
    const char* env_mode = std::getenv("HB_CUDA_MATMUL");
    const std::string saved_mode = env_mode != nullptr ? env_mode : "";
    std::printf("## bench-cuda\n\nDevice 0: %s (sm_%d%d, %d SMs, %.1f GiB), CUDA runtime %s, libhumpback %s%s\n",
                info.name, info.compute_major, info.compute_minor, info.multiprocessors,
                (double)info.total_memory / (1024.0 * 1024.0 * 1024.0), build.cuda_version, build.version,
                quick ? " (--quick: fewer repetitions)" : "");

    bench_attention(quick);
    bench_matmul(quick);

    std::printf("\n### Synthetic training step (full fine-tune, B=1, T=2048; one layer timed, x L)\n\n");
    std::printf("MFU = model FLOPs / time / 989 TFLOP/s (H100 SXM dense bf16), whatever the compute mode. "
                "Attention is fp32 on CUDA cores in every mode; the mode applies to the GEMMs.\n\n");
    std::printf("| model | matmul mode | tokens | layer fwd ms | layer bwd ms | head ms | AdamW/layer ms | step ms "
                "| tokens/s | TFLOP/s | MFU |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    const ModelShape l1b{"Llama-3.2-1B", 2048, 16, 32, 8, 64, 8192, 128256};
    const ModelShape l3b{"Llama-3.2-3B", 3072, 28, 24, 8, 128, 8192, 128256};
    for (const char* mode : {"fp32", "bf16"}) {
        bench_step(l1b, mode, quick);
        bench_step(l3b, mode, quick);
    }
    if (env_mode != nullptr) setenv("HB_CUDA_MATMUL", saved_mode.c_str(), 1);
    else unsetenv("HB_CUDA_MATMUL");
    return 0;
}
