// bench-cuda.cpp — throughput of the CUDA backend through the public hb_ API, printed as markdown tables:
//  1. attention forward / backward, B=4 T=2048 H=32 KVH=8, D=128 and D=64 (causal FLOPs: 4*B*T^2*H*D/2
//     forward, 2.5x that backward);
//  2. matmul 4096^3 in each compute mode (fp32, tf32, bf16: HB_CUDA_MATMUL is set before each context);
//  3. a training step of Llama-3.2-1B and -3B shapes (B=1, T=2048), full fine-tuning and LoRA (r=16 on all 7
//     linear layers), fp32 and bf16 mixed precision, as the C# model plans and runs it — rmsnorm, q/k/v GEMMs (+LoRA),
//     rope, attention, o-proj, SwiGLU MLP, fused LM head + cross-entropy, the backward of all of it, gradient norm,
//     AdamW, bf16 weight refresh — reported as tokens/s, MFU against 989 TFLOP/s (H100 SXM dense bf16) and memory.
// Timing: the context's stream is private to libhumpback (the ABI exposes no cudaStream_t for cudaEvents), so
// each measurement is host time between hb_context_synchronize calls around `iters` back-to-back repetitions,
// after warm-up; per-call launch overhead is included, as it is in training.
// Usage: bench-cuda [--quick]   (exit 2 when there is no CUDA device)
//        bench-cuda --smoke     (the training-step code on the CPU backend at a tiny shape: a ctest test)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "humpback.h"
#include "train-step.hpp"

