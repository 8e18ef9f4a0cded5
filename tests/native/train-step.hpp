// train-step.hpp — one Llama training step through the public hb_ API, planned and run as the C# model does it
// (src/Humpback.Core/Model/LlamaModel.cs): one decoder layer, the embedding and the tied LM head with fused
// cross-entropy, full fine-tuning or LoRA, fp32 or bf16 mixed precision. bench-cuda times it at Llama shapes;
// test-cuda-parity runs it once on a CPU and a CUDA context from the same random data and compares the results.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "humpback.h"

namespace hbstep {

void check(hb_status st, const char* what) {
    if (st != HB_OK) {
        std::fprintf(stderr, "train-step: %s failed: %s (%s)\n", what, hb_status_to_string(st), hb_last_error());
        std::exit(1);
    }
}
#define CHECK(call) check((call), #call)

// Buffers of one context. Seed 0: filled with a small non-zero constant (memset byte 0x3c: 0.0115f, the same in
// bf16), for timing. Any other seed: uniform values in [-0.1, 0.1) (ids in [0, id_limit)) from that seed, so two
// arenas with the same seed and the same allocation order hold the same data on any two contexts.
class Arena {
public:
    explicit Arena(hb_context* ctx, uint32_t seed = 0, int32_t id_limit = 1) : ctx_(ctx), seed_(seed), rng_(seed), ids_(id_limit) {}
    ~Arena() {
        for (void* p : ptrs_) hb_free(ctx_, p);
    }
    float* floats(int64_t n) {
        if (seed_ == 0) return static_cast<float*>(bytes(n * 4, 0x3c));
        return upload(random_floats(n));
    }
    uint16_t* halves(int64_t n) {  // bf16 0x3c3c = 0.0115
        if (seed_ == 0) return static_cast<uint16_t*>(bytes(n * 2, 0x3c));
        std::vector<float> f = random_floats(n);
        std::vector<uint16_t> h(f.size());
        for (size_t i = 0; i < f.size(); i++) {  // round to nearest even (these values are finite)
            uint32_t u;
            std::memcpy(&u, &f[i], 4);
            h[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
        }
        return upload(h);
    }
    int64_t bytes() const { return total_; }
    hb_context* context() const { return ctx_; }
    // token ids / targets: zeros (seed 0) or uniform in [0, id_limit)
    int32_t* ids(int64_t n) {
        if (seed_ == 0) return static_cast<int32_t*>(bytes(n * 4, 0));
        std::uniform_int_distribution<int32_t> u(0, ids_ - 1);
        std::vector<int32_t> v((size_t)n);
        for (auto& x : v) x = u(rng_);
        return upload(v);
    }
    template <typename T>
    T* upload(const std::vector<T>& host) {
        void* p = bytes((int64_t)(host.size() * sizeof(T)), 0);
        CHECK(hb_copy_to_device(ctx_, p, host.data(), (int64_t)(host.size() * sizeof(T))));
        return static_cast<T*>(p);
    }

private:
    std::vector<float> random_floats(int64_t n) {
        std::uniform_real_distribution<float> u(-0.1f, 0.1f);
        std::vector<float> v((size_t)n);
        for (auto& x : v) x = u(rng_);
        return v;
    }
    void* bytes(int64_t n, int fill) {
        void* p = nullptr;
        CHECK(hb_alloc(ctx_, n, &p));
        CHECK(hb_memset(ctx_, p, fill, n));
        ptrs_.push_back(p);
        total_ += n;
        return p;
    }
    hb_context* ctx_;
    uint32_t seed_;
    std::mt19937 rng_;
    int32_t ids_;
    std::vector<void*> ptrs_;
    int64_t total_ = 0;
};

// ---------------------------------------------------------------- training step

// A buffer and its element type: the step below is written once and runs in fp32 or in bf16 mixed precision,
// picking each op's variant from its buffers, as the C# model does (src/Humpback.Core/Engine/Kernels.cs).
struct Buf {
    void* p = nullptr;
    hb_dtype t = HB_DTYPE_F32;
    float* f() const { return static_cast<float*>(p); }
    uint16_t* h() const { return static_cast<uint16_t*>(p); }
    bool bf16() const { return t == HB_DTYPE_BF16; }
};

Buf buf(Arena& ar, int64_t n, hb_dtype t) {
    return t == HB_DTYPE_BF16 ? Buf{ar.halves(n), t} : Buf{ar.floats(n), t};
}
Buf f32(float* p) { return Buf{p, HB_DTYPE_F32}; }

// out (fp32) = alpha op(a) op(b) + beta out: fp32 x fp32 is hb_matmul (the context's compute mode), anything with a
// bf16 operand is the bf16 GEMM (an fp32 operand rounded to bf16 first).
void mm(hb_context* c, float* out, Buf a, Buf b, int64_t M, int64_t N, int64_t K, int ta, int tb, float alpha,
        float beta) {
    if (!a.bf16() && !b.bf16()) CHECK(hb_matmul(c, out, a.f(), b.f(), M, N, K, ta, tb, alpha, beta));
    else if (a.bf16() && b.bf16()) CHECK(hb_matmul_bf16(c, out, a.h(), b.h(), M, N, K, ta, tb, alpha, beta));
    else CHECK(hb_matmul_bf16_mixed(c, out, a.p, a.t, b.p, b.t, M, N, K, ta, tb, alpha, beta));
}
void rmsnorm(hb_context* c, Buf out, float* rstd, const float* inp, const float* w, int64_t N, int64_t C) {
    if (out.bf16()) CHECK(hb_rmsnorm_forward_bf16(c, out.h(), rstd, inp, w, N, C, 1e-5f));
    else CHECK(hb_rmsnorm_forward(c, out.f(), rstd, inp, w, N, C, 1e-5f));
}
// dst = src (fp32) rounded when dst is bf16; nothing when dst is src.
void store(hb_context* c, Buf dst, const float* src, int64_t n) {
    if (dst.bf16()) CHECK(hb_convert_f32_to_bf16(c, dst.h(), src, n));
    else if (dst.p != src) CHECK(hb_copy_device(c, dst.p, src, n * 4));
}

struct ModelShape {
    const char* name;
    int64_t C, L, H, KVH, D, F, V;
};

enum class Mode { Full, Lora };

// What AdamW trains, contiguous: fp32 parameters (masters), gradients and both moments.
struct TrainState {
    float *p = nullptr, *g = nullptr, *m = nullptr, *v = nullptr;
    int64_t n = 0;
    TrainState() = default;
    TrainState(Arena& ar, int64_t n_) : p(ar.floats(n_)), g(ar.floats(n_)), m(ar.floats(n_)), v(ar.floats(n_)), n(n_) {}
};

// One decoder layer as the C# model (src/Humpback.Core/Model/LlamaModel.cs) plans and runs it: weights the GEMMs
// read (bf16 in bf16 precision: LoRA's frozen base in bf16 only, full fine-tuning's bf16 copies of fp32 masters),
// fp32 masters / gradients / AdamW moments of what is trained, and the activations the backward reads. `per_layer`
// holds what every layer owns (weights, training state, saved activations); `shared` what layers share (fp32 q/k/v
// scratch, backward scratch). One layer is timed and multiplied by L; memory is estimated as L x per_layer + shared.
struct Layer {
    static constexpr int kTargets = 7;  // LoRA on q, k, v, o, gate, up, down
    int64_t C, H, KVH, D, F, N, B, T, R;
    Mode mode;
    hb_dtype act;
    float *wn1, *wn2, *dwn1, *dwn2;  // norm weights (fp32; trained in full fine-tuning)
    Buf w[kTargets];                 // weights the GEMMs read
    TrainState st;                   // full: fp32 masters of w (== w when fp32) and norms; LoRA: A and B
    float* dw[kTargets] = {};
    int64_t wsize[kTargets], win[kTargets], wout[kTargets], nparams = 0;
    float *la[kTargets] = {}, *lb[kTargets] = {}, *dla[kTargets] = {}, *dlb[kTargets] = {}, *xa[kTargets] = {};
    float* lora_work = nullptr;
    // activations
    float *x, *rstd1, *qf, *kf, *vf, *lse, *mid, *rstd2, *g, *u, *y;
    Buf ln1, q, k, vv, att, ln2, a;
    float *dres, *dln, *dq, *dk, *dv, *datt, *dh, *dg, *du;
    int32_t* pos;
    float* inv_freq;

