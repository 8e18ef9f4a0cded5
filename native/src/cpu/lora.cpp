// lora.cpp — LoRA adapters (Hu et al. 2021) beside a frozen linear layer: y += scale * (x a^T) b^T.
#include "cpu-common.hpp"
#include "cpu-kernels.hpp"

namespace hb::cpu {

void lora_forward(hb_context* ctx, float* y, float* xa, const float* x, const float* a, const float* b, int64_t N,
                  int64_t in, int64_t out, int64_t R, float scale) {
    // x (N,in), a (R,in), b (out,R) -> xa (N,R) = x a^T (saved), y (N,out) += scale * xa b^T.
    sgemm(ctx, false, true, N, R, in, 1.0f, x, in, a, in, 0.0f, xa, R);
    sgemm(ctx, false, true, N, out, R, scale, xa, R, b, R, 1.0f, y, out);
}

void lora_backward(hb_context* ctx, float* dx, float* da, float* db, float* work, const float* dy, const float* x,
                   const float* xa, const float* a, const float* b, int64_t N, int64_t in, int64_t out, int64_t R,
                   float scale) {
    // dy (N,out), x (N,in), xa (N,R), a (R,in), b (out,R) -> da (R,in) +=, db (out,R) +=,
    // dx (N,in) += when not NULL (it adds to the frozen path's gradient); work (N,R) scratch.
    //   dxa = scale * dy b (N,R);  db += scale * dy^T xa;  da += dxa^T x;  dx += dxa a
    sgemm(ctx, false, false, N, R, out, scale, dy, out, b, R, 0.0f, work, R);
    sgemm(ctx, true, false, out, R, N, scale, dy, out, xa, R, 1.0f, db, R);
    sgemm(ctx, true, false, R, in, N, 1.0f, work, R, x, in, 1.0f, da, in);
    if (dx) sgemm(ctx, false, false, N, in, R, 1.0f, work, R, a, in, 1.0f, dx, in);
}

}  // namespace hb::cpu
