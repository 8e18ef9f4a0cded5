// embedding.cu — token embedding lookup and its scatter-add backward.
// Token ids live in device memory, so they cannot be checked without a host sync: an id outside [0,V)
// gives a zero row in the forward and is skipped in the backward (the CPU backend reports it instead).
#include "embedding-kernels.cuh"
#include "cuda-ops.cuh"

namespace hb::cuda {

using namespace embedding_kernels;

template <typename Table>
static void gather_rows(hb_context* ctx, float* out, const int32_t* tokens, const Table* wte, int64_t N, int64_t V,
                        int64_t C) {
    set_device(ctx);
    embedding_forward_kernel<Table><<<grid_stride_blocks(N * C, kThreads), kThreads, 0, stream(ctx)>>>(out, tokens,
                                                                                                        wte, N, V, C);
    HB_CUDA_LAUNCH_CHECK();
}

void embedding_forward(hb_context* ctx, float* out, const int32_t* tokens, const float* wte, int64_t N, int64_t V,
                       int64_t C) {
    gather_rows(ctx, out, tokens, wte, N, V, C);
}

// The same with a bf16 table, widened exactly in the kernel.
void embedding_forward_bf16(hb_context* ctx, float* out, const int32_t* tokens, const uint16_t* wte, int64_t N,
                            int64_t V, int64_t C) {
    gather_rows(ctx, out, tokens, wte, N, V, C);
}

void embedding_backward(hb_context* ctx, float* dwte, const float* dout, const int32_t* tokens, int64_t N, int64_t V,
                        int64_t C) {
    set_device(ctx);
    embedding_backward_kernel<<<grid_stride_blocks(N * C, kThreads), kThreads, 0, stream(ctx)>>>(dwte, dout, tokens,
                                                                                                  N, V, C);
    HB_CUDA_LAUNCH_CHECK();
}

}  // namespace hb::cuda
