using System.Text.Json;
using System.Runtime.InteropServices;
using LLama.Native;

namespace Humpback.Inference;

public sealed record LlamaRuntimeInfo(string Version, string NativeLibrary, string Backend, string SystemInfo);

/// <summary>Which llama.cpp native library LLamaSharp loads: its bundled CPU build (default), a CUDA build from the
/// LLamaSharp.Backend.Cuda12 package (which the user adds to the CLI project; it is not served here), or a llama.cpp
/// library built by the user. A custom build must come from the ggml commit LLamaSharp 0.30.0 was built against
/// (815a2a591), since LLamaSharp binds to that exact C API.</summary>
public enum LlamaBackendKind { Cpu, Cuda, Path }

public sealed record LlamaBackend(LlamaBackendKind Kind, string? LibraryPath = null)
{
    /// <summary>The environment variable read when no backend is given: cpu, cuda, or a path to libllama.so.</summary>
    public const string EnvironmentVariable = "HUMPBACK_LLAMA_LIB";

    public static LlamaBackend Cpu { get; } = new(LlamaBackendKind.Cpu);

    /// <summary>The backend HUMPBACK_LLAMA_LIB asks for, else the CPU.</summary>
    public static LlamaBackend FromEnvironment() =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is string env && !string.IsNullOrWhiteSpace(env) ? Parse(env) : Cpu;

    /// <summary>Parses "cpu", "cuda" or a path to a llama.cpp shared library (libllama.so / llama.dll).</summary>
    public static LlamaBackend Parse(string value)
    {
        string v = value.Trim();
        if (v.Equals("cpu", StringComparison.OrdinalIgnoreCase)) return Cpu;
        if (v.Equals("cuda", StringComparison.OrdinalIgnoreCase)) return new(LlamaBackendKind.Cuda);
        if (v.Length == 0) throw new ArgumentException("empty llama backend: use cpu, cuda or a path to libllama.so");
        string full = System.IO.Path.GetFullPath(v);
        if (!File.Exists(full))
            throw new ArgumentException($"llama backend '{value}' is neither cpu, cuda nor an existing library file ({full} not found)");
        return new(LlamaBackendKind.Path, full);
    }

    public override string ToString() => Kind switch
    {
        LlamaBackendKind.Cpu => "cpu",
        LlamaBackendKind.Cuda => "cuda",
        _ => LibraryPath!,
    };
}

/// <summary>Loads LLamaSharp's native llama.cpp library and describes what was loaded.</summary>
public static class LlamaRuntime
{
    private static readonly object Gate = new();
    private static LlamaBackend? _selected;

    /// <summary>The backend chosen by <see cref="Configure"/> (or the environment), null before the first use.</summary>
    public static LlamaBackend? Selected { get { lock (Gate) return _selected; } }

    /// <summary>Chooses the native library before its first use: <paramref name="backend"/>, else the
    /// HUMPBACK_LLAMA_LIB environment variable, else the bundled CPU build. Also routes llama.cpp's log to stderr,
    /// warnings and errors only (it prints every tensor at load otherwise). Calling it again with the same choice, or
    /// with none, is a no-op; asking for another backend once the library is loaded is an error.</summary>
    public static LlamaBackend Configure(LlamaBackend? backend = null)
    {
        lock (Gate)
        {
            if (backend is null)
            {
                if (_selected != null) return _selected;
                backend = LlamaBackend.FromEnvironment();
            }
            if (_selected != null)
            {
                if (_selected == backend) return _selected;
                throw new InvalidOperationException(
                    $"the llama.cpp library is already loaded with backend '{_selected}'; '{backend}' must be chosen before the first use (one per process)");
            }
            if (NativeLibraryConfig.LLama.LibraryHasLoaded)
            {
                // Loaded by someone else (e.g. a direct LLamaSharp call): we can only report what is there.
                _selected = backend;
                return backend;
            }
            NativeLibraryConfigContainer all = NativeLibraryConfig.All;
            switch (backend.Kind)
            {
                case LlamaBackendKind.Cpu:
                    all.WithCuda(false).WithVulkan(false);
                    break;
                case LlamaBackendKind.Cuda:
                    // No silent fallback: asking for CUDA and getting the CPU would misreport every benchmark.
                    all.WithCuda(true).WithVulkan(false).WithAutoFallback(false);
                    break;
                case LlamaBackendKind.Path:
                    all.WithLibrary(backend.LibraryPath!, null!);
                    break;
            }
            all.WithLogCallback(static (level, message) =>
            {
                if (level is LLamaLogLevel.Warning or LLamaLogLevel.Error && !IsNoise(message)) Console.Error.Write($"llama.cpp: {message}");
            });
            _selected = backend;
            return backend;
        }
    }

    /// <summary>Warnings llama.cpp prints for choices we make on purpose.</summary>
    private static bool IsNoise(string message) =>
        message.Contains("n_ctx_seq", StringComparison.Ordinal) || message.Contains("n_ctx_per_seq", StringComparison.Ordinal);

    public static LlamaRuntimeInfo Describe()
    {
        string version = PackageVersion("LLamaSharp");
        LlamaBackend selected = Configure();
        NativeApi.llama_empty_call(); // forces the native library to load through LLamaSharp's resolver
        var loaded = NativeApi.GetLoadedNativeLibrary(NativeLibraryName.LLama);
        string path = LoadedPath("libllama") ?? "(path unknown)";
        string metadata = loaded?.Metadata?.ToString() ?? "unknown";
        string backend = $"backend {selected} ({(selected.Kind == LlamaBackendKind.Cpu ? "default" : "chosen")}; " +
                         $"switch with --llama-backend cpu|cuda|<libllama.so> or {LlamaBackend.EnvironmentVariable}); {metadata}";
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
