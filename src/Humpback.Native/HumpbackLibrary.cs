using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Humpback.Native;

/// <summary>Finds and loads libhumpback, checks its ABI version, and reports the build's facts.</summary>
/// <remarks>Search order: <c>HUMPBACK_NATIVE_LIB</c> (a file), <c>HUMPBACK_NATIVE_DIR</c> (a folder), the app's
/// folder, then every <c>build/lib</c> folder from the app's folder upward (the CMake build of a checkout).</remarks>
public static unsafe class HumpbackLibrary
{
    /// <summary>The ABI this assembly was written against (HB_ABI_VERSION in humpback.h).</summary>
    public const uint ExpectedAbiVersion = 1;

    private static readonly object Gate = new();
    private static nint _handle;
    private static string? _loadedPath;
    private static readonly List<string> Searched = [];

#pragma warning disable CA2255 // The resolver must be installed before any P/Invoke of this assembly runs.
    [ModuleInitializer]
    internal static void InstallResolver()
    {
        NativeLibrary.SetDllImportResolver(typeof(HumpbackLibrary).Assembly, Resolve);
    }
#pragma warning restore CA2255

    /// <summary>Path of the loaded library, or null when not loaded yet.</summary>
    public static string? LoadedPath => _loadedPath;

    private static string FileName =>
        OperatingSystem.IsWindows() ? "humpback.dll" : OperatingSystem.IsMacOS() ? "libhumpback.dylib" : "libhumpback.so";

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != NativeMethods.LibraryName) return IntPtr.Zero;
        lock (Gate)
        {
            if (_handle != IntPtr.Zero) return _handle;
            foreach (string candidate in Candidates())
            {
                Searched.Add(candidate);
                if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out nint h))
                {
                    _handle = h;
                    _loadedPath = Path.GetFullPath(candidate);
                    return h;
                }
            }
            return IntPtr.Zero;
        }
    }

    private static IEnumerable<string> Candidates()
    {
        string? file = Environment.GetEnvironmentVariable("HUMPBACK_NATIVE_LIB");
        if (!string.IsNullOrEmpty(file)) yield return file;
        string? dir = Environment.GetEnvironmentVariable("HUMPBACK_NATIVE_DIR");
        if (!string.IsNullOrEmpty(dir)) yield return Path.Combine(dir, FileName);
        string baseDir = AppContext.BaseDirectory;
        yield return Path.Combine(baseDir, FileName);
        for (var d = new DirectoryInfo(baseDir); d != null; d = d.Parent)
            yield return Path.Combine(d.FullName, "build", "lib", FileName);
    }

    /// <summary>Loads the library and checks its ABI version; throws <see cref="NativeLibraryMissingException"/>
    /// with instructions when it is missing or mismatched.</summary>
    public static void EnsureLoaded()
    {
        if (_checked) return;
        uint abi;
        try
        {
            abi = NativeMethods.AbiVersion();
        }
        catch (DllNotFoundException e)
        {
            string looked;
            lock (Gate) looked = string.Join(Environment.NewLine + "  ", Searched.Distinct());
            throw new NativeLibraryMissingException(
                $"{FileName} (the Humpback native library) was not found. Looked in:{Environment.NewLine}  {looked}{Environment.NewLine}" +
                "Build it with `scripts/build.sh` (or `cmake -S . -B build && cmake --build build`) from the repository root, " +
                "or point HUMPBACK_NATIVE_DIR at the folder that holds it.", e);
        }
        if (abi != ExpectedAbiVersion)
        {
            throw new NativeLibraryMissingException(
                $"{_loadedPath ?? FileName} has ABI version {abi}, but this build of Humpback expects {ExpectedAbiVersion}. " +
                "Rebuild the native library from the same checkout (`scripts/build.sh`).");
        }
        _checked = true;
    }

    private static volatile bool _checked;

    /// <summary>Facts of the native build (version, BLAS, CPU features, CUDA).</summary>
    public static NativeBuildInfo GetBuildInfo()
    {
        EnsureLoaded();
        HbBuildInfo info;
        HbCheck.Check(NativeMethods.GetBuildInfo(&info));
        return new NativeBuildInfo(
            info.AbiVersion,
            FixedString.Read(info.Version, 32),
            FixedString.Read(info.Blas, 64),
            FixedString.Read(info.CpuFeatures, 128),
            info.CudaCompiled != 0,
            FixedString.Read(info.CudaVersion, 32),
            info.OpenMp != 0,
            info.MaxThreads,
            _loadedPath ?? "(default probing)");
    }

    /// <summary>CUDA devices visible to the library; empty without a CUDA build, a driver or a GPU.</summary>
    public static IReadOnlyList<CudaDevice> GetCudaDevices()
    {
        EnsureLoaded();
        HbCheck.Check(NativeMethods.CudaDeviceCount(out int count));
        var list = new List<CudaDevice>(count);
        for (int i = 0; i < count; i++)
        {
            HbDeviceInfo d;
            HbCheck.Check(NativeMethods.CudaDeviceInfo(i, &d));
            list.Add(new CudaDevice(i, FixedString.Read(d.Name, 256), d.TotalMemory, d.FreeMemory,
                d.ComputeMajor, d.ComputeMinor, d.Multiprocessors));
        }
        return list;
    }
}

public sealed record NativeBuildInfo(uint AbiVersion, string Version, string Blas, string CpuFeatures, bool CudaCompiled,
    string CudaVersion, bool OpenMp, int MaxThreads, string Path);

public sealed record CudaDevice(int Index, string Name, ulong TotalMemory, ulong FreeMemory, int ComputeMajor,
    int ComputeMinor, int Multiprocessors);
