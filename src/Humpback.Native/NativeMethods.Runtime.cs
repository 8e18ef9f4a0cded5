using System.Runtime.InteropServices;

namespace Humpback.Native;

/// <summary>Raw declarations of libhumpback's runtime exports. Call them through <see cref="HbCheck"/>.</summary>
internal static unsafe partial class NativeMethods
{
    internal const string LibraryName = "humpback";

    [LibraryImport(LibraryName, EntryPoint = "hb_abi_version")]
    internal static partial uint AbiVersion();

    [LibraryImport(LibraryName, EntryPoint = "hb_status_to_string")]
    internal static partial byte* StatusToString(HbStatus status);

    [LibraryImport(LibraryName, EntryPoint = "hb_last_error")]
    internal static partial byte* LastError();

    [LibraryImport(LibraryName, EntryPoint = "hb_clear_error")]
    internal static partial void ClearError();

    [LibraryImport(LibraryName, EntryPoint = "hb_get_build_info")]
    internal static partial HbStatus GetBuildInfo(HbBuildInfo* info);

    [LibraryImport(LibraryName, EntryPoint = "hb_struct_layout", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial HbStatus StructLayout(string structName, string field, out long offset, out long size);

    [LibraryImport(LibraryName, EntryPoint = "hb_cuda_device_count")]
    internal static partial HbStatus CudaDeviceCount(out int count);

    [LibraryImport(LibraryName, EntryPoint = "hb_cuda_device_info")]
    internal static partial HbStatus CudaDeviceInfo(int device, HbDeviceInfo* info);

    [LibraryImport(LibraryName, EntryPoint = "hb_context_create")]
    internal static partial HbStatus ContextCreate(HbBackendKind kind, int device, int numThreads, out nint ctx);

    [LibraryImport(LibraryName, EntryPoint = "hb_context_free")]
    internal static partial void ContextFree(nint ctx);

    [LibraryImport(LibraryName, EntryPoint = "hb_context_synchronize")]
    internal static partial HbStatus ContextSynchronize(ContextHandle ctx);

    [LibraryImport(LibraryName, EntryPoint = "hb_alloc")]
    internal static partial HbStatus Alloc(ContextHandle ctx, long bytes, out nint ptr);

    [LibraryImport(LibraryName, EntryPoint = "hb_free")]
    internal static partial void Free(nint ctx, nint ptr);

    [LibraryImport(LibraryName, EntryPoint = "hb_memset")]
    internal static partial HbStatus Memset(ContextHandle ctx, nint dst, int value, long bytes);

    [LibraryImport(LibraryName, EntryPoint = "hb_copy_to_device")]
    internal static partial HbStatus CopyToDevice(ContextHandle ctx, nint dstDevice, void* srcHost, long bytes);

    [LibraryImport(LibraryName, EntryPoint = "hb_copy_to_host")]
    internal static partial HbStatus CopyToHost(ContextHandle ctx, void* dstHost, nint srcDevice, long bytes);

    [LibraryImport(LibraryName, EntryPoint = "hb_copy_device")]
    internal static partial HbStatus CopyDevice(ContextHandle ctx, nint dstDevice, nint srcDevice, long bytes);

    [LibraryImport(LibraryName, EntryPoint = "hb_rope_inv_freq")]
    internal static partial HbStatus RopeInvFreq(float* invFreq, long d, in HbRopeConfig config);
}