    Layer(Arena& per_layer, Arena& shared, const ModelShape& s, int64_t B_, int64_t T_, Mode mode_, hb_dtype act_)
        : C(s.C), H(s.H), KVH(s.KVH), D(s.D), F(s.F), N(B_ * T_), B(B_), T(T_), R(16), mode(mode_), act(act_) {
        const int64_t ins[kTargets] = {C, C, C, H * D, C, C, F};
        const int64_t outs[kTargets] = {H * D, KVH * D, KVH * D, C, F, F, C};
        for (int i = 0; i < kTargets; i++) {
            win[i] = ins[i];
            wout[i] = outs[i];
            wsize[i] = ins[i] * outs[i];
            nparams += wsize[i];
        }
        const int64_t nnorm = 2 * C;
        if (mode == Mode::Full) {
            // masters, norms and their gradients / moments contiguous: one AdamW call per layer
            st = TrainState(per_layer, nparams + nnorm);
            int64_t off = 0;
            for (int i = 0; i < kTargets; i++) {
                w[i] = act == HB_DTYPE_BF16 ? buf(per_layer, wsize[i], act) : f32(st.p + off);
                dw[i] = st.g + off;
                off += wsize[i];
            }
            wn1 = st.p + off;
            dwn1 = st.g + off;
            wn2 = wn1 + C;
            dwn2 = dwn1 + C;
        } else {
            for (int i = 0; i < kTargets; i++) w[i] = buf(per_layer, wsize[i], act);
            wn1 = per_layer.floats(C);
            wn2 = per_layer.floats(C);
            dwn1 = dwn2 = nullptr;  // frozen
            int64_t ntrain = 0;
            for (int i = 0; i < kTargets; i++) ntrain += R * (win[i] + wout[i]);
            st = TrainState(per_layer, ntrain);
            int64_t off = 0;
            for (int i = 0; i < kTargets; i++) {
                la[i] = st.p + off;
                dla[i] = st.g + off;
                off += R * win[i];
                lb[i] = st.p + off;
                dlb[i] = st.g + off;
                off += R * wout[i];
                xa[i] = per_layer.floats(N * R);
            }
            lora_work = shared.floats(N * R);
        }
        // saved activations (per layer)
        x = per_layer.floats(N * C);
        mid = per_layer.floats(N * C);
        rstd1 = per_layer.floats(N);
        rstd2 = per_layer.floats(N);
        lse = per_layer.floats(B * H * T);
        g = per_layer.floats(N * F);
        u = per_layer.floats(N * F);
        ln1 = buf(per_layer, N * C, act);
        ln2 = buf(per_layer, N * C, act);
        q = buf(per_layer, N * H * D, act);
        k = buf(per_layer, N * KVH * D, act);
        vv = buf(per_layer, N * KVH * D, act);
        att = buf(per_layer, N * H * D, act);
        a = buf(per_layer, N * F, act);
        // fp32 q/k/v: in place when the saved copies are fp32, else shared scratch
        const bool split = act == HB_DTYPE_BF16;
        qf = split ? shared.floats(N * H * D) : q.f();
        kf = split ? shared.floats(N * KVH * D) : k.f();
        vf = split ? shared.floats(N * KVH * D) : vv.f();
        y = shared.floats(N * C);  // the next layer's x
        for (float** p : {&dres, &dln}) *p = shared.floats(N * C);
        for (float** p : {&dq, &datt}) *p = shared.floats(N * H * D);
        for (float** p : {&dk, &dv}) *p = shared.floats(N * KVH * D);
        for (float** p : {&dh, &dg, &du}) *p = shared.floats(N * F);
        std::vector<int32_t> hp((size_t)N);
        for (int64_t i = 0; i < N; i++) hp[(size_t)i] = (int32_t)(i % T);
        pos = shared.upload(hp);
        std::vector<float> inv((size_t)(D / 2));
        hb_rope_config cfg{500000.0f, 1, 32.0f, 1.0f, 4.0f, 8192};
        CHECK(hb_rope_inv_freq(inv.data(), D, &cfg));
        inv_freq = shared.upload(inv);
    }

