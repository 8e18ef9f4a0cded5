using Humpback.Native;

namespace Humpback.Engine;

/// <summary>Element type of context memory: fp32 (also int32 ids: both are 4 bytes), or bf16 (2 bytes).</summary>
public enum DType
{
    F32 = 0,
    Bf16 = 1,
}

public static class DTypeExtensions
{
    public static int Size(this DType t) => t == DType.Bf16 ? 2 : 4;

    /// <summary>"fp32" / "bf16" (also "f32", "float32", "bfloat16") → a dtype; anything else names the argument.</summary>
    public static DType Parse(string s, string argument = "precision") => s.Trim().ToLowerInvariant() switch
    {
        "fp32" or "f32" or "float32" => DType.F32,
        "bf16" or "bfloat16" => DType.Bf16,
        _ => throw new ArgumentException($"{argument}: '{s}' is not a precision (expected fp32 or bf16)"),
    };

    public static string Name(this DType t) => t == DType.Bf16 ? "bf16" : "fp32";
}

/// <summary>A view of context memory: a pointer, an element count and the element type (fp32/int32, or bf16). The
/// memory is owned by a <see cref="DeviceArena"/> or a <see cref="NativeBuffer"/> that outlives the view.</summary>
public readonly record struct DeviceSpan(nint Ptr, long Count, DType Type = DType.F32)
{
    public long Bytes => Count * Type.Size();

    public DeviceSpan Slice(long start, long count)
    {
        if (start < 0 || count < 0 || start + count > Count)
            throw new ArgumentOutOfRangeException(nameof(start), $"slice [{start}, {start + count}) outside a span of {Count}");
        return new DeviceSpan(Ptr + (nint)(start * Type.Size()), count, Type);
    }

    public static readonly DeviceSpan Null = new(0, 0);
}

/// <summary>The backend the model graph runs on: one native context (CPU or CUDA). Switching the device is the
/// only change needed to run the same graph on another backend.</summary>
public sealed class Device : IDisposable
{
    private Device(ContextHandle ctx, HbBackendKind kind, int index)
    {
        Context = ctx;
        Kind = kind;
        Index = index;
    }

    public ContextHandle Context { get; }
    public HbBackendKind Kind { get; }
    /// <summary>The CUDA device index (0 on the CPU).</summary>
    public int Index { get; }

    public override string ToString() => Kind == HbBackendKind.Cpu ? "cpu" : $"cuda:{Index}";

    public static Device Create(HbBackendKind kind = HbBackendKind.Cpu, int device = 0, int threads = 0) =>
        new(ContextHandle.Create(kind, device, threads), kind, kind == HbBackendKind.Cpu ? 0 : device);

    /// <summary>Bytes free on a CUDA device now (null on the CPU, where the OS decides).</summary>
    public long? FreeBytes => Kind == HbBackendKind.Cpu ? null : (long)HumpbackLibrary.GetCudaDevices()[Index].FreeMemory;

    /// <summary>"cpu", "cuda", "cuda:1" → a device.</summary>
    public static Device Parse(string spec, int threads = 0)
    {
        string s = spec.Trim().ToLowerInvariant();
        if (s == "cpu") return Create(HbBackendKind.Cpu, 0, threads);
        if (s == "cuda") return Create(HbBackendKind.Cuda, 0, threads);
        if (s.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(s[5..], out int idx)) return Create(HbBackendKind.Cuda, idx, threads);
        throw new ArgumentException($"unknown device '{spec}' (expected cpu, cuda or cuda:N)", nameof(spec));
    }

    public void Synchronize() => HbCheck.Check(NativeMethods.ContextSynchronize(Context));

    /// <summary>Copies floats in; a bf16 span receives them rounded to nearest even (converted on the host).</summary>
    public unsafe void Upload(DeviceSpan dst, ReadOnlySpan<float> src)
    {
        if (src.Length > dst.Count) throw new ArgumentException($"upload of {src.Length} floats into a span of {dst.Count}");
        if (dst.Type == DType.Bf16)
        {
            var h = new ushort[src.Length];
            for (int i = 0; i < h.Length; i++) h[i] = Formats.FloatCodec.ToBFloat16(src[i]);
            fixed (ushort* p = h) HbCheck.Check(NativeMethods.CopyToDevice(Context, dst.Ptr, p, h.Length * 2L));
            return;
        }
        fixed (float* p = src) HbCheck.Check(NativeMethods.CopyToDevice(Context, dst.Ptr, p, src.Length * 4L));
    }

