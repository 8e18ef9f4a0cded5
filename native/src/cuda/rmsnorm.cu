// rmsnorm.cu — RMSNorm (Zhang & Sennrich 2019) as in Llama: out = inp * rstd * weight,
// rstd = 1 / sqrt(mean(inp^2) + eps), one row of C values at a time.
#include "cuda-ops.cuh"

namespace hb::cuda {

namespace {

constexpr int kThreads = 256;  // one block per row; a multiple of 32 (block_sum)

// out (N,C), rstd (N) = f(inp (N,C), weight (C)); block n handles row n.
__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* inp, const float* weight, int64_t C,
                                       float eps) {
    __shared__ float shared[32];
    const int64_t n = blockIdx.x;
    const float* x = inp + n * C;
    float ss = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) ss += x[c] * x[c];
    ss = block_sum(ss, shared);
    const float r = rsqrtf(ss / (float)C + eps);
    float* o = out + n * C;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) o[c] = x[c] * r * weight[c];
    if (threadIdx.x == 0) rstd[n] = r;
}

// dinp (N,C) += dout * d out/d inp. With g = dout * weight and r = rstd[n]:
//   dinp_i += r * g_i - r^3 / C * inp_i * sum_j g_j inp_j.
__global__ void rmsnorm_backward_dinp_kernel(float* dinp, const float* dout, const float* inp, const float* weight,
                                             const float* rstd, int64_t C) {
    __shared__ float shared[32];
    const int64_t n = blockIdx.x;
    const float* x = inp + n * C;
    const float* d = dout + n * C;
    float dot = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dot += d[c] * weight[c] * x[c];
    dot = block_sum(dot, shared);
    const float r = rstd[n];
    const float k = r * r * r * dot / (float)C;
    float* dx = dinp + n * C;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dx[c] += r * d[c] * weight[c] - k * x[c];
}

// dweight (C) += sum_n dout[n,c] * inp[n,c] * rstd[n]. Block (32 x 8) covers 32 columns and kRowsPerBlock rows:
// columns are coalesced across a warp, the 8 row lanes are summed in shared memory, then one atomicAdd per
// column and block.
constexpr int kRowsPerBlock = 256;
__global__ void rmsnorm_backward_dweight_kernel(float* dweight, const float* dout, const float* inp,
                                                const float* rstd, int64_t N, int64_t C) {
    __shared__ float partial[8][33];
    const int64_t c = blockIdx.x * 32 + threadIdx.x;
    const int64_t n0 = (int64_t)blockIdx.y * kRowsPerBlock;
    const int64_t n1 = n0 + kRowsPerBlock < N ? n0 + kRowsPerBlock : N;
    float acc = 0.0f;
    if (c < C)
        for (int64_t n = n0 + threadIdx.y; n < n1; n += blockDim.y) acc += dout[n * C + c] * inp[n * C + c] * rstd[n];
    partial[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float s = 0.0f;
        for (int j = 0; j < 8; j++) s += partial[j][threadIdx.x];
        atomicAdd(&dweight[c], s);
    }
}

}  // namespace

void rmsnorm_forward(hb_context* ctx, float* out, float* rstd, const float* inp, const float* weight, int64_t N,
                     int64_t C, float eps) {
    set_device(ctx);
    if (N > INT32_MAX) throw_error(HB_ERR_UNSUPPORTED, "hb_rmsnorm_forward: cuda backend takes N < 2^31 rows");
    rmsnorm_forward_kernel<<<(unsigned)N, kThreads, 0, stream(ctx)>>>(out, rstd, inp, weight, C, eps);
    HB_CUDA_LAUNCH_CHECK();
}

void rmsnorm_backward(hb_context* ctx, float* dinp, float* dweight, const float* dout, const float* inp,
                      const float* weight, const float* rstd, int64_t N, int64_t C) {
    set_device(ctx);
    if (N > INT32_MAX) throw_error(HB_ERR_UNSUPPORTED, "hb_rmsnorm_backward: cuda backend takes N < 2^31 rows");
    rmsnorm_backward_dinp_kernel<<<(unsigned)N, kThreads, 0, stream(ctx)>>>(dinp, dout, inp, weight, rstd, C);
    HB_CUDA_LAUNCH_CHECK();
    if (dweight != nullptr) {
        int64_t col_blocks = (C + 31) / 32, row_blocks = (N + kRowsPerBlock - 1) / kRowsPerBlock;
        if (row_blocks > 65535 || col_blocks > INT32_MAX)
            throw_error(HB_ERR_UNSUPPORTED, "hb_rmsnorm_backward: cuda backend grid too large (N=%lld C=%lld)",
                        (long long)N, (long long)C);
        dim3 grid((unsigned)col_blocks, (unsigned)row_blocks);
        rmsnorm_backward_dweight_kernel<<<grid, dim3(32, 8), 0, stream(ctx)>>>(dweight, dout, inp, rstd, N, C);
        HB_CUDA_LAUNCH_CHECK();
    }
}

}  // namespace hb::cuda
