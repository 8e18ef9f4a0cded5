// swiglu.cu — SwiGLU of the Llama MLP: out = silu(gate) * up, silu(g) = g * sigmoid(g).
#include "cuda-ops.cuh"

namespace hb::cuda {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// out (n) = silu(gate (n)) * up (n)
__global__ void swiglu_forward_kernel(float* out, const float* gate, const float* up, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float g = gate[i];
        out[i] = g * sigmoid(g) * up[i];
    }
}

// dgate, dup (n) overwritten. d silu(g)/dg = s * (1 + g * (1 - s)) with s = sigmoid(g).
__global__ void swiglu_backward_kernel(float* dgate, float* dup, const float* dout, const float* gate,
                                       const float* up, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float g = gate[i], u = up[i], d = dout[i];
        float s = sigmoid(g);
        dgate[i] = d * u * s * (1.0f + g * (1.0f - s));
        dup[i] = d * g * s;
    }
}

}  // namespace

void swiglu_forward(hb_context* ctx, float* out, const float* gate, const float* up, int64_t n) {
    set_device(ctx);
    swiglu_forward_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream(ctx)>>>(out, gate, up, n);
    HB_CUDA_LAUNCH_CHECK();
}

void swiglu_backward(hb_context* ctx, float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                     int64_t n) {
    set_device(ctx);
    swiglu_backward_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream(ctx)>>>(dgate, dup, dout, gate,
                                                                                           up, n);
    HB_CUDA_LAUNCH_CHECK();
}

}  // namespace hb::cuda
