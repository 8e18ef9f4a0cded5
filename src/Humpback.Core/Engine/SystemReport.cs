using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Humpback.Inference;
using Humpback.Native;

namespace Humpback.Engine;

/// <summary>What `humpback doctor` reports: each part of the installation, whether it is required, and its state.</summary>
public sealed class SystemReport
{
    public sealed record Item(string Part, string Value, bool Ok, bool Required);

    public List<Item> Items { get; } = [];

    /// <summary>True when every required part works (the native library and LLamaSharp; CUDA is optional).</summary>
    public bool RequiredPartsOk => Items.All(i => i.Ok || !i.Required);

    public static SystemReport Collect()
    {
        var r = new SystemReport();
        r.Items.Add(new Item(".NET", $"{RuntimeInformation.FrameworkDescription} ({RuntimeInformation.RuntimeIdentifier})", true, true));
        r.Items.Add(new Item("OS", $"{RuntimeInformation.OSDescription}, {Environment.ProcessorCount} logical cores", true, false));
        try
        {
            NativeBuildInfo info = HumpbackLibrary.GetBuildInfo();
            r.Items.Add(new Item("native library", $"libhumpback {info.Version}, ABI {info.AbiVersion}, {info.Path}", true, true));
            r.Items.Add(new Item("BLAS", info.Blas, true, true));
            r.Items.Add(new Item("CPU features", info.CpuFeatures, true, false));
            r.Items.Add(new Item("CPU threads", $"{info.MaxThreads} (OpenMP {(info.OpenMp ? "on" : "off")})", true, false));
            r.Items.Add(new Item("CUDA backend", info.CudaCompiled ? $"compiled (CUDA {info.CudaVersion})" : "not compiled (HB_CUDA=OFF or no nvcc)", true, false));
            IReadOnlyList<CudaDevice> devices = HumpbackLibrary.GetCudaDevices();
            string devs = devices.Count == 0
                ? "none (no GPU or no driver: training runs on the CPU backend)"
                : string.Join("; ", devices.Select(d => $"#{d.Index} {d.Name}, sm_{d.ComputeMajor}{d.ComputeMinor}, {d.TotalMemory / (1 << 20)} MiB"));
            r.Items.Add(new Item("CUDA devices", devs, true, false));
        }
        catch (Exception e) when (e is NativeLibraryMissingException or HumpbackNativeException)
        {
            r.Items.Add(new Item("native library", e.Message, false, true));
        }
        try
        {
            LlamaRuntimeInfo llama = LlamaRuntime.Describe();
            r.Items.Add(new Item("LLamaSharp", $"{llama.Version}", true, true));
            r.Items.Add(new Item("llama.cpp", $"{llama.NativeLibrary} [{llama.Backend}]", true, true));
            r.Items.Add(new Item("llama.cpp system", llama.SystemInfo, true, false));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            r.Items.Add(new Item("LLamaSharp", $"failed to load: {e.Message}", false, true));
        }
        return r;
    }

    public string ToText()
    {
        var sb = new StringBuilder();
        int w = Items.Max(i => i.Part.Length);
        foreach (Item i in Items)
        {
            string mark = i.Ok ? "ok " : i.Required ? "ERR" : "-- ";
            sb.Append('[').Append(mark).Append("] ").Append(i.Part.PadRight(w)).Append("  ").AppendLine(i.Value);
        }
        sb.Append(RequiredPartsOk ? "All required parts work." : "Some required parts are missing (ERR above).");
        return sb.ToString();
    }

    public string ToJson() => JsonSerializer.Serialize(new
    {
        ok = RequiredPartsOk,
        items = Items.Select(i => new { part = i.Part, value = i.Value, ok = i.Ok, required = i.Required }),
    }, new JsonSerializerOptions { WriteIndented = true });
}