namespace {

using namespace hbstep;

constexpr double kPeakBf16 = 989e12;  // H100 SXM dense bf16, the MFU reference (MISSION.md)

// The targets (one H100), filled with the best figure of the rows below and printed last.
struct Targets {
    double attention_d128_tflops = 0;  // fwd+bwd at D = 128: >= 150 (half of FlashAttention-2's ~300)
    double lora_3b_tokens_per_s = 0;   // LoRA on Llama-3.2-3B, T = 2048: >= 40k
    double full_1b_mfu = 0;            // full fine-tuning of Llama-3.2-1B: >= 50%
    std::string attention_row, lora_row, full_row;
} g_targets;

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
    std::printf("\n### Attention (causal; target: fwd+bwd >= 150 TFLOP/s at D = 128)\n\n");
    std::printf("| storage | B | T | H | KVH | D | fwd ms | fwd TFLOP/s | bwd ms | bwd TFLOP/s | fwd+bwd TFLOP/s |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
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
        // bf16 storage of q, k, v, out (the mixed-precision step's variant): the tensor-core (WMMA) kernels by
        // default, and the CUDA-core ones (HB_CUDA_ATTENTION=simt) on the same buffers for comparison
        uint16_t *qh = ar.halves(nq), *kh = ar.halves(nk), *vh = ar.halves(nk), *oh = ar.halves(nq);
        std::vector<std::tuple<const char*, double, double>> rows{{"fp32 (CUDA cores)", tf, tb}};
        for (auto [mode, name] : {std::pair{"tc", "bf16 (tensor cores)"}, std::pair{"simt", "bf16 (CUDA cores)"}}) {
            setenv("HB_CUDA_ATTENTION", mode, 1);
            hb_context* c = make_context(nullptr);
            double f = time_it(c, 1, iters, [&] {
                CHECK(hb_attention_forward_bf16(c, oh, lse, qh, kh, vh, nullptr, B, T, H, KVH, D, scale));
            });
            double b = time_it(c, 1, iters, [&] {
                CHECK(hb_attention_backward_bf16(c, dq, dk, dv, dout, qh, kh, vh, oh, lse, nullptr, B, T, H, KVH, D,
                                                 scale));
            });
            hb_context_free(c);
            rows.emplace_back(name, f, b);
        }
        unsetenv("HB_CUDA_ATTENTION");
        const double ff = 4.0 * B * (double)T * T * H * D / 2.0, fb = 2.5 * ff;
        for (auto [name, f, b] : rows) {
            const double tflops = (ff + fb) / (f + b) / 1e12;
            if (D == 128 && tflops > g_targets.attention_d128_tflops) {
                g_targets.attention_d128_tflops = tflops;
                g_targets.attention_row = name;
            }
            std::printf("| %s | %lld | %lld | %lld | %lld | %lld | %.2f | %.1f | %.2f | %.1f | %.1f |\n", name,
                        (long long)B, (long long)T, (long long)H, (long long)KVH, (long long)D, f * 1e3, ff / f / 1e12,
                        b * 1e3, fb / b / 1e12, tflops);
        }
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

struct StepResult {
    double fwd, bwd, head, opt, step, tokens_per_s, tflops, mfu, memory_gib;
    double mean_loss;  // of the last head run
};

// One step: embedding, L x (layer forward), head (final norm + fused LM head / cross-entropy, forward and
// backward), L x (layer backward), optimizer. On a GPU the memory is measured (device memory in use at the end,
// scaled to L layers); elsewhere (the CPU smoke run) it is the arenas' planned bytes.
StepResult run_step(hb_context* ctx, const ModelShape& s, Mode mode, hb_dtype act, int64_t B, int64_t T, int iters,
                    bool gpu) {
    const int64_t N = B * T;
    uint64_t free_before = 0;
    if (gpu) {
        hb_device_info info{};
        CHECK(hb_cuda_device_info(0, &info));
        free_before = info.free_memory;
    }
    StepResult r{};
    {
        Arena per_layer(ctx), shared(ctx);
        StepModel m(per_layer, shared, s, mode, act, B, T);
        Layer& layer = m.layer;
        auto c = ctx;
        double t_embed = time_it(c, 1, iters, [&] {
            m.embed(c);
            m.embed_backward(c);
        });
        r.fwd = time_it(c, 1, iters, [&] { layer.forward(c); });
        r.bwd = time_it(c, 1, iters, [&] { layer.backward(c); });
        r.head = time_it(c, 1, iters, [&] { m.head(c); });
        double t_opt_layer = time_it(c, 1, iters, [&] { layer.optimizer(c, m.sumsq, m.cfg); });
        double t_opt_shared = time_it(c, 1, iters, [&] { m.optimizer_shared(c); });
        r.opt = s.L * t_opt_layer + t_opt_shared;
        r.step = t_embed + s.L * (r.fwd + r.bwd) + r.head + r.opt;
        r.tokens_per_s = (double)N / r.step;

        // Model FLOPs: per parameter and token 6 (full) or 4 (LoRA: no gradients of the frozen weights), plus causal
        // attention (forward 4*T^2*H*D/2 per sequence and layer, backward 2.5x).
        const double params = (double)s.L * (double)layer.nparams + (double)s.V * s.C;
        const double attn = (double)s.L * 3.5 * 4.0 * B * (double)T * T * s.H * s.D / 2.0;
        const double flops = (mode == Mode::Full ? 6.0 : 4.0) * params * N + attn;
        r.tflops = flops / r.step / 1e12;
        r.mfu = flops / r.step / kPeakBf16;
        double planned = (double)s.L * (double)per_layer.bytes() + (double)shared.bytes();
        if (gpu) {
            hb_device_info info{};
            CHECK(hb_cuda_device_info(0, &info));
            // what the run holds beyond its arenas: the scratch high-water mark, cuBLAS workspaces, the CUDA context
            const double used = (double)free_before - (double)info.free_memory;
            planned += used - (double)(per_layer.bytes() + shared.bytes());
        }
        r.memory_gib = planned / (1024.0 * 1024.0 * 1024.0);
        std::vector<float> host((size_t)N);
        CHECK(hb_copy_to_host(ctx, host.data(), m.losses, N * 4));
        for (float l : host) r.mean_loss += l / (double)N;
    }
    return r;
}

const char* mode_name(Mode m) { return m == Mode::Full ? "full" : "LoRA r=16, 7 targets"; }
const char* dtype_name(hb_dtype t) { return t == HB_DTYPE_BF16 ? "bf16" : "fp32"; }

void bench_step(const ModelShape& s, Mode mode, hb_dtype act, const char* matmul_mode, bool quick) {
    hb_context* ctx = make_context(matmul_mode);
    StepResult r = run_step(ctx, s, mode, act, 1, 2048, quick ? 1 : 3, true);
    std::printf("| %s | %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %.1f | %.1f%% | %.1f |\n", s.name,
                mode_name(mode), dtype_name(act), matmul_mode, r.fwd * 1e3, r.bwd * 1e3, r.head * 1e3, r.opt * 1e3,
                r.step * 1e3, r.tokens_per_s, r.tflops, 100.0 * r.mfu, r.memory_gib);
    hb_context_free(ctx);
    const std::string row = std::string(dtype_name(act)) + " storage, " + matmul_mode + " matmul mode";
    if (mode == Mode::Lora && std::strcmp(s.name, "Llama-3.2-3B") == 0 && r.tokens_per_s > g_targets.lora_3b_tokens_per_s) {
        g_targets.lora_3b_tokens_per_s = r.tokens_per_s;
        g_targets.lora_row = row;
    }
    if (mode == Mode::Full && std::strcmp(s.name, "Llama-3.2-1B") == 0 && r.mfu > g_targets.full_1b_mfu) {
        g_targets.full_1b_mfu = r.mfu;
        g_targets.full_row = row;
    }
}

// --smoke: the whole step code on the CPU backend at a tiny shape, once per mode and precision: every hb_ call the
// GPU benchmark makes must succeed (shapes, dtypes, arguments), so its first run on a GPU measures instead of
// failing. Runs in ctest.
int smoke() {
    hb_context* ctx = nullptr;
    CHECK(hb_context_create(HB_BACKEND_CPU, 0, 0, &ctx));
    const ModelShape tiny{"tiny", 64, 2, 4, 2, 16, 96, 300};
    for (Mode mode : {Mode::Full, Mode::Lora})
        for (hb_dtype act : {HB_DTYPE_F32, HB_DTYPE_BF16}) {
            StepResult r = run_step(ctx, tiny, mode, act, 2, 24, 1, false);
            // Every weight is the arena's constant, so the logits of a row are all equal: the loss is ln V.
            const double expect = std::log((double)tiny.V);
            std::printf("smoke: %s %s: step %.2f ms, planned %.2f MiB, loss %.5f (ln V = %.5f)\n", mode_name(mode),
                        dtype_name(act), r.step * 1e3, r.memory_gib * 1024.0, r.mean_loss, expect);
            if (!(std::fabs(r.mean_loss - expect) < 1e-3)) {
                std::fprintf(stderr, "bench-cuda --smoke: loss %.6f, expected ln V = %.6f\n", r.mean_loss, expect);
                return 1;
            }
        }
    hb_context_free(ctx);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--quick") == 0) quick = true;
        else if (std::strcmp(argv[i], "--smoke") == 0) return smoke();
        else {
            std::fprintf(stderr, "usage: bench-cuda [--quick | --smoke]\n");
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

    std::printf("\n### Training step (B=1, T=2048; one layer timed, x L)\n\n");
    std::printf("As the C# model runs it (`--precision fp32|bf16`). Storage bf16: frozen / copied weights and saved "
                "activations in bf16, bf16 GEMMs with fp32 accumulation (cuBLASLt), fp32 masters, gradients and AdamW "
                "state. Matmul mode: the compute type of the fp32 GEMMs (HB_CUDA_MATMUL). MFU = model FLOPs (6 per "
                "parameter and token for full fine-tuning, 4 for LoRA, plus causal attention) / time / 989 TFLOP/s. "
                "Attention: fp32 CUDA-core kernels with fp32 storage, tensor-core (WMMA) kernels with bf16 storage. Memory: what all L layers would hold "
                "(one layer's plan x L + the shared buffers + the scratch / cuBLAS workspace measured on the device).\n\n");
    std::printf("| model | training | storage | matmul mode | layer fwd ms | layer bwd ms | head ms | optimizer ms "
                "| step ms | tokens/s | TFLOP/s | MFU | memory GiB |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    const ModelShape l1b{"Llama-3.2-1B", 2048, 16, 32, 8, 64, 8192, 128256};
    const ModelShape l3b{"Llama-3.2-3B", 3072, 28, 24, 8, 128, 8192, 128256};
    for (Mode mode : {Mode::Lora, Mode::Full})
        for (const ModelShape* s : {&l3b, &l1b}) {
            bench_step(*s, mode, HB_DTYPE_F32, "fp32", quick);
            bench_step(*s, mode, HB_DTYPE_F32, "bf16", quick);
            bench_step(*s, mode, HB_DTYPE_BF16, "fp32", quick);
        }
    if (env_mode != nullptr) setenv("HB_CUDA_MATMUL", saved_mode.c_str(), 1);
    else unsetenv("HB_CUDA_MATMUL");

    const Targets& t = g_targets;
    auto verdict = [](bool met) { return met ? "met" : "NOT met"; };
    std::printf("\n### Targets (the CUDA issue, one H100)\n\n| target | best measured | where | verdict |\n|---|---|---|---|\n");
    std::printf("| attention fwd+bwd at D = 128 >= 150 TFLOP/s | %.1f TFLOP/s | %s | %s |\n", t.attention_d128_tflops,
                t.attention_row.c_str(), verdict(t.attention_d128_tflops >= 150));
    std::printf("| LoRA Llama-3.2-3B, T = 2048 >= 40,000 tokens/s | %.0f tokens/s | %s | %s |\n", t.lora_3b_tokens_per_s,
                t.lora_row.c_str(), verdict(t.lora_3b_tokens_per_s >= 40000));
    std::printf("| full fine-tuning Llama-3.2-1B >= 50%% MFU | %.1f%% | %s | %s |\n", 100.0 * t.full_1b_mfu,
                t.full_row.c_str(), verdict(t.full_1b_mfu >= 0.5));
    return 0;
}
