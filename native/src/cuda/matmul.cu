// matmul.cu — out (M,N) = alpha * op(a) @ op(b) + beta * out on row-major fp32 data, through cuBLASLt
// (cublasGemmEx when Lt has no algorithm for a shape, or when HB_CUDA_GEMM=cublas).
//
// cuBLAS is column-major: gemm-layout.hpp maps the row-major product onto it (operands swapped, transpose
// flags kept); tests/native/test-cuda-emulated.cpp checks that mapping on the host.
//
// Compute type (State::matmul_mode, from HB_CUDA_MATMUL): fp32 = CUBLAS_COMPUTE_32F (exact fp32 FMA, no
// tensor cores); tf32 = CUBLAS_COMPUTE_32F_FAST_TF32; bf16 = CUBLAS_COMPUTE_32F_FAST_16BF. Inputs and
// outputs stay fp32 in all modes; only the multiplications inside cuBLAS lose precision.
// hb_matmul_bf16 runs the same code with bf16 operands (CUDA_R_16BF), fp32 output and CUBLAS_COMPUTE_32F
// accumulation (tensor cores on sm_80+), whatever the mode; hb_matmul_bf16_mixed rounds its fp32 operands to bf16
// into the context's scratch first.
#include <climits>

#include "cuda-ops.cuh"
#include "gemm-layout.hpp"

namespace hb::cuda {

namespace {

cublasComputeType_t compute_type(MatmulMode mode) {
    switch (mode) {
        case MatmulMode::tf32: return CUBLAS_COMPUTE_32F_FAST_TF32;
        case MatmulMode::bf16: return CUBLAS_COMPUTE_32F_FAST_16BF;
        case MatmulMode::fp32: break;
    }
    return CUBLAS_COMPUTE_32F;
}

// Largest power of two (at most 256) dividing the address: cuBLASLt's heuristic assumes 256-byte
// aligned pointers unless told otherwise, and our callers pass offsets into larger buffers.
int alignment_of(const void* p) {
    auto v = (uintptr_t)p;
    int a = 256;
    while (a > 4 && (v % (uintptr_t)a) != 0) a >>= 1;
    return a;
}

// RAII holders so that a throwing check never leaks a descriptor.
struct LtDesc {
    cublasLtMatmulDesc_t d = nullptr;
    ~LtDesc() { if (d) cublasLtMatmulDescDestroy(d); }
};
struct LtLayout {
    cublasLtMatrixLayout_t l = nullptr;
    ~LtLayout() { if (l) cublasLtMatrixLayoutDestroy(l); }
};
struct LtPref {
    cublasLtMatmulPreference_t p = nullptr;
    ~LtPref() { if (p) cublasLtMatmulPreferenceDestroy(p); }
};

// a and b are fp32 (operand_type CUDA_R_32F) or bf16 (CUDA_R_16BF); out is fp32.
void gemm_ex(hb_context* ctx, float* out, const void* a, const void* b, cudaDataType_t operand_type, int64_t M,
             int64_t N, int64_t K, int32_t trans_a, int32_t trans_b, float alpha, float beta) {
    State& st = state(ctx);
    const cublasComputeType_t compute =
        operand_type == CUDA_R_16BF ? CUBLAS_COMPUTE_32F : compute_type(st.matmul_mode);
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX)
        throw_error(HB_ERR_UNSUPPORTED, "hb_matmul: cublasGemmEx takes int dimensions (M=%lld N=%lld K=%lld)",
                    (long long)M, (long long)N, (long long)K);
    const ColumnMajorGemm g = column_major_gemm(M, N, K, trans_a, trans_b);
    const cublasOperation_t op_first = g.trans_first ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_second = g.trans_second ? CUBLAS_OP_T : CUBLAS_OP_N;
    HB_CUBLAS_CHECK(cublasGemmEx(st.cublas, op_first, op_second, (int)g.m, (int)g.n, (int)g.k, &alpha, b, operand_type,
                                 (int)g.ld_first, a, operand_type, (int)g.ld_second, &beta, out, CUDA_R_32F, (int)g.ldc,
                                 compute, CUBLAS_GEMM_DEFAULT));
}

// Returns false when cuBLASLt has no algorithm for this problem (the caller then uses cublasGemmEx).
bool gemm_lt(hb_context* ctx, float* out, const void* a, const void* b, cudaDataType_t operand_type, int64_t M,
             int64_t N, int64_t K, int32_t trans_a, int32_t trans_b, float alpha, float beta) {
    State& st = state(ctx);
    const cublasComputeType_t compute =
        operand_type == CUDA_R_16BF ? CUBLAS_COMPUTE_32F : compute_type(st.matmul_mode);
    const ColumnMajorGemm g = column_major_gemm(M, N, K, trans_a, trans_b);
    const cublasOperation_t op_first = g.trans_first ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_second = g.trans_second ? CUBLAS_OP_T : CUBLAS_OP_N;

    LtDesc desc;
    HB_CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc.d, compute, CUDA_R_32F));
    HB_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(desc.d, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof op_first));
    HB_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(desc.d, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof op_second));

    // Layouts take the stored (column-major) shapes: b as cuBLAS' A, a as its B, out as C and D.
    LtLayout lb, la, lc;
    HB_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lb.l, operand_type, (uint64_t)g.rows_first, (uint64_t)g.cols_first,
                                               g.ld_first));
    HB_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&la.l, operand_type, (uint64_t)g.rows_second, (uint64_t)g.cols_second,
                                               g.ld_second));
    HB_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lc.l, CUDA_R_32F, (uint64_t)g.m, (uint64_t)g.n, g.ldc));

    const int align_a = alignment_of(a), align_b = alignment_of(b), align_c = alignment_of(out);
    const LtKey key{M, N, K, trans_a, trans_b, align_a, align_b, align_c, (int)operand_type};
    LtAlgo entry;
    bool cached = false;
    {
        std::lock_guard<std::mutex> lock(st.lt_mutex);
        for (const LtAlgo& e : st.lt_cache)
            if (e.key == key) {
                entry = e;
                cached = true;
                break;
            }
    }
    if (!cached) {
        LtPref pref;
        HB_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref.p));
        uint64_t ws = st.workspace_bytes;
        // cuBLAS' operand A is our b, its B is our a (gemm-layout.hpp).
        uint32_t al_first = (uint32_t)align_b, al_second = (uint32_t)align_a, al_c = (uint32_t)align_c;
        HB_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                             sizeof ws));
        HB_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                             &al_first, sizeof al_first));
        HB_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                             &al_second, sizeof al_second));
        HB_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                             &al_c, sizeof al_c));
        HB_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                             &al_c, sizeof al_c));
        cublasLtMatmulHeuristicResult_t result{};
        int found = 0;
        cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(st.cublaslt, desc.d, lb.l, la.l, lc.l, lc.l, pref.p, 1,
                                                          &result, &found);
        entry.key = key;
        entry.found = s == CUBLAS_STATUS_SUCCESS && found > 0 && result.state == CUBLAS_STATUS_SUCCESS;
        if (entry.found) entry.algo = result.algo;
        std::lock_guard<std::mutex> lock(st.lt_mutex);
        st.lt_cache.push_back(entry);
    }
    if (!entry.found) return false;
    HB_CUBLAS_CHECK(cublasLtMatmul(st.cublaslt, desc.d, &alpha, b, lb.l, a, la.l, &beta, out, lc.l, out, lc.l,
                                   &entry.algo, st.workspace, st.workspace_bytes, st.stream));
    return true;
}

}  // namespace