    float scale() const { return 1.0f / std::sqrt((float)D); }

    // y (N,out) = x W^T (+ y when beta = 1), plus LoRA target i
    void linear(hb_context* c, float* out, Buf in, int i, float beta) {
        mm(c, out, in, w[i], N, wout[i], win[i], 0, 1, 1.0f, beta);
        if (mode != Mode::Lora) return;
        mm(c, xa[i], in, f32(la[i]), N, R, win[i], 0, 1, 1.0f, 0.0f);
        mm(c, out, f32(xa[i]), f32(lb[i]), N, wout[i], R, 0, 1, 2.0f, 1.0f);
    }
    // dx (N,in) (= or +=) dy W; full: dW += dy^T x; LoRA: dA, dB and dx += the adapter's part
    void linear_backward(hb_context* c, float* dx, const float* dy, Buf in, int i, float beta) {
        mm(c, dx, f32(const_cast<float*>(dy)), w[i], N, win[i], wout[i], 0, 0, 1.0f, beta);
        if (mode == Mode::Full) {
            mm(c, dw[i], f32(const_cast<float*>(dy)), in, wout[i], win[i], N, 1, 0, 1.0f, 1.0f);
            return;
        }
        Buf dyb = f32(const_cast<float*>(dy));
        mm(c, lora_work, dyb, f32(lb[i]), N, R, wout[i], 0, 0, 2.0f, 0.0f);
        mm(c, dlb[i], dyb, f32(xa[i]), wout[i], R, N, 1, 0, 2.0f, 1.0f);
        mm(c, dla[i], f32(lora_work), in, R, win[i], N, 1, 0, 1.0f, 1.0f);
        mm(c, dx, f32(lora_work), f32(la[i]), N, win[i], R, 0, 0, 1.0f, 1.0f);
    }

