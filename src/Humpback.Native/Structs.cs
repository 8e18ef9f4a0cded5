using System.Runtime.InteropServices;
using System.Text;

namespace Humpback.Native;

// Mirrors of the public structs of humpback.h. Their layout is checked against the native library by
// tests (hb_struct_layout), so a change on one side without the other fails the build's tests.

[StructLayout(LayoutKind.Sequential)]
public unsafe struct HbBuildInfo
{
    public uint AbiVersion;
    public int CudaCompiled;
    public int OpenMp;
    public int MaxThreads;
    public fixed byte Version[32];
    public fixed byte Blas[64];
    public fixed byte CpuFeatures[128];
    public fixed byte CudaVersion[32];
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct HbDeviceInfo
{
    public fixed byte Name[256];
    public ulong TotalMemory;
    public ulong FreeMemory;
    public int ComputeMajor;
    public int ComputeMinor;
    public int Multiprocessors;
    public int Reserved;
}

[StructLayout(LayoutKind.Sequential)]
public struct HbRopeConfig
{
    public float Theta;
    public int Scaling; // 0 none, 1 llama3
    public float Factor;
    public float LowFreqFactor;
    public float HighFreqFactor;
    public int OriginalMaxPosition;
}

[StructLayout(LayoutKind.Sequential)]
public struct HbAdamWConfig
{
    public float Lr;
    public float Beta1;
    public float Beta2;
    public float Eps;
    public float WeightDecay;
    public int Step;
}

/// <summary>One tensor of hb_adamw_update_multi: context-memory pointers, element count, its own weight decay.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct HbAdamWTensor
{
    public nint Param;
    public nint Grad;
    public nint M;
    public nint V;
    public long N;
    public float WeightDecay;
    public int Reserved; // 0
}

internal static class FixedString
{
    /// <summary>Decodes a NUL-terminated UTF-8 string from a fixed buffer.</summary>
    public static unsafe string Read(byte* p, int capacity)
    {
        int n = 0;
        while (n < capacity && p[n] != 0) n++;
        return Encoding.UTF8.GetString(p, n);
    }
}
