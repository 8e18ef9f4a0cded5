// embedding.cu — token embedding lookup and its scatter-add backward.
// Token ids live in device memory, so they cannot be checked without a host sync: an id outside [0,V)
// gives a zero row in the forward and is skipped in the backward (the CPU backend reports it instead).
#include "cuda-ops.cuh"

namespace hb::cuda {

namespace {

constexpr int kThreads = 256;

// out (N,C) = wte (V,C)[tokens (N)]; one thread per output element.
__global__ void embedding_forward_kernel(float* out, const int32_t* tokens, const float* wte, int64_t N, int64_t V,
                                         int64_t C) {
    const int64_t total = N * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t n = i / C, c = i % C;
        int64_t tok = tokens[n];
        out[i] = (tok >= 0 && tok < V) ? wte[tok * C + c] : 0.0f;
    }
}

// dwte (V,C) += scatter of dout (N,C). Repeated tokens add to the same row, hence atomicAdd (the order of
// the additions, and so the last bits of the result, may vary between runs).
__global__ void embedding_backward_kernel(float* dwte, const float* dout, const int32_t* tokens, int64_t N, int64_t V,
                                          int64_t C) {
    const int64_t total = N * C;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t n = i / C, c = i % C;
        int64_t tok = tokens[n];
        if (tok >= 0 && tok < V) atomicAdd(&dwte[tok * C + c], dout[i]);
    }
}

}  // namespace

void embedding_forward(hb_context* ctx, float* out, const int32_t* tokens, const float* wte, int64_t N, int64_t V,
                       int64_t C) {
    set_device(ctx);
    embedding_forward_kernel<<<grid_stride_blocks(N * C, kThreads), kThreads, 0, stream(ctx)>>>(out, tokens, wte, N,
                                                                                                 V, C);
    HB_CUDA_LAUNCH_CHECK();
}

void embedding_backward(hb_context* ctx, float* dwte, const float* dout, const int32_t* tokens, int64_t N, int64_t V,
                        int64_t C) {
    set_device(ctx);
    embedding_backward_kernel<<<grid_stride_blocks(N * C, kThreads), kThreads, 0, stream(ctx)>>>(dwte, dout, tokens,
                                                                                                  N, V, C);
    HB_CUDA_LAUNCH_CHECK();
}

}  // namespace hb::cuda
