// api-kernels.cpp — kernel exports: validate shapes once, then dispatch to the context's backend.
#include <cmath>

#include "backend.hpp"
#include "validate.hpp"

using namespace hb;

#define HB_KERNEL(fn, ...) \
    HB_GUARD(#fn, {        \
        __VA_ARGS__        \
        return HB_OK;      \
    })

#define CTX() require_ctx(FN, ctx)
#define PTR(p) require_ptr(FN, #p, p)
#define POS(v) require_positive(FN, #v, v)
#define NONNEG(v) require_nonnegative(FN, #v, v)
#define CALL(op, ...) require_op(FN, ctx, ctx->ops->op)(ctx, __VA_ARGS__)

extern "C" {

HB_API hb_status hb_matmul(hb_context* ctx, float* out, const float* a, const float* b, int64_t M, int64_t N,
                           int64_t K, int32_t trans_a, int32_t trans_b, float alpha, float beta) {
    static const char* FN = "hb_matmul";
    HB_KERNEL(hb_matmul, CTX(); PTR(out); PTR(a); PTR(b); POS(M); POS(N); POS(K);
              checked_mul(FN, M, N); checked_mul(FN, M, K); checked_mul(FN, K, N);
              if ((trans_a != 0 && trans_a != 1) || (trans_b != 0 && trans_b != 1))
                  throw_error(HB_ERR_INVALID_ARGUMENT, "%s: trans_a and trans_b must be 0 or 1", FN);
              CALL(matmul, out, a, b, M, N, K, trans_a, trans_b, alpha, beta););
}

HB_API hb_status hb_convert_f32_to_bf16(hb_context* ctx, uint16_t* out, const float* in, int64_t n) {
    static const char* FN = "hb_convert_f32_to_bf16";
    HB_KERNEL(hb_convert_f32_to_bf16, CTX(); PTR(out); PTR(in); POS(n); CALL(convert_f32_to_bf16, out, in, n););
}

HB_API hb_status hb_convert_bf16_to_f32(hb_context* ctx, float* out, const uint16_t* in, int64_t n) {
    static const char* FN = "hb_convert_bf16_to_f32";
    HB_KERNEL(hb_convert_bf16_to_f32, CTX(); PTR(out); PTR(in); POS(n); CALL(convert_bf16_to_f32, out, in, n););
}

HB_API hb_status hb_matmul_bf16(hb_context* ctx, float* out, const uint16_t* a, const uint16_t* b, int64_t M,
                                int64_t N, int64_t K, int32_t trans_a, int32_t trans_b, float alpha, float beta) {
    static const char* FN = "hb_matmul_bf16";
    HB_KERNEL(hb_matmul_bf16, CTX(); PTR(out); PTR(a); PTR(b); POS(M); POS(N); POS(K);
              checked_mul(FN, M, N); checked_mul(FN, M, K); checked_mul(FN, K, N);
              if ((trans_a != 0 && trans_a != 1) || (trans_b != 0 && trans_b != 1))
                  throw_error(HB_ERR_INVALID_ARGUMENT, "%s: trans_a and trans_b must be 0 or 1", FN);
              CALL(matmul_bf16, out, a, b, M, N, K, trans_a, trans_b, alpha, beta););
}

HB_API hb_status hb_axpy(hb_context* ctx, float* y, const float* x, float alpha, int64_t n) {
    static const char* FN = "hb_axpy";
    HB_KERNEL(hb_axpy, CTX(); PTR(y); PTR(x); POS(n); CALL(axpy, y, x, alpha, n););
}

HB_API hb_status hb_add(hb_context* ctx, float* out, const float* a, const float* b, int64_t n) {
    static const char* FN = "hb_add";
    HB_KERNEL(hb_add, CTX(); PTR(out); PTR(a); PTR(b); POS(n); CALL(add, out, a, b, n););
}

HB_API hb_status hb_scale(hb_context* ctx, float* x, float alpha, int64_t n) {
    static const char* FN = "hb_scale";
    HB_KERNEL(hb_scale, CTX(); PTR(x); POS(n); CALL(scale, x, alpha, n););
}

HB_API hb_status hb_embedding_forward(hb_context* ctx, float* out, const int32_t* tokens, const float* wte,
                                      int64_t N, int64_t V, int64_t C) {
    static const char* FN = "hb_embedding_forward";
    HB_KERNEL(hb_embedding_forward, CTX(); PTR(out); PTR(tokens); PTR(wte); POS(N); POS(V); POS(C);
              checked_mul(FN, N, C); checked_mul(FN, V, C); if (V > INT32_MAX) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: V exceeds int32 token ids", FN);
              CALL(embedding_forward, out, tokens, wte, N, V, C););
}

HB_API hb_status hb_embedding_backward(hb_context* ctx, float* dwte, const float* dout, const int32_t* tokens,
                                       int64_t N, int64_t V, int64_t C) {
    static const char* FN = "hb_embedding_backward";
    HB_KERNEL(hb_embedding_backward, CTX(); PTR(dwte); PTR(dout); PTR(tokens); POS(N); POS(V); POS(C);
              checked_mul(FN, N, C); checked_mul(FN, V, C);
              CALL(embedding_backward, dwte, dout, tokens, N, V, C););
}

HB_API hb_status hb_rmsnorm_forward(hb_context* ctx, float* out, float* rstd, const float* inp, const float* weight,
                                    int64_t N, int64_t C, float eps) {
    static const char* FN = "hb_rmsnorm_forward";
    HB_KERNEL(hb_rmsnorm_forward, CTX(); PTR(out); PTR(rstd); PTR(inp); PTR(weight); POS(N); POS(C);
              checked_mul(FN, N, C);
              if (!(eps > 0.0f) || !std::isfinite(eps)) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: eps must be a finite value > 0 (got %g)", FN, (double)eps);
              CALL(rmsnorm_forward, out, rstd, inp, weight, N, C, eps););
}

HB_API hb_status hb_rmsnorm_backward(hb_context* ctx, float* dinp, float* dweight, const float* dout,
                                     const float* inp, const float* weight, const float* rstd, int64_t N, int64_t C) {
    static const char* FN = "hb_rmsnorm_backward";
    HB_KERNEL(hb_rmsnorm_backward, CTX(); PTR(dinp); PTR(dout); PTR(inp); PTR(weight); PTR(rstd); POS(N); POS(C);
              checked_mul(FN, N, C);
              CALL(rmsnorm_backward, dinp, dweight, dout, inp, weight, rstd, N, C););
}

static void check_rope(const char* FN, const hb_context* ctx, const void* x, const int32_t* positions,
                       const float* inv_freq, int64_t N, int64_t H, int64_t D) {
    require_ctx(FN, ctx);
    require_ptr(FN, "x", x);
    require_ptr(FN, "positions", positions);
    require_ptr(FN, "inv_freq", inv_freq);
    require_positive(FN, "N", N);
    require_positive(FN, "H", H);
    require_positive(FN, "D", D);
    if (D % 2 != 0) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: D must be even (got %lld)", FN, (long long)D);
    checked_mul(FN, checked_mul(FN, N, H), D);
}

HB_API hb_status hb_rope_forward(hb_context* ctx, float* x, const int32_t* positions, const float* inv_freq,
                                 int64_t N, int64_t H, int64_t D) {
    static const char* FN = "hb_rope_forward";
    HB_KERNEL(hb_rope_forward, check_rope(FN, ctx, x, positions, inv_freq, N, H, D);
              CALL(rope_forward, x, positions, inv_freq, N, H, D););
}

HB_API hb_status hb_rope_backward(hb_context* ctx, float* dx, const int32_t* positions, const float* inv_freq,
                                  int64_t N, int64_t H, int64_t D) {
    static const char* FN = "hb_rope_backward";
    HB_KERNEL(hb_rope_backward, check_rope(FN, ctx, dx, positions, inv_freq, N, H, D);
              CALL(rope_backward, dx, positions, inv_freq, N, H, D););
}

static void check_attention(const char* FN, int64_t B, int64_t T, int64_t H, int64_t KVH, int64_t D, float scale) {
    require_positive(FN, "B", B);
    require_positive(FN, "T", T);
    require_positive(FN, "H", H);
    require_positive(FN, "KVH", KVH);
    require_positive(FN, "D", D);
    if (H % KVH != 0)
        throw_error(HB_ERR_INVALID_ARGUMENT, "%s: H (%lld) must be a multiple of KVH (%lld)", FN, (long long)H,
                    (long long)KVH);
    if (!(scale > 0.0f) || !std::isfinite(scale))
        throw_error(HB_ERR_INVALID_ARGUMENT, "%s: scale must be a finite value > 0 (got %g)", FN, (double)scale);
    checked_mul(FN, checked_mul(FN, checked_mul(FN, B, T), H), D);
}

HB_API hb_status hb_attention_forward(hb_context* ctx, float* out, float* lse, const float* q, const float* k,
                                      const float* v, const int32_t* segments, int64_t B, int64_t T, int64_t H,
                                      int64_t KVH, int64_t D, float scale) {
    static const char* FN = "hb_attention_forward";
    HB_KERNEL(hb_attention_forward, CTX(); PTR(out); PTR(lse); PTR(q); PTR(k); PTR(v);
              check_attention(FN, B, T, H, KVH, D, scale);
              CALL(attention_forward, out, lse, q, k, v, segments, B, T, H, KVH, D, scale););
}

HB_API hb_status hb_attention_backward(hb_context* ctx, float* dq, float* dk, float* dv, const float* dout,
                                       const float* q, const float* k, const float* v, const float* out,
                                       const float* lse, const int32_t* segments, int64_t B, int64_t T, int64_t H,
                                       int64_t KVH, int64_t D, float scale) {
    static const char* FN = "hb_attention_backward";
    HB_KERNEL(hb_attention_backward, CTX(); PTR(dq); PTR(dk); PTR(dv); PTR(dout); PTR(q); PTR(k); PTR(v); PTR(out);
              PTR(lse); check_attention(FN, B, T, H, KVH, D, scale);
              CALL(attention_backward, dq, dk, dv, dout, q, k, v, out, lse, segments, B, T, H, KVH, D, scale););
}

HB_API hb_status hb_swiglu_forward(hb_context* ctx, float* out, const float* gate, const float* up, int64_t n) {
    static const char* FN = "hb_swiglu_forward";
    HB_KERNEL(hb_swiglu_forward, CTX(); PTR(out); PTR(gate); PTR(up); POS(n); CALL(swiglu_forward, out, gate, up, n););
}

HB_API hb_status hb_swiglu_backward(hb_context* ctx, float* dgate, float* dup, const float* dout, const float* gate,
                                    const float* up, int64_t n) {
    static const char* FN = "hb_swiglu_backward";
    HB_KERNEL(hb_swiglu_backward, CTX(); PTR(dgate); PTR(dup); PTR(dout); PTR(gate); PTR(up); POS(n);
              CALL(swiglu_backward, dgate, dup, dout, gate, up, n););
}

HB_API hb_status hb_cross_entropy_forward(hb_context* ctx, float* losses, float* lse, const float* h, const float* w,
                                          const int32_t* targets, int64_t N, int64_t V, int64_t C, int64_t chunk) {
    static const char* FN = "hb_cross_entropy_forward";
    HB_KERNEL(hb_cross_entropy_forward, CTX(); PTR(losses); PTR(lse); PTR(h); PTR(w); PTR(targets); POS(N); POS(V);
              POS(C); NONNEG(chunk); checked_mul(FN, N, C); checked_mul(FN, V, C);
              CALL(cross_entropy_forward, losses, lse, h, w, targets, N, V, C, chunk););
}

HB_API hb_status hb_cross_entropy_backward(hb_context* ctx, float* dh, float* dw, const float* h, const float* w,
                                           const int32_t* targets, const float* lse, float loss_scale, int64_t N,
                                           int64_t V, int64_t C, int64_t chunk) {
    static const char* FN = "hb_cross_entropy_backward";
    HB_KERNEL(hb_cross_entropy_backward, CTX(); PTR(dh); PTR(h); PTR(w); PTR(targets); PTR(lse); POS(N); POS(V);
              POS(C); NONNEG(chunk); checked_mul(FN, N, C); checked_mul(FN, V, C);
              if (!std::isfinite(loss_scale)) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: loss_scale must be finite", FN);
              CALL(cross_entropy_backward, dh, dw, h, w, targets, lse, loss_scale, N, V, C, chunk););
}

HB_API hb_status hb_lora_forward(hb_context* ctx, float* y, float* xa, const float* x, const float* a, const float* b,
                                 int64_t N, int64_t in, int64_t out, int64_t R, float scale) {
    static const char* FN = "hb_lora_forward";
    HB_KERNEL(hb_lora_forward, CTX(); PTR(y); PTR(xa); PTR(x); PTR(a); PTR(b); POS(N); POS(in); POS(out); POS(R);
              checked_mul(FN, N, in); checked_mul(FN, N, out);
              CALL(lora_forward, y, xa, x, a, b, N, in, out, R, scale););
}

HB_API hb_status hb_lora_backward(hb_context* ctx, float* dx, float* da, float* db, float* work, const float* dy,
                                  const float* x, const float* xa, const float* a, const float* b, int64_t N,
                                  int64_t in, int64_t out, int64_t R, float scale) {
    static const char* FN = "hb_lora_backward";
    HB_KERNEL(hb_lora_backward, CTX(); PTR(da); PTR(db); PTR(work); PTR(dy); PTR(x); PTR(xa); PTR(a); PTR(b);
              POS(N); POS(in); POS(out); POS(R); checked_mul(FN, N, in); checked_mul(FN, N, out);
              CALL(lora_backward, dx, da, db, work, dy, x, xa, a, b, N, in, out, R, scale););
}

HB_API hb_status hb_sum_squares(hb_context* ctx, float* sumsq, const float* x, int64_t n) {
    static const char* FN = "hb_sum_squares";
    HB_KERNEL(hb_sum_squares, CTX(); PTR(sumsq); PTR(x); POS(n); CALL(sum_squares, sumsq, x, n););
}

HB_API hb_status hb_clip_scale(hb_context* ctx, float* scale, const float* sumsq, float max_norm) {
    static const char* FN = "hb_clip_scale";
    HB_KERNEL(hb_clip_scale, CTX(); PTR(scale); PTR(sumsq); CALL(clip_scale, scale, sumsq, max_norm););
}

static void check_adamw_config(const char* FN, const hb_adamw_config* config) {
    require_ptr(FN, "config", config);
    if (config->step < 1) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: config->step must be >= 1 (got %d)", FN, config->step);
    if (!(config->beta1 >= 0.0f && config->beta1 < 1.0f) || !(config->beta2 >= 0.0f && config->beta2 < 1.0f))
        throw_error(HB_ERR_INVALID_ARGUMENT, "%s: config->beta1 and beta2 must be in [0,1)", FN);
    if (!(config->eps > 0.0f)) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: config->eps must be > 0", FN);
    if (!std::isfinite(config->lr) || config->lr < 0.0f) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: config->lr must be finite and >= 0", FN);
}

HB_API hb_status hb_adamw_update(hb_context* ctx, float* param, const float* grad, float* m, float* v,
                                 const float* grad_scale, int64_t n, const hb_adamw_config* config) {
    static const char* FN = "hb_adamw_update";
    HB_KERNEL(hb_adamw_update, CTX(); PTR(param); PTR(grad); PTR(m); PTR(v); PTR(config); POS(n);
              check_adamw_config(FN, config);
              CALL(adamw_update, param, grad, m, v, grad_scale, n, config););
}

// "tensors[3].grad" and the like, for the multi-tensor ops' messages.
static void require_item_ptr(const char* FN, const char* array, int32_t i, const char* field, const void* p) {
    if (p == nullptr) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: %s[%d]%s is NULL", FN, array, i, field);
}

static void require_count(const char* FN, int32_t count) {
    if (count < 0) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: count must be >= 0 (got %d)", FN, count);
}

HB_API hb_status hb_adamw_update_multi(hb_context* ctx, const hb_adamw_tensor* tensors, int32_t count,
                                       const float* grad_scale, const hb_adamw_config* config) {
    static const char* FN = "hb_adamw_update_multi";
    HB_KERNEL(hb_adamw_update_multi, CTX(); check_adamw_config(FN, config); require_count(FN, count);
              if (count == 0) return HB_OK;
              PTR(tensors);
              for (int32_t i = 0; i < count; i++) {
                  const hb_adamw_tensor& t = tensors[i];
                  require_item_ptr(FN, "tensors", i, ".param", t.param);
                  require_item_ptr(FN, "tensors", i, ".grad", t.grad);
                  require_item_ptr(FN, "tensors", i, ".m", t.m);
                  require_item_ptr(FN, "tensors", i, ".v", t.v);
                  if (t.n <= 0) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: tensors[%d].n must be > 0 (got %lld)", FN, i, (long long)t.n);
                  if (!std::isfinite(t.weight_decay) || t.weight_decay < 0.0f)
                      throw_error(HB_ERR_INVALID_ARGUMENT, "%s: tensors[%d].weight_decay must be finite and >= 0 (got %g)", FN, i, (double)t.weight_decay);
                  if (t.reserved != 0) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: tensors[%d].reserved must be 0", FN, i);
              }
              CALL(adamw_update_multi, tensors, count, grad_scale, config););
}

HB_API hb_status hb_sum_squares_multi(hb_context* ctx, float* sumsq, const float* const* xs, const int64_t* ns,
                                      int32_t count) {
    static const char* FN = "hb_sum_squares_multi";
    HB_KERNEL(hb_sum_squares_multi, CTX(); PTR(sumsq); require_count(FN, count);
              if (count == 0) return HB_OK;
              PTR(xs); PTR(ns);
              for (int32_t i = 0; i < count; i++) {
                  require_item_ptr(FN, "xs", i, "", xs[i]);
                  if (ns[i] <= 0) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: ns[%d] must be > 0 (got %lld)", FN, i, (long long)ns[i]);
              }
              CALL(sum_squares_multi, sumsq, xs, ns, count););
}

// ---------------------------------------------------------------- bf16 activations (mixed precision)

HB_API hb_status hb_matmul_bf16_mixed(hb_context* ctx, float* out, const void* a, hb_dtype a_type, const void* b,
                                      hb_dtype b_type, int64_t M, int64_t N, int64_t K, int32_t trans_a,
                                      int32_t trans_b, float alpha, float beta) {
    static const char* FN = "hb_matmul_bf16_mixed";
    HB_KERNEL(hb_matmul_bf16_mixed, CTX(); PTR(out); PTR(a); PTR(b); POS(M); POS(N); POS(K);
              checked_mul(FN, M, N); checked_mul(FN, M, K); checked_mul(FN, K, N);
              if ((trans_a != 0 && trans_a != 1) || (trans_b != 0 && trans_b != 1))
                  throw_error(HB_ERR_INVALID_ARGUMENT, "%s: trans_a and trans_b must be 0 or 1", FN);
              if (a_type != HB_DTYPE_F32 && a_type != HB_DTYPE_BF16)
                  throw_error(HB_ERR_INVALID_ARGUMENT, "%s: a_type must be HB_DTYPE_F32 or HB_DTYPE_BF16 (got %d)", FN, (int)a_type);
              if (b_type != HB_DTYPE_F32 && b_type != HB_DTYPE_BF16)
                  throw_error(HB_ERR_INVALID_ARGUMENT, "%s: b_type must be HB_DTYPE_F32 or HB_DTYPE_BF16 (got %d)", FN, (int)b_type);
              CALL(matmul_bf16_mixed, out, a, a_type, b, b_type, M, N, K, trans_a, trans_b, alpha, beta););
}

HB_API hb_status hb_embedding_forward_bf16(hb_context* ctx, float* out, const int32_t* tokens, const uint16_t* wte,
                                           int64_t N, int64_t V, int64_t C) {
    static const char* FN = "hb_embedding_forward_bf16";
    HB_KERNEL(hb_embedding_forward_bf16, CTX(); PTR(out); PTR(tokens); PTR(wte); POS(N); POS(V); POS(C);
              checked_mul(FN, N, C); checked_mul(FN, V, C); if (V > INT32_MAX) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: V exceeds int32 token ids", FN);
              CALL(embedding_forward_bf16, out, tokens, wte, N, V, C););
}

HB_API hb_status hb_rmsnorm_forward_bf16(hb_context* ctx, uint16_t* out, float* rstd, const float* inp,
                                         const float* weight, int64_t N, int64_t C, float eps) {
    static const char* FN = "hb_rmsnorm_forward_bf16";
    HB_KERNEL(hb_rmsnorm_forward_bf16, CTX(); PTR(out); PTR(rstd); PTR(inp); PTR(weight); POS(N); POS(C);
              checked_mul(FN, N, C);
              if (!(eps > 0.0f) || !std::isfinite(eps)) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: eps must be a finite value > 0 (got %g)", FN, (double)eps);
              CALL(rmsnorm_forward_bf16, out, rstd, inp, weight, N, C, eps););
}

HB_API hb_status hb_swiglu_forward_bf16(hb_context* ctx, uint16_t* out, const float* gate, const float* up, int64_t n) {
    static const char* FN = "hb_swiglu_forward_bf16";
    HB_KERNEL(hb_swiglu_forward_bf16, CTX(); PTR(out); PTR(gate); PTR(up); POS(n);
              CALL(swiglu_forward_bf16, out, gate, up, n););
}

HB_API hb_status hb_attention_forward_bf16(hb_context* ctx, uint16_t* out, float* lse, const uint16_t* q,
                                           const uint16_t* k, const uint16_t* v, const int32_t* segments, int64_t B,
                                           int64_t T, int64_t H, int64_t KVH, int64_t D, float scale) {
    static const char* FN = "hb_attention_forward_bf16";
    HB_KERNEL(hb_attention_forward_bf16, CTX(); PTR(out); PTR(lse); PTR(q); PTR(k); PTR(v);
              check_attention(FN, B, T, H, KVH, D, scale);
              CALL(attention_forward_bf16, out, lse, q, k, v, segments, B, T, H, KVH, D, scale););
}

HB_API hb_status hb_attention_backward_bf16(hb_context* ctx, float* dq, float* dk, float* dv, const float* dout,
                                            const uint16_t* q, const uint16_t* k, const uint16_t* v,
                                            const uint16_t* out, const float* lse, const int32_t* segments, int64_t B,
                                            int64_t T, int64_t H, int64_t KVH, int64_t D, float scale) {
    static const char* FN = "hb_attention_backward_bf16";
    HB_KERNEL(hb_attention_backward_bf16, CTX(); PTR(dq); PTR(dk); PTR(dv); PTR(dout); PTR(q); PTR(k); PTR(v);
              PTR(out); PTR(lse); check_attention(FN, B, T, H, KVH, D, scale);
              CALL(attention_backward_bf16, dq, dk, dv, dout, q, k, v, out, lse, segments, B, T, H, KVH, D, scale););
}

HB_API hb_status hb_cross_entropy_forward_bf16(hb_context* ctx, float* losses, float* lse, const uint16_t* h,
                                               const uint16_t* w, const int32_t* targets, int64_t N, int64_t V,
                                               int64_t C, int64_t chunk) {
    static const char* FN = "hb_cross_entropy_forward_bf16";
    HB_KERNEL(hb_cross_entropy_forward_bf16, CTX(); PTR(losses); PTR(lse); PTR(h); PTR(w); PTR(targets); POS(N);
              POS(V); POS(C); NONNEG(chunk); checked_mul(FN, N, C); checked_mul(FN, V, C);
              CALL(cross_entropy_forward_bf16, losses, lse, h, w, targets, N, V, C, chunk););
}

HB_API hb_status hb_cross_entropy_backward_bf16(hb_context* ctx, float* dh, float* dw, const uint16_t* h,
                                                const uint16_t* w, const int32_t* targets, const float* lse,
                                                float loss_scale, int64_t N, int64_t V, int64_t C, int64_t chunk) {
    static const char* FN = "hb_cross_entropy_backward_bf16";
    HB_KERNEL(hb_cross_entropy_backward_bf16, CTX(); PTR(dh); PTR(h); PTR(w); PTR(targets); PTR(lse); POS(N);
              POS(V); POS(C); NONNEG(chunk); checked_mul(FN, N, C); checked_mul(FN, V, C);
              if (!std::isfinite(loss_scale)) throw_error(HB_ERR_INVALID_ARGUMENT, "%s: loss_scale must be finite", FN);
              CALL(cross_entropy_backward_bf16, dh, dw, h, w, targets, lse, loss_scale, N, V, C, chunk););
}

}  // extern "C"