    void forward(hb_context* c) {
        rmsnorm(c, ln1, rstd1, x, wn1, N, C);
        linear(c, qf, ln1, 0, 0.0f);
        linear(c, kf, ln1, 1, 0.0f);
        linear(c, vf, ln1, 2, 0.0f);
        CHECK(hb_rope_forward(c, qf, pos, inv_freq, N, H, D));
        CHECK(hb_rope_forward(c, kf, pos, inv_freq, N, KVH, D));
        store(c, q, qf, N * H * D);
        store(c, k, kf, N * KVH * D);
        store(c, vv, vf, N * KVH * D);
        if (act == HB_DTYPE_BF16)
            CHECK(hb_attention_forward_bf16(c, att.h(), lse, q.h(), k.h(), vv.h(), nullptr, B, T, H, KVH, D, scale()));
        else CHECK(hb_attention_forward(c, att.f(), lse, q.f(), k.f(), vv.f(), nullptr, B, T, H, KVH, D, scale()));
        CHECK(hb_copy_device(c, mid, x, N * C * 4));
        linear(c, mid, att, 3, 1.0f);
        rmsnorm(c, ln2, rstd2, mid, wn2, N, C);
        linear(c, g, ln2, 4, 0.0f);
        linear(c, u, ln2, 5, 0.0f);
        if (a.bf16()) CHECK(hb_swiglu_forward_bf16(c, a.h(), g, u, N * F));
        else CHECK(hb_swiglu_forward(c, a.f(), g, u, N * F));
        CHECK(hb_copy_device(c, y, mid, N * C * 4));
        linear(c, y, a, 6, 1.0f);
    }

    // dres: d(output) in, d(x) out (RMSNorm's backward adds into it, as the residual needs)
    void backward(hb_context* c) {
        linear_backward(c, dh, dres, a, 6, 0.0f);
        CHECK(hb_swiglu_backward(c, dg, du, dh, g, u, N * F));
        linear_backward(c, dln, dg, ln2, 4, 0.0f);
        linear_backward(c, dln, du, ln2, 5, 1.0f);
        CHECK(hb_rmsnorm_backward(c, dres, dwn2, dln, mid, wn2, rstd2, N, C));
        linear_backward(c, datt, dres, att, 3, 0.0f);
        if (act == HB_DTYPE_BF16)
            CHECK(hb_attention_backward_bf16(c, dq, dk, dv, datt, q.h(), k.h(), vv.h(), att.h(), lse, nullptr, B, T, H,
                                             KVH, D, scale()));
        else CHECK(hb_attention_backward(c, dq, dk, dv, datt, q.f(), k.f(), vv.f(), att.f(), lse, nullptr, B, T, H, KVH,
                                         D, scale()));
        CHECK(hb_rope_backward(c, dq, pos, inv_freq, N, H, D));
        CHECK(hb_rope_backward(c, dk, pos, inv_freq, N, KVH, D));
        linear_backward(c, dln, dq, ln1, 0, 0.0f);
        linear_backward(c, dln, dk, ln1, 1, 1.0f);
        linear_backward(c, dln, dv, ln1, 2, 1.0f);
        CHECK(hb_rmsnorm_backward(c, dres, dwn1, dln, x, wn1, rstd1, N, C));
    }

