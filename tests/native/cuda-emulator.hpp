// cuda-emulator.hpp — runs CUDA kernels written against the subset of CUDA that our *-kernels.cuh headers
// use, as host C++ on CPU threads: one std::thread per CUDA thread of a block, real barriers for
// __syncthreads and for the warp shuffles, blocks one after another. It is slow and it cannot show timing,
// memory-model or occupancy problems, but it runs the kernels' own indexing, masking, tiling and
// synchronisation logic, which is what a machine without a GPU can check.
//
// Supported: threadIdx/blockIdx/blockDim/gridDim (x, y, z), __syncthreads, __shfl_xor_sync with a full mask
// (every lane of the warp must call it, as in the kernels), atomicAdd on float, dynamic shared memory
// through HB_DYNAMIC_SHARED, shared arrays through HB_STATIC_SHARED (not a bare __shared__), expf/logf/
// fmaxf/sqrtf from <cmath> and rsqrtf, __syncwarp, the uint4 / float4 vector types, and a minimal nvcuda::wmma
// (bf16 16x16x16 tiles with fp32 accumulators; see the shim at the end of this file).
// Dynamic shared memory is 128-byte aligned and starts filled with NaN bit patterns (as real shared memory starts
// with garbage), so a kernel reading what it never wrote tends to show it.
// Include this before any kernel header.
#pragma once

#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <thread>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    dim3() = default;
    dim3(unsigned x_, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace emu {

// A reusable barrier for n threads (C++17 has no std::barrier).
class Barrier {
public:
    explicit Barrier(int n) : n_(n) {}
    void wait() {
        std::unique_lock<std::mutex> lock(mu_);
        const unsigned long gen = generation_;
        if (++arrived_ == n_) {
            arrived_ = 0;
            generation_++;
            cv_.notify_all();
        } else {
            cv_.wait(lock, [&] { return gen != generation_; });
        }
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    int n_;
    int arrived_ = 0;
    unsigned long generation_ = 0;
};

struct Warp {
    Barrier barrier{32};
    float lanes[32] = {};
};

struct Block {
    explicit Block(int threads, size_t shared_bytes)
        : barrier(threads), warps((size_t)(threads + 31) / 32), shared(shared_bytes / sizeof(float) + 32, NAN) {}
    Barrier barrier;
    std::vector<Warp> warps;
    std::vector<float> shared;  // dynamic shared memory (plus room to align it)
    float* shared_base() {      // 128-byte aligned, as wmma's 256-bit pointer alignment checks need
        const uintptr_t a = reinterpret_cast<uintptr_t>(shared.data());
        return shared.data() + ((128 - a % 128) % 128) / sizeof(float);
    }
    std::mutex statics_mutex;   // static shared arrays, by name: the first thread to ask allocates
    std::vector<std::pair<std::string, std::unique_ptr<double[]>>> statics;

    template <typename T>
    T* static_array(const char* name, size_t count) {
        std::lock_guard<std::mutex> lock(statics_mutex);
        for (auto& [n, p] : statics)
            if (n == name) return reinterpret_cast<T*>(p.get());
        const size_t doubles = (count * sizeof(T) + sizeof(double) - 1) / sizeof(double);  // aligned for any T
        statics.emplace_back(name, std::make_unique<double[]>(doubles));
        return reinterpret_cast<T*>(statics.back().second.get());
    }
};

inline thread_local dim3 tl_thread_idx, tl_block_idx;
inline thread_local Block* tl_block = nullptr;
inline dim3 g_grid_dim, g_block_dim;
inline std::mutex g_atomic_mutex;

}  // namespace emu

#define threadIdx (::emu::tl_thread_idx)
#define blockIdx (::emu::tl_block_idx)
#define blockDim (::emu::g_block_dim)
#define gridDim (::emu::g_grid_dim)
#define HB_DYNAMIC_SHARED(name) float* name = ::emu::tl_block->shared_base()
#define HB_STATIC_SHARED(type, name, count) type* name = ::emu::tl_block->static_array<type>(#name, (count))

inline void __syncthreads() { emu::tl_block->barrier.wait(); }

namespace emu {
inline Warp& this_warp() {
    const unsigned tid = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    return tl_block->warps[tid / 32];
}
inline unsigned lane_id() { return (threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) % 32; }
}  // namespace emu

// Every lane of the warp must call it (the kernels only use the full mask).
inline void __syncwarp(unsigned /*mask*/ = 0xffffffffu) { emu::this_warp().barrier.wait(); }

struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
struct alignas(16) float4 {
    float x, y, z, w;
};

inline float __shfl_xor_sync(unsigned /*mask*/, float v, int lane_mask) {
    const unsigned tid = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    emu::Warp& w = emu::tl_block->warps[tid / 32];
    const unsigned lane = tid % 32;
    w.lanes[lane] = v;
    w.barrier.wait();
    const float r = w.lanes[lane ^ (unsigned)lane_mask];
    w.barrier.wait();  // nobody overwrites lanes[] before every lane has read
    return r;
}

inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }

inline float atomicAdd(float* p, float v) {
    std::lock_guard<std::mutex> lock(emu::g_atomic_mutex);
    const float old = *p;
    *p = old + v;
    return old;
}

namespace emu {

// kernel<<<grid, block, shared_bytes>>>(args...), run to completion. block.x * block.y * block.z must be a
// multiple of 32 (whole warps).
template <typename Kernel, typename... Args>
void launch(dim3 grid, dim3 block, size_t shared_bytes, Kernel kernel, Args... args) {
    g_grid_dim = grid;
    g_block_dim = block;
    const int threads = (int)(block.x * block.y * block.z);
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                Block blk(threads, shared_bytes);
                std::vector<std::thread> pool;
                pool.reserve((size_t)threads);
                for (unsigned tz = 0; tz < block.z; tz++)
                    for (unsigned ty = 0; ty < block.y; ty++)
                        for (unsigned tx = 0; tx < block.x; tx++)
                            pool.emplace_back([=, &blk] {
                                tl_thread_idx = dim3(tx, ty, tz);
                                tl_block_idx = dim3(bx, by, bz);
                                tl_block = &blk;
                                kernel(args...);
                            });
                for (auto& t : pool) t.join();
            }
}

}  // namespace emu

