// rope.cu — rotary position embedding in HF's "rotate_half" layout: element i of a head pairs with
// element i + D/2, and the pair turns by angle positions[n] * inv_freq[i] (i < D/2).
// The angle is formed in fp32 like HF's reference, then cosf/sinf (full-precision, not the fast intrinsics).
#include "rope-kernels.cuh"
#include "cuda-ops.cuh"

namespace hb::cuda {

using namespace rope_kernels;

namespace {

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
