// cuda-emulator.hpp — runs CUDA kernels written against the subset of CUDA that our *-kernels.cuh headers
// use, as host C++ on CPU threads: one std::thread per CUDA thread of a block, real barriers for
// __syncthreads and for the warp shuffles, blocks one after another. It is slow and it cannot show timing,
// memory-model or occupancy problems, but it runs the kernels' own indexing, masking, tiling and
// synchronisation logic, which is what a machine without a GPU can check.
//
// Supported: threadIdx/blockIdx/blockDim/gridDim (x, y, z), __syncthreads, __shfl_xor_sync with a full mask
// (every lane of the warp must call it, as in the kernels), atomicAdd on float, dynamic shared memory
// through HB_DYNAMIC_SHARED, shared arrays through HB_STATIC_SHARED (not a bare __shared__), expf/logf/
// fmaxf/sqrtf from <cmath> and rsqrtf.
// Include this before any kernel header.
#pragma once

#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <thread>
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
        : barrier(threads), warps((size_t)(threads + 31) / 32), shared(shared_bytes / sizeof(float) + 1) {}
    Barrier barrier;
    std::vector<Warp> warps;
    std::vector<float> shared;  // dynamic shared memory
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
#define HB_DYNAMIC_SHARED(name) float* name = ::emu::tl_block->shared.data()
#define HB_STATIC_SHARED(type, name, count) type* name = ::emu::tl_block->static_array<type>(#name, (count))

inline void __syncthreads() { emu::tl_block->barrier.wait(); }

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
