// swiglu.cu — SwiGLU of the Llama MLP: out = silu(gate) * up, silu(g) = g * sigmoid(g).
#include "swiglu-kernels.cuh"
#include "cuda-ops.cuh"

namespace hb::cuda {

using namespace swiglu_kernels;

template <typename Out>
static void forward_elements(hb_context* ctx, Out* out, const float* gate, const float* up, int64_t n) {
    set_device(ctx);
    swiglu_forward_kernel<Out><<<grid_stride_blocks(n, kThreads), kThreads, 0, stream(ctx)>>>(out, gate, up, n);
    HB_CUDA_LAUNCH_CHECK();
}

void swiglu_forward(hb_context* ctx, float* out, const float* gate, const float* up, int64_t n) {
    forward_elements(ctx, out, gate, up, n);
}

// The same with a bf16 output (rounded once in the kernel).
void swiglu_forward_bf16(hb_context* ctx, uint16_t* out, const float* gate, const float* up, int64_t n) {
    forward_elements(ctx, out, gate, up, n);
}

void swiglu_backward(hb_context* ctx, float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                     int64_t n) {
    set_device(ctx);
    swiglu_backward_kernel<<<grid_stride_blocks(n, kThreads), kThreads, 0, stream(ctx)>>>(dgate, dup, dout, gate,
                                                                                           up, n);
    HB_CUDA_LAUNCH_CHECK();
}

}  // namespace hb::cuda