// ---------------------------------------------------------------- nvcuda::wmma, the bf16 16x16x16 subset
// Each emulated lane holds the whole 16x16 tile in its fragment (num_elements = 256, element (i, j) of the
// logical matrix at x[16 * i + j]); a real GPU spreads the tile over the 32 lanes in an unspecified order, which is
// why the kernels may only touch fragment elements uniformly. load_matrix_sync and mma_sync compute the full tile in
// every lane (no communication needed). store_matrix_sync is warp-collective: a warp barrier, lane 0 writes the
// tile, a warp barrier (so a warp whose lanes do not all reach it deadlocks instead of passing). mma_sync forms each
// product exactly (bf16 x bf16 fits fp32) and accumulates in fp32, k in order. Loads and stores check the API's
// constraints: a 256-bit aligned pointer and ldm a multiple of 8 (bf16) or 4 (float) elements.
struct __nv_bfloat16 {
    uint16_t bits;
};

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
    static_assert(M == 16 && N == 16 && K == 16, "the shim has the 16x16x16 shape only");
    static constexpr int num_elements = 256;
    float x[256];
};

namespace detail {
inline float widen(__nv_bfloat16 h) {
    const uint32_t u = (uint32_t)h.bits << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}
inline void check(const void* p, unsigned ldm, unsigned multiple) {
    if (reinterpret_cast<uintptr_t>(p) % 32 != 0 || ldm % multiple != 0) {
        std::fprintf(stderr, "wmma shim: pointer %p not 256-bit aligned or ldm %u not a multiple of %u\n", p, ldm,
                     multiple);
        std::abort();
    }
}
template <typename Layout>
inline void load_bf16(float* x, const __nv_bfloat16* p, unsigned ldm) {
    check(p, ldm, 8);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++)
            x[16 * i + j] = widen(std::is_same_v<Layout, row_major> ? p[i * ldm + j] : p[j * ldm + i]);
}
}  // namespace detail

template <typename Use, typename T, typename Layout>
inline void fill_fragment(fragment<Use, 16, 16, 16, T, Layout>& f, float v) {
    for (float& e : f.x) e = v;
}
template <typename Layout>
inline void load_matrix_sync(fragment<matrix_a, 16, 16, 16, __nv_bfloat16, Layout>& f, const __nv_bfloat16* p,
                             unsigned ldm) {
    detail::load_bf16<Layout>(f.x, p, ldm);
}
template <typename Layout>
inline void load_matrix_sync(fragment<matrix_b, 16, 16, 16, __nv_bfloat16, Layout>& f, const __nv_bfloat16* p,
                             unsigned ldm) {
    detail::load_bf16<Layout>(f.x, p, ldm);
}
inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float>& f, const float* p, unsigned ldm,
                             layout_t layout) {
    detail::check(p, ldm, 4);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) f.x[16 * i + j] = layout == mem_row_major ? p[i * ldm + j] : p[j * ldm + i];
}
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm,
                              layout_t layout) {
    detail::check(p, ldm, 4);
    emu::Warp& w = emu::this_warp();
    w.barrier.wait();
    if (emu::lane_id() == 0)
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 16; j++) (layout == mem_row_major ? p[i * ldm + j] : p[j * ldm + i]) = f.x[16 * i + j];
    w.barrier.wait();
}
template <typename LA, typename LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float>& d,
                     const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LA>& a,
                     const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LB>& b,
                     const fragment<accumulator, 16, 16, 16, float>& c) {
    float r[256];
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            float acc = c.x[16 * i + j];
            for (int k = 0; k < 16; k++) acc += a.x[16 * i + k] * b.x[16 * k + j];
            r[16 * i + j] = acc;
        }
    std::memcpy(d.x, r, sizeof r);
}

}  // namespace nvcuda::wmma