    public unsafe void Upload(DeviceSpan dst, ReadOnlySpan<int> src)
    {
        if (src.Length > dst.Count) throw new ArgumentException($"upload of {src.Length} ints into a span of {dst.Count}");
        fixed (int* p = src) HbCheck.Check(NativeMethods.CopyToDevice(Context, dst.Ptr, p, src.Length * 4L));
    }

    /// <summary>Copies floats out; a bf16 span is widened (exactly) on the host.</summary>
    public unsafe void Download(Span<float> dst, DeviceSpan src)
    {
        if (dst.Length > src.Count) throw new ArgumentException($"download of {dst.Length} floats from a span of {src.Count}");
        if (src.Type == DType.Bf16)
        {
            var h = new ushort[dst.Length];
            fixed (ushort* p = h) HbCheck.Check(NativeMethods.CopyToHost(Context, p, src.Ptr, h.Length * 2L));
            for (int i = 0; i < h.Length; i++) dst[i] = Formats.FloatCodec.FromBFloat16(h[i]);
            return;
        }
        fixed (float* p = dst) HbCheck.Check(NativeMethods.CopyToHost(Context, p, src.Ptr, dst.Length * 4L));
    }

    public float[] Download(DeviceSpan src)
    {
        var a = new float[src.Count];
        Download(a, src);
        return a;
    }

    public void Zero(DeviceSpan s)
    {
        if (s.Count > 0) HbCheck.Check(NativeMethods.Memset(Context, s.Ptr, 0, s.Bytes));
    }

    public void Copy(DeviceSpan dst, DeviceSpan src)
    {
        if (src.Count != dst.Count) throw new ArgumentException($"copy of {src.Count} elements into {dst.Count}");
        if (src.Type != dst.Type) throw new ArgumentException($"copy of {src.Type.Name()} into {dst.Type.Name()}: convert instead");
        if (src.Count > 0) HbCheck.Check(NativeMethods.CopyDevice(Context, dst.Ptr, src.Ptr, src.Bytes));
    }

    public void Dispose() => Context.Dispose();
}

/// <summary>One allocation carved into many spans (parameters, gradients, activations): memory is planned once,
/// so a training step never allocates (llm.c's habit). Spans may be fp32/int32 or bf16; each starts 64-byte aligned.</summary>
public sealed class DeviceArena : IDisposable
{
    private readonly List<(string Name, long Offset, long Count, DType Type)> _plan = [];
    private NativeBuffer? _buffer;
    private long _bytes;
    private const long Align = 64; // bytes

    public DeviceArena(Device device, string name)
    {
        Device = device;
        Name = name;
    }

    public Device Device { get; }
    public string Name { get; }
    public long Bytes => _bytes;

    /// <summary>Elements of the whole arena when it holds fp32 only (optimizer state in checkpoints).</summary>
    public long TotalElements => _plan.All(p => p.Type == DType.F32)
        ? _bytes / 4
        : throw new InvalidOperationException($"arena {Name}: mixed element types have no element total");

    /// <summary>Reserves <paramref name="count"/> elements of <paramref name="type"/>; returns the index to resolve after <see cref="Allocate"/>.</summary>
    public int Reserve(string name, long count, DType type = DType.F32)
    {
        if (_buffer != null) throw new InvalidOperationException($"arena {Name}: reserve after allocation");
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        _plan.Add((name, _bytes, count, type));
        _bytes += (count * type.Size() + Align - 1) / Align * Align;
        return _plan.Count - 1;
    }

    public void Allocate(bool zero = true)
    {
        if (_buffer != null) return;
        _buffer = NativeBuffer.Allocate(Device.Context, Math.Max(4, _bytes));
        if (zero && _bytes > 0) HbCheck.Check(NativeMethods.Memset(Device.Context, _buffer.Pointer, 0, _bytes));
    }

    public DeviceSpan this[int index]
    {
        get
        {
            if (_buffer == null) throw new InvalidOperationException($"arena {Name}: not allocated");
            var (_, off, count, type) = _plan[index];
            return new DeviceSpan(_buffer.Pointer + (nint)off, count, type);
        }
    }

    /// <summary>The whole arena as one fp32 span (e.g. to zero all gradients at once); only for fp32 arenas.</summary>
    public DeviceSpan All => _buffer == null ? throw new InvalidOperationException($"arena {Name}: not allocated") : new DeviceSpan(_buffer.Pointer, TotalElements);

    public void Dispose() => _buffer?.Dispose();
}
