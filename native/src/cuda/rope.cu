// rope.cu — rotary position embedding in HF's "rotate_half" layout: element i of a head pairs with
// element i + D/2, and the pair turns by angle positions[n] * inv_freq[i] (i < D/2).
// The angle is formed in fp32 like HF's reference, then cosf/sinf (full-precision, not the fast intrinsics).
#include "cuda-ops.cuh"

namespace hb::cuda {

namespace {

constexpr int kThreads = 256;

// x (N,H,D) rotated in place; one thread per pair (n, h, i). direction +1 rotates by +angle (forward),
// -1 by -angle (backward: the transpose of a rotation is the rotation by the opposite angle).
__global__ void rope_kernel(float* x, const int32_t* positions, const float* inv_freq, int64_t N, int64_t H,
                            int64_t D, float direction) {
    const int64_t half = D / 2;
    const int64_t total = N * H * half;
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < total;
         p += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = p % half;
        int64_t nh = p / half;  // n * H + h
        int64_t n = nh / H;
        float angle = (float)positions[n] * inv_freq[i];
        float c = cosf(angle), s = direction * sinf(angle);
        float* row = x + nh * D;
        float x1 = row[i], x2 = row[i + half];
        row[i] = x1 * c - x2 * s;
        row[i + half] = x2 * c + x1 * s;
    }
}

void rope(hb_context* ctx, float* x, const int32_t* positions, const float* inv_freq, int64_t N, int64_t H, int64_t D,
          float direction) {
    set_device(ctx);
    rope_kernel<<<grid_stride_blocks(N * H * (D / 2), kThreads), kThreads, 0, stream(ctx)>>>(x, positions, inv_freq,
                                                                                              N, H, D, direction);
    HB_CUDA_LAUNCH_CHECK();
}

}  // namespace

// x (N,H,D): out1 = x1 cos - x2 sin, out2 = x2 cos + x1 sin.
void rope_forward(hb_context* ctx, float* x, const int32_t* positions, const float* inv_freq, int64_t N, int64_t H,
                  int64_t D) {
    rope(ctx, x, positions, inv_freq, N, H, D, 1.0f);
}

// dx (N,H,D) in place: dx1 = d1 cos + d2 sin, dx2 = d2 cos - d1 sin.
void rope_backward(hb_context* ctx, float* dx, const int32_t* positions, const float* inv_freq, int64_t N, int64_t H,
                   int64_t D) {
    rope(ctx, dx, positions, inv_freq, N, H, D, -1.0f);
}

}  // namespace hb::cuda
