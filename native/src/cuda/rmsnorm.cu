// rmsnorm.cu — RMSNorm (Zhang & Sennrich 2019) as in Llama: out = inp * rstd * weight,
// rstd = 1 / sqrt(mean(inp^2) + eps), one row of C values at a time.
#include "rmsnorm-kernels.cuh"
#include "cuda-ops.cuh"

namespace hb::cuda {

using namespace rmsnorm_kernels;

namespace {

template <typename Out>
void forward_rows(hb_context* ctx, const char* fn, Out* out, float* rstd, const float* inp, const float* weight,
                  int64_t N, int64_t C, float eps) {
    set_device(ctx);
    if (N > INT32_MAX) throw_error(HB_ERR_UNSUPPORTED, "%s: cuda backend takes N < 2^31 rows", fn);
    rmsnorm_forward_kernel<Out><<<(unsigned)N, kThreads, 0, stream(ctx)>>>(out, rstd, inp, weight, C, eps);
    HB_CUDA_LAUNCH_CHECK();
}

}  // namespace

void rmsnorm_forward(hb_context* ctx, float* out, float* rstd, const float* inp, const float* weight, int64_t N,
                     int64_t C, float eps) {
    forward_rows(ctx, "hb_rmsnorm_forward", out, rstd, inp, weight, N, C, eps);
}

// The same with a bf16 output (rounded once in the kernel; rstd fp32).
void rmsnorm_forward_bf16(hb_context* ctx, uint16_t* out, float* rstd, const float* inp, const float* weight,
                          int64_t N, int64_t C, float eps) {
    forward_rows(ctx, "hb_rmsnorm_forward_bf16", out, rstd, inp, weight, N, C, eps);
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
