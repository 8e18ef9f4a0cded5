// test-runtime.cpp — status and error paths of the runtime API: build info, devices, contexts, memory.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "humpback.h"

namespace {

std::string last_error() { return hb_last_error(); }

TEST(Runtime, AbiVersionMatchesHeader) { EXPECT_EQ(hb_abi_version(), (uint32_t)HB_ABI_VERSION); }

TEST(Runtime, StatusStringsAreDistinct) {
    EXPECT_STREQ(hb_status_to_string(HB_OK), "ok");
    EXPECT_STREQ(hb_status_to_string(HB_ERR_INVALID_ARGUMENT), "invalid argument");
    EXPECT_STREQ(hb_status_to_string((hb_status)999), "unknown status");
}

TEST(Runtime, BuildInfoNamesBlas) {
    hb_build_info info;
    ASSERT_EQ(hb_get_build_info(&info), HB_OK);
    EXPECT_EQ(info.abi_version, (uint32_t)HB_ABI_VERSION);
    EXPECT_NE(std::string(info.blas).find("OpenBLAS"), std::string::npos);
    EXPECT_GE(info.max_threads, 1);
}

TEST(Runtime, NullOutParameterIsAnErrorNamingTheArgument) {
    EXPECT_EQ(hb_get_build_info(nullptr), HB_ERR_INVALID_ARGUMENT);
    EXPECT_NE(last_error().find("hb_get_build_info: out is NULL"), std::string::npos) << last_error();
}

TEST(Runtime, SuccessClearsTheLastError) {
    EXPECT_EQ(hb_get_build_info(nullptr), HB_ERR_INVALID_ARGUMENT);
    hb_build_info info;
    EXPECT_EQ(hb_get_build_info(&info), HB_OK);
    EXPECT_EQ(last_error(), "");
}

TEST(Runtime, DeviceCountWithoutGpuIsZeroNotAnError) {
    int32_t n = -1;
    ASSERT_EQ(hb_cuda_device_count(&n), HB_OK) << last_error();
    EXPECT_GE(n, 0);
}

TEST(Runtime, UnknownDeviceReportsNoDevice) {
    hb_device_info info;
    EXPECT_EQ(hb_cuda_device_info(1000, &info), HB_ERR_NO_DEVICE);
    EXPECT_NE(last_error().find("1000"), std::string::npos) << last_error();
}

TEST(Runtime, StructLayoutIntrospection) {
    int64_t off = -1, size = -1;
    ASSERT_EQ(hb_struct_layout("hb_build_info", "blas", &off, &size), HB_OK);
    EXPECT_EQ(off, (int64_t)offsetof(hb_build_info, blas));
    EXPECT_EQ(size, 64);
    ASSERT_EQ(hb_struct_layout("hb_device_info", "", &off, &size), HB_OK);
    EXPECT_EQ(size, (int64_t)sizeof(hb_device_info));
    EXPECT_EQ(hb_struct_layout("hb_device_info", "nope", &off, &size), HB_ERR_INVALID_ARGUMENT);
}

class CpuContext : public ::testing::Test {
protected:
    hb_context* ctx = nullptr;
    void SetUp() override { ASSERT_EQ(hb_context_create(HB_BACKEND_CPU, 0, 0, &ctx), HB_OK) << last_error(); }
    void TearDown() override { hb_context_free(ctx); }
};

TEST_F(CpuContext, AllocCopyMemsetRoundTrip) {
    const int64_t n = 1000;
    void* dev = nullptr;
    ASSERT_EQ(hb_alloc(ctx, n * 4, &dev), HB_OK);
    std::vector<float> src(n), dst(n, -1.0f);
    for (int64_t i = 0; i < n; i++) src[i] = (float)i * 0.5f;
    ASSERT_EQ(hb_copy_to_device(ctx, dev, src.data(), n * 4), HB_OK);
    ASSERT_EQ(hb_copy_to_host(ctx, dst.data(), dev, n * 4), HB_OK);
    EXPECT_EQ(src, dst);
    ASSERT_EQ(hb_memset(ctx, dev, 0, n * 4), HB_OK);
    ASSERT_EQ(hb_copy_to_host(ctx, dst.data(), dev, n * 4), HB_OK);
    for (float x : dst) ASSERT_EQ(x, 0.0f);
    hb_free(ctx, dev);
}

TEST_F(CpuContext, NegativeSizeIsRejected) {
    void* p = nullptr;
    EXPECT_EQ(hb_alloc(ctx, -5, &p), HB_ERR_INVALID_ARGUMENT);
    EXPECT_NE(last_error().find("bytes must be > 0 (got -5)"), std::string::npos) << last_error();
    EXPECT_EQ(p, nullptr);
    EXPECT_EQ(hb_memset(ctx, &p, 0, -1), HB_ERR_INVALID_ARGUMENT);
}

TEST_F(CpuContext, NullPointersAreRejected) {
    float x = 0;
    EXPECT_EQ(hb_copy_to_device(ctx, nullptr, &x, 4), HB_ERR_INVALID_ARGUMENT);
    EXPECT_NE(last_error().find("dst_device is NULL"), std::string::npos) << last_error();
    EXPECT_EQ(hb_copy_to_host(ctx, &x, nullptr, 4), HB_ERR_INVALID_ARGUMENT);
    EXPECT_NE(last_error().find("src_device is NULL"), std::string::npos) << last_error();
}

TEST_F(CpuContext, HugeAllocationFailsCleanly) {
    void* p = nullptr;
    EXPECT_EQ(hb_alloc(ctx, (int64_t)1 << 62, &p), HB_ERR_OUT_OF_MEMORY);
    EXPECT_EQ(p, nullptr);
}

TEST(Runtime, FreeFunctionsAcceptNull) {
    hb_context_free(nullptr);
    hb_free(nullptr, nullptr);
    SUCCEED();
}

TEST(Runtime, NullContextIsRejected) {
    void* p = nullptr;
    EXPECT_EQ(hb_alloc(nullptr, 4, &p), HB_ERR_INVALID_ARGUMENT);
    EXPECT_NE(last_error().find("ctx is NULL"), std::string::npos);
}

TEST(Runtime, CudaContextWithoutDeviceIsNoDevice) {
    int32_t n = 0;
    ASSERT_EQ(hb_cuda_device_count(&n), HB_OK);
    if (n > 0) GTEST_SKIP() << "a CUDA device is present; this test covers GPU-less machines";
    hb_context* ctx = nullptr;
    EXPECT_EQ(hb_context_create(HB_BACKEND_CUDA, 0, 0, &ctx), HB_ERR_NO_DEVICE);
    EXPECT_EQ(ctx, nullptr);
    EXPECT_FALSE(last_error().empty());
}

TEST(Runtime, UnknownBackendIsRejected) {
    hb_context* ctx = nullptr;
    EXPECT_EQ(hb_context_create((hb_backend_kind)7, 0, 0, &ctx), HB_ERR_INVALID_ARGUMENT);
}

}  // namespace