    // gradient norm contribution, AdamW, and the bf16 copies of the updated masters
    void optimizer(hb_context* c, float* sumsq, const hb_adamw_config& cfg) {
        CHECK(hb_sum_squares(c, sumsq, st.g, st.n));
        CHECK(hb_adamw_update(c, st.p, st.g, st.m, st.v, nullptr, st.n, &cfg));
        if (mode == Mode::Full && act == HB_DTYPE_BF16) {
            int64_t off = 0;
            for (int i = 0; i < kTargets; i++) {
                CHECK(hb_convert_f32_to_bf16(c, w[i].h(), st.p + off, wsize[i]));
                off += wsize[i];
            }
        }
    }
};

// The whole step of one layer (see Layer) plus what surrounds it: the embedding tied to the LM head (full: fp32
// master + bf16 copy in bf16 precision; LoRA: frozen), the final norm and the fused LM head / cross-entropy, and
// the optimizer of what the layers do not own.
struct StepModel {
    ModelShape s;
    Mode mode;
    hb_dtype act;
    int64_t N;
    Layer layer;
    TrainState te;
    float* wte_master;
    Buf wte;
    float *wnf, *rstdf, *losses, *lse, *sumsq, *clip;
    Buf lnf;
    int32_t *tokens, *targets;
    hb_adamw_config cfg{1e-5f, 0.9f, 0.95f, 1e-8f, 0.1f, 1};

    StepModel(Arena& per_layer, Arena& shared, const ModelShape& s_, Mode mode_, hb_dtype act_, int64_t B, int64_t T)
        : s(s_), mode(mode_), act(act_), N(B * T), layer(per_layer, shared, s_, B, T, mode_, act_),
          te(mode_ == Mode::Full ? TrainState(shared, s_.V * s_.C) : TrainState()),
          wte_master(mode_ == Mode::Full ? te.p : act_ == HB_DTYPE_F32 ? shared.floats(s_.V * s_.C) : nullptr),
          wte(act_ == HB_DTYPE_BF16 ? buf(shared, s_.V * s_.C, act_) : f32(wte_master)) {
        wnf = shared.floats(s.C);
        rstdf = shared.floats(N);
        losses = shared.floats(N);
        lse = shared.floats(N);
        sumsq = shared.floats(1);
        clip = shared.floats(1);
        lnf = buf(shared, N * s.C, act);
        tokens = shared.ids(N);
        targets = shared.ids(N);
        // full fine-tuning in bf16 reads the bf16 copy of the master table, as after an optimizer step
        if (mode == Mode::Full && wte.bf16()) CHECK(hb_convert_f32_to_bf16(ctx_of(shared), wte.h(), wte_master, s.V * s.C));
    }
    static hb_context* ctx_of(Arena& a) { return a.context(); }

    void embed(hb_context* c) {
        if (wte.bf16()) CHECK(hb_embedding_forward_bf16(c, layer.x, tokens, wte.h(), N, s.V, s.C));
        else CHECK(hb_embedding_forward(c, layer.x, tokens, wte.f(), N, s.V, s.C));
    }
    void embed_backward(hb_context* c) {
        if (te.g != nullptr) CHECK(hb_embedding_backward(c, te.g, layer.dres, tokens, N, s.V, s.C));
    }
    // final norm, LM head + cross-entropy forward and backward, into the layer's output gradient (dres)
    void head(hb_context* c) {
        rmsnorm(c, lnf, rstdf, layer.y, wnf, N, s.C);
        if (act == HB_DTYPE_BF16) {
            CHECK(hb_cross_entropy_forward_bf16(c, losses, lse, lnf.h(), wte.h(), targets, N, s.V, s.C, 0));
            CHECK(hb_cross_entropy_backward_bf16(c, layer.dln, te.g, lnf.h(), wte.h(), targets, lse, 1.0f / (float)N, N,
                                                 s.V, s.C, 0));
        } else {
            CHECK(hb_cross_entropy_forward(c, losses, lse, lnf.f(), wte.f(), targets, N, s.V, s.C, 0));
            CHECK(hb_cross_entropy_backward(c, layer.dln, te.g, lnf.f(), wte.f(), targets, lse, 1.0f / (float)N, N, s.V,
                                            s.C, 0));
        }
        CHECK(hb_memset(c, layer.dres, 0, N * s.C * 4));
        CHECK(hb_rmsnorm_backward(c, layer.dres, mode == Mode::Full ? layer.dwn1 : nullptr, layer.dln, layer.y, wnf,
                                  rstdf, N, s.C));
    }
    // the optimizer's part outside the layers (the embedding), then the clip scale of the whole step
    void optimizer_shared(hb_context* c) {
        if (mode == Mode::Full) {
            CHECK(hb_sum_squares(c, sumsq, te.g, te.n));
            CHECK(hb_clip_scale(c, clip, sumsq, 1.0f));
            CHECK(hb_adamw_update(c, te.p, te.g, te.m, te.v, clip, te.n, &cfg));
            if (wte.bf16()) CHECK(hb_convert_f32_to_bf16(c, wte.h(), wte_master, s.V * s.C));
        } else {
            CHECK(hb_clip_scale(c, clip, sumsq, 1.0f));
        }
    }
};

}  // namespace hbstep
