using System.Runtime.InteropServices;
using Humpback.Native;
using Xunit;

namespace Humpback.Tests.Native;

public class InteropTests
{
    [Fact]
    public void LibraryLoadsWithTheExpectedAbi()
    {
        NativeBuildInfo info = HumpbackLibrary.GetBuildInfo();
        Assert.Equal(HumpbackLibrary.ExpectedAbiVersion, info.AbiVersion);
        Assert.Contains("OpenBLAS", info.Blas, StringComparison.Ordinal);
        Assert.True(File.Exists(info.Path), info.Path);
    }

    [Fact]
    public void BadCallSurfacesTheNativeMessageAndTheProcessSurvives()
    {
        using var ctx = ContextHandle.Create(HbBackendKind.Cpu);
        var e = Assert.Throws<HumpbackNativeException>(() => NativeBuffer.Allocate(ctx, -8));
        Assert.Equal(HbStatus.InvalidArgument, e.Status);
        Assert.Contains("hb_alloc: bytes must be > 0 (got -8)", e.Message, StringComparison.Ordinal);
        // The context is still usable afterwards.
        using NativeBuffer ok = NativeBuffer.Allocate(ctx, 64);
        Assert.Equal(64, ok.Bytes);
    }

    [Fact]
    public void NullPointerIsReportedByName()
    {
        using var ctx = ContextHandle.Create(HbBackendKind.Cpu);
        var e = Assert.Throws<HumpbackNativeException>(() =>
            HbCheck.Check(NativeMethods.Matmul(ctx, 0, 0, 0, 2, 2, 2, 0, 0, 1, 0)));
        Assert.Contains("hb_matmul: out is NULL", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InconsistentAttentionShapesNameTheArgument()
    {
        using var ctx = ContextHandle.Create(HbBackendKind.Cpu);
        using NativeBuffer buf = NativeBuffer.Allocate(ctx, 4096);
        nint p = buf.Pointer;
        var e = Assert.Throws<HumpbackNativeException>(() =>
            HbCheck.Check(NativeMethods.AttentionForward(ctx, p, p, p, p, p, 0, 1, 4, 3, 2, 8, 0.3f)));
        Assert.Equal(HbStatus.InvalidArgument, e.Status);
        Assert.Contains("H (3) must be a multiple of KVH (2)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownCudaDeviceRaisesNoDevice()
    {
        var e = Assert.Throws<HumpbackNativeException>(() => ContextHandle.Create(HbBackendKind.Cuda, device: 4096));
        Assert.Equal(HbStatus.NoDevice, e.Status);
        Assert.Contains("4096", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GpuLessMachineReportsNoDevicesCleanly()
    {
        IReadOnlyList<CudaDevice> devices = HumpbackLibrary.GetCudaDevices();
        Assert.NotNull(devices);
        Assert.All(devices, d => Assert.False(string.IsNullOrEmpty(d.Name)));
    }

    [Fact]
    public unsafe void CopiesRoundTripThroughContextMemory()
    {
        using var ctx = ContextHandle.Create(HbBackendKind.Cpu);
        float[] src = Enumerable.Range(0, 100).Select(i => i * 0.25f - 3f).ToArray();
        float[] dst = new float[100];
        using NativeBuffer buf = NativeBuffer.Allocate(ctx, 400);
        fixed (float* s = src) HbCheck.Check(NativeMethods.CopyToDevice(ctx, buf.Pointer, s, 400));
        fixed (float* d = dst) HbCheck.Check(NativeMethods.CopyToHost(ctx, d, buf.Pointer, 400));
        Assert.Equal(src, dst);
    }

    [Fact]
    public unsafe void Bf16ExportsConvertAndMultiply()
    {
        using var ctx = ContextHandle.Create(HbBackendKind.Cpu);
        // a (2,3) and b (3,2) hold values exact in bf16, so the product is exact too.
        float[] a = [1f, -2f, 0.5f, 3f, 0.25f, -1f], b = [2f, 1f, -1f, 4f, 8f, -0.5f];
        using NativeBuffer fa = NativeBuffer.Allocate(ctx, 24), fb = NativeBuffer.Allocate(ctx, 24);
        using NativeBuffer ha = NativeBuffer.Allocate(ctx, 12), hb = NativeBuffer.Allocate(ctx, 12), outBuf = NativeBuffer.Allocate(ctx, 16);
        fixed (float* p = a) HbCheck.Check(NativeMethods.CopyToDevice(ctx, fa.Pointer, p, 24));
        fixed (float* p = b) HbCheck.Check(NativeMethods.CopyToDevice(ctx, fb.Pointer, p, 24));
        HbCheck.Check(NativeMethods.ConvertF32ToBf16(ctx, ha.Pointer, fa.Pointer, 6));
        HbCheck.Check(NativeMethods.ConvertF32ToBf16(ctx, hb.Pointer, fb.Pointer, 6));
        ushort[] bits = new ushort[6];
        fixed (ushort* p = bits) HbCheck.Check(NativeMethods.CopyToHost(ctx, p, ha.Pointer, 12));
        Assert.Equal(a.Select(x => (ushort)(BitConverter.SingleToUInt32Bits(x) >> 16)), bits);
        HbCheck.Check(NativeMethods.MatmulBf16(ctx, outBuf.Pointer, ha.Pointer, hb.Pointer, 2, 2, 3, 0, 0, 1f, 0f));
        float[] result = new float[4];
        fixed (float* p = result) HbCheck.Check(NativeMethods.CopyToHost(ctx, p, outBuf.Pointer, 16));
        Assert.Equal([2f + 2f + 4f, 1f - 8f - 0.25f, 6f - 0.25f - 8f, 3f + 1f + 0.5f], result);
        var e = Assert.Throws<HumpbackNativeException>(() =>
            HbCheck.Check(NativeMethods.MatmulBf16(ctx, outBuf.Pointer, ha.Pointer, 0, 2, 2, 3, 0, 0, 1f, 0f)));
        Assert.Contains("hb_matmul_bf16: b is NULL", e.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, Type, string, string> Fields() => new()
    {
        { "hb_build_info", typeof(HbBuildInfo), "abi_version", nameof(HbBuildInfo.AbiVersion) },
        { "hb_build_info", typeof(HbBuildInfo), "cuda_compiled", nameof(HbBuildInfo.CudaCompiled) },
        { "hb_build_info", typeof(HbBuildInfo), "openmp", nameof(HbBuildInfo.OpenMp) },
        { "hb_build_info", typeof(HbBuildInfo), "max_threads", nameof(HbBuildInfo.MaxThreads) },
        { "hb_build_info", typeof(HbBuildInfo), "version", nameof(HbBuildInfo.Version) },
        { "hb_build_info", typeof(HbBuildInfo), "blas", nameof(HbBuildInfo.Blas) },
        { "hb_build_info", typeof(HbBuildInfo), "cpu_features", nameof(HbBuildInfo.CpuFeatures) },
        { "hb_build_info", typeof(HbBuildInfo), "cuda_version", nameof(HbBuildInfo.CudaVersion) },
        { "hb_device_info", typeof(HbDeviceInfo), "name", nameof(HbDeviceInfo.Name) },
        { "hb_device_info", typeof(HbDeviceInfo), "total_memory", nameof(HbDeviceInfo.TotalMemory) },
        { "hb_device_info", typeof(HbDeviceInfo), "free_memory", nameof(HbDeviceInfo.FreeMemory) },
        { "hb_device_info", typeof(HbDeviceInfo), "compute_major", nameof(HbDeviceInfo.ComputeMajor) },
        { "hb_device_info", typeof(HbDeviceInfo), "compute_minor", nameof(HbDeviceInfo.ComputeMinor) },
        { "hb_device_info", typeof(HbDeviceInfo), "multiprocessors", nameof(HbDeviceInfo.Multiprocessors) },
        { "hb_rope_config", typeof(HbRopeConfig), "theta", nameof(HbRopeConfig.Theta) },
        { "hb_rope_config", typeof(HbRopeConfig), "scaling", nameof(HbRopeConfig.Scaling) },
        { "hb_rope_config", typeof(HbRopeConfig), "factor", nameof(HbRopeConfig.Factor) },
        { "hb_rope_config", typeof(HbRopeConfig), "low_freq_factor", nameof(HbRopeConfig.LowFreqFactor) },
        { "hb_rope_config", typeof(HbRopeConfig), "high_freq_factor", nameof(HbRopeConfig.HighFreqFactor) },
        { "hb_rope_config", typeof(HbRopeConfig), "original_max_position", nameof(HbRopeConfig.OriginalMaxPosition) },
        { "hb_adamw_config", typeof(HbAdamWConfig), "lr", nameof(HbAdamWConfig.Lr) },
        { "hb_adamw_config", typeof(HbAdamWConfig), "beta1", nameof(HbAdamWConfig.Beta1) },
        { "hb_adamw_config", typeof(HbAdamWConfig), "beta2", nameof(HbAdamWConfig.Beta2) },
        { "hb_adamw_config", typeof(HbAdamWConfig), "eps", nameof(HbAdamWConfig.Eps) },
        { "hb_adamw_config", typeof(HbAdamWConfig), "weight_decay", nameof(HbAdamWConfig.WeightDecay) },
        { "hb_adamw_config", typeof(HbAdamWConfig), "step", nameof(HbAdamWConfig.Step) },
        { "hb_adamw_tensor", typeof(HbAdamWTensor), "param", nameof(HbAdamWTensor.Param) },
        { "hb_adamw_tensor", typeof(HbAdamWTensor), "grad", nameof(HbAdamWTensor.Grad) },
        { "hb_adamw_tensor", typeof(HbAdamWTensor), "m", nameof(HbAdamWTensor.M) },
        { "hb_adamw_tensor", typeof(HbAdamWTensor), "v", nameof(HbAdamWTensor.V) },
        { "hb_adamw_tensor", typeof(HbAdamWTensor), "n", nameof(HbAdamWTensor.N) },
        { "hb_adamw_tensor", typeof(HbAdamWTensor), "weight_decay", nameof(HbAdamWTensor.WeightDecay) },
        { "hb_adamw_tensor", typeof(HbAdamWTensor), "reserved", nameof(HbAdamWTensor.Reserved) },
    };

    [Theory]
    [MemberData(nameof(Fields))]
    public void StructFieldOffsetsMatchTheNativeLibrary(string nativeStruct, Type managed, string nativeField, string managedField)
    {
        HumpbackLibrary.EnsureLoaded();
        HbCheck.Check(NativeMethods.StructLayout(nativeStruct, nativeField, out long offset, out long _));
        Assert.Equal(offset, (long)Marshal.OffsetOf(managed, managedField));
    }

    [Theory]
    [InlineData("hb_build_info", typeof(HbBuildInfo))]
    [InlineData("hb_device_info", typeof(HbDeviceInfo))]
    [InlineData("hb_rope_config", typeof(HbRopeConfig))]
    [InlineData("hb_adamw_config", typeof(HbAdamWConfig))]
    [InlineData("hb_adamw_tensor", typeof(HbAdamWTensor))]
    public void StructSizesMatchTheNativeLibrary(string nativeStruct, Type managed)
    {
        HumpbackLibrary.EnsureLoaded();
        HbCheck.Check(NativeMethods.StructLayout(nativeStruct, "", out long _, out long size));
        Assert.Equal(size, Marshal.SizeOf(managed));
    }
}