// out (M,N) = alpha * op(a) (M,K) @ op(b) (K,N) + beta * out. With beta == 0, out is not read (BLAS rule):
// callers rely on it to overwrite a buffer that may hold anything.
// cuBLASLt first (unless HB_CUDA_GEMM=cublas), cublasGemmEx when Lt has no algorithm for the problem.
static void gemm(hb_context* ctx, float* out, const void* a, const void* b, cudaDataType_t operand_type, int64_t M,
                 int64_t N, int64_t K, int32_t trans_a, int32_t trans_b, float alpha, float beta) {
    set_device(ctx);
    if (state(ctx).gemm_api == GemmApi::lt &&
        gemm_lt(ctx, out, a, b, operand_type, M, N, K, trans_a, trans_b, alpha, beta))
        return;
    gemm_ex(ctx, out, a, b, operand_type, M, N, K, trans_a, trans_b, alpha, beta);
}

void matmul(hb_context* ctx, float* out, const float* a, const float* b, int64_t M, int64_t N, int64_t K,
            int32_t trans_a, int32_t trans_b, float alpha, float beta) {
    gemm(ctx, out, a, b, CUDA_R_32F, M, N, K, trans_a, trans_b, alpha, beta);
}

// The same with bf16 operands: out (M,N) fp32 = alpha * op(a) @ op(b) + beta * out, fp32 accumulation.
void matmul_bf16(hb_context* ctx, float* out, const uint16_t* a, const uint16_t* b, int64_t M, int64_t N, int64_t K,
                 int32_t trans_a, int32_t trans_b, float alpha, float beta) {
    gemm(ctx, out, a, b, CUDA_R_16BF, M, N, K, trans_a, trans_b, alpha, beta);
}

// hb_matmul_bf16 where an operand may be fp32: fp32 operands are rounded to bf16 into the context's scratch (each
// copy 256-byte aligned), then the bf16 GEMM. out (M,N) fp32 = alpha * op(bf16(a)) @ op(bf16(b)) + beta * out.
void matmul_bf16_mixed(hb_context* ctx, float* out, const void* a, hb_dtype a_type, const void* b, hb_dtype b_type,
                       int64_t M, int64_t N, int64_t K, int32_t trans_a, int32_t trans_b, float alpha, float beta) {
    set_device(ctx);
    const bool round_a = a_type == HB_DTYPE_F32, round_b = b_type == HB_DTYPE_F32;
    const size_t a_bytes = round_a ? ((size_t)(M * K) * sizeof(uint16_t) + 255) / 256 * 256 : 0;
    const size_t b_bytes = round_b ? (size_t)(K * N) * sizeof(uint16_t) : 0;
    char* copies = a_bytes + b_bytes > 0 ? static_cast<char*>(scratch(ctx, a_bytes + b_bytes)) : nullptr;
    const uint16_t* a16 = static_cast<const uint16_t*>(a);
    const uint16_t* b16 = static_cast<const uint16_t*>(b);
    if (round_a) {
        uint16_t* dst = reinterpret_cast<uint16_t*>(copies);
        convert_f32_to_bf16(ctx, dst, static_cast<const float*>(a), M * K);
        a16 = dst;
    }
    if (round_b) {
        uint16_t* dst = reinterpret_cast<uint16_t*>(copies + a_bytes);
        convert_f32_to_bf16(ctx, dst, static_cast<const float*>(b), K * N);
        b16 = dst;
    }
    gemm(ctx, out, a16, b16, CUDA_R_16BF, M, N, K, trans_a, trans_b, alpha, beta);
}

}  // namespace hb::cuda
