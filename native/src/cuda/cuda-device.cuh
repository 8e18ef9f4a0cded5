// cuda-device.cuh — device helpers shared by the kernels (warp and block reductions). Like the
// *-kernels.cuh headers, it uses nothing but CUDA built-ins, so that tests/native/cuda-emulator.hpp can
// compile it as host C++ and run the kernels on CPU threads.
#pragma once

// The dynamic shared memory of a kernel, as floats (the emulator defines its own before including us).
#if !defined(HB_DYNAMIC_SHARED)
#define HB_DYNAMIC_SHARED(name) extern __shared__ float name[]
#endif
// A fixed-size shared array of the block (1-D; index 2-D tiles by hand).
#if !defined(HB_STATIC_SHARED)
#define HB_STATIC_SHARED(type, name, count) __shared__ type name[count]
#endif

namespace hb::cuda {

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the whole block; every thread gets the result. blockDim.x must be a multiple of 32 (at most
// 1024) and every thread of the block must call it. `shared` holds 32 floats.
__device__ __forceinline__ float block_sum(float v, float* shared) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads();  // shared may still be read by a previous call
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = lane < nwarps ? shared[lane] : 0.0f;
    return warp_sum(v);
}

}  // namespace hb::cuda
