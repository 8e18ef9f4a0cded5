// cuda-register.cu — wires the CUDA kernels into the CUDA ops table.
// An op left NULL here is reported by the API as "not implemented by the cuda backend".
#include "cuda-ops.cuh"

namespace hb::cuda {

void register_kernels(hb_backend_ops& ops) {
    ops.matmul = matmul;
    ops.axpy = axpy;
    ops.convert_f32_to_bf16 = convert_f32_to_bf16;
    ops.convert_bf16_to_f32 = convert_bf16_to_f32;
    ops.matmul_bf16 = matmul_bf16;
    ops.matmul_bf16_mixed = matmul_bf16_mixed;
    ops.embedding_forward_bf16 = embedding_forward_bf16;
    ops.rmsnorm_forward_bf16 = rmsnorm_forward_bf16;
    ops.swiglu_forward_bf16 = swiglu_forward_bf16;
    ops.cross_entropy_forward_bf16 = cross_entropy_forward_bf16;
    ops.cross_entropy_backward_bf16 = cross_entropy_backward_bf16;
    ops.add = add;
    ops.scale = scale;
    ops.embedding_forward = embedding_forward;
    ops.embedding_backward = embedding_backward;
    ops.rmsnorm_forward = rmsnorm_forward;
    ops.rmsnorm_backward = rmsnorm_backward;
    ops.rope_forward = rope_forward;
    ops.rope_backward = rope_backward;
    ops.attention_forward = attention_forward;
    ops.attention_backward = attention_backward;
    ops.attention_forward_bf16 = attention_forward_bf16;
    ops.attention_backward_bf16 = attention_backward_bf16;
    ops.swiglu_forward = swiglu_forward;
    ops.swiglu_backward = swiglu_backward;
    ops.cross_entropy_forward = cross_entropy_forward;
    ops.cross_entropy_backward = cross_entropy_backward;
    ops.lora_forward = lora_forward;
    ops.lora_backward = lora_backward;
    ops.sum_squares = sum_squares;
    ops.clip_scale = clip_scale;
    ops.adamw_update = adamw_update;
    ops.sum_squares_multi = sum_squares_multi;
    ops.adamw_update_multi = adamw_update_multi;
}

}  // namespace hb::cuda
