using System.Text.Json;
using System.Runtime.InteropServices;
using LLama.Native;

namespace Humpback.Inference;

public sealed record LlamaRuntimeInfo(string Version, string NativeLibrary, string Backend, string SystemInfo);

/// <summary>Loads LLamaSharp's native llama.cpp library and describes what was loaded.</summary>
public static class LlamaRuntime
{
    public static LlamaRuntimeInfo Describe()
    {
        string version = PackageVersion("LLamaSharp");
        NativeApi.llama_empty_call(); // forces the native library to load through LLamaSharp's resolver
        var loaded = NativeApi.GetLoadedNativeLibrary(NativeLibraryName.LLama);
        string path = LoadedPath("libllama") ?? "(path unknown)";
        string backend = loaded?.Metadata?.ToString() ?? "unknown";
        string system = Marshal.PtrToStringUTF8(NativeApi.llama_print_system_info()) ?? "";
        return new LlamaRuntimeInfo(version, $"{path} (ggml {GgmlBuild()})", backend, system.Trim());
    }

    /// <summary>A package's version as the app's deps.json records it (LLamaSharp's assembly carries none).</summary>
    private static string PackageVersion(string package)
    {
        foreach (string deps in Directory.EnumerateFiles(AppContext.BaseDirectory, "*.deps.json"))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(deps));
            if (!doc.RootElement.TryGetProperty("libraries", out JsonElement libs)) continue;
            foreach (JsonProperty lib in libs.EnumerateObject())
            {
                if (lib.Name.StartsWith(package + "/", StringComparison.OrdinalIgnoreCase)) return lib.Name[(package.Length + 1)..];
            }
        }
        return "unknown";
    }

    /// <summary>ggml's version and commit, read from the loaded ggml-base library (a custom llama.cpp build must match it).</summary>
    private static unsafe string GgmlBuild()
    {
        // The library is already loaded by LLamaSharp; loading it by path again returns the same handle.
        string? path = LoadedPath("libggml-base");
        if (path is null || !NativeLibrary.TryLoad(path, out nint lib)) return "version unknown";
        string Read(string export) =>
            NativeLibrary.TryGetExport(lib, export, out nint fn)
                ? Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)fn)()) ?? "?"
                : "?";
        return $"{Read("ggml_version")}, commit {Read("ggml_commit")}";
    }

    /// <summary>Path of a loaded shared library, read from /proc/self/maps (Linux); null elsewhere.</summary>
    private static string? LoadedPath(string stem)
    {
        const string maps = "/proc/self/maps";
        if (!File.Exists(maps)) return null;
        foreach (string line in File.ReadLines(maps))
        {
            int slash = line.IndexOf('/', StringComparison.Ordinal);
            if (slash < 0) continue;
            string p = line[slash..];
            if (Path.GetFileName(p).StartsWith(stem + ".", StringComparison.Ordinal)) return p;
        }
        return null;
    }
}
