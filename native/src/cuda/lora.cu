// lora.cu — LoRA (Hu et al. 2021) adapter on a frozen linear layer, as four GEMMs through matmul.cu:
// y (N,out) += scale * (x (N,in) @ a (R,in)^T) @ b (out,R)^T.
#include "cuda-ops.cuh"

namespace hb::cuda {

// xa (N,R) = x @ a^T (saved for the backward); y (N,out) += scale * xa @ b^T.
void lora_forward(hb_context* ctx, float* y, float* xa, const float* x, const float* a, const float* b, int64_t N,
                  int64_t in, int64_t out, int64_t R, float scale) {
    matmul(ctx, xa, x, a, N, R, in, 0, 1, 1.0f, 0.0f);
    matmul(ctx, y, xa, b, N, out, R, 0, 1, scale, 1.0f);
}

// With d_xa = scale * dy @ b (N,R), kept in work:
//   db (out,R) += scale * dy^T @ xa;  da (R,in) += d_xa^T @ x;  dx (N,in) += d_xa @ a (when dx != NULL).
void lora_backward(hb_context* ctx, float* dx, float* da, float* db, float* work, const float* dy, const float* x,
                   const float* xa, const float* a, const float* b, int64_t N, int64_t in, int64_t out, int64_t R,
                   float scale) {
    matmul(ctx, db, dy, xa, out, R, N, 1, 0, scale, 1.0f);
    matmul(ctx, work, dy, b, N, R, out, 0, 0, scale, 0.0f);
    matmul(ctx, da, work, x, R, in, N, 1, 0, 1.0f, 1.0f);
    if (dx != nullptr) matmul(ctx, dx, work, a, N, in, R, 0, 0, 1.0f, 1.0f);
}

}  // namespace hb::cuda
