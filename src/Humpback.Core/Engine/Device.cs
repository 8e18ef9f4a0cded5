using Humpback.Native;

namespace Humpback.Engine;

/// <summary>A view of fp32 or int32 context memory: a pointer and an element count. The memory is owned by a
/// <see cref="DeviceArena"/> or a <see cref="NativeBuffer"/> that outlives the view.</summary>
public readonly record struct DeviceSpan(nint Ptr, long Count)
{
    public DeviceSpan Slice(long start, long count)
    {
        if (start < 0 || count < 0 || start + count > Count)
            throw new ArgumentOutOfRangeException(nameof(start), $"slice [{start}, {start + count}) outside a span of {Count}");
        return new DeviceSpan(Ptr + (nint)(start * 4), count);
    }

    public static readonly DeviceSpan Null = new(0, 0);
}

/// <summary>The backend the model graph runs on: one native context (CPU or CUDA). Switching the device is the
/// only change needed to run the same graph on another backend.</summary>
public sealed class Device : IDisposable
{
    private Device(ContextHandle ctx, HbBackendKind kind)
    {
        Context = ctx;
        Kind = kind;
    }

    public ContextHandle Context { get; }
    public HbBackendKind Kind { get; }

    public static Device Create(HbBackendKind kind = HbBackendKind.Cpu, int device = 0, int threads = 0) =>
        new(ContextHandle.Create(kind, device, threads), kind);

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

    public unsafe void Upload(DeviceSpan dst, ReadOnlySpan<float> src)
    {
        if (src.Length > dst.Count) throw new ArgumentException($"upload of {src.Length} floats into a span of {dst.Count}");
        fixed (float* p = src) HbCheck.Check(NativeMethods.CopyToDevice(Context, dst.Ptr, p, src.Length * 4L));
    }

    public unsafe void Upload(DeviceSpan dst, ReadOnlySpan<int> src)
    {
        if (src.Length > dst.Count) throw new ArgumentException($"upload of {src.Length} ints into a span of {dst.Count}");
        fixed (int* p = src) HbCheck.Check(NativeMethods.CopyToDevice(Context, dst.Ptr, p, src.Length * 4L));
    }

    public unsafe void Download(Span<float> dst, DeviceSpan src)
    {
        if (dst.Length > src.Count) throw new ArgumentException($"download of {dst.Length} floats from a span of {src.Count}");
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
        if (s.Count > 0) HbCheck.Check(NativeMethods.Memset(Context, s.Ptr, 0, s.Count * 4));
    }

    public void Copy(DeviceSpan dst, DeviceSpan src)
    {
        if (src.Count != dst.Count) throw new ArgumentException($"copy of {src.Count} elements into {dst.Count}");
        if (src.Count > 0) HbCheck.Check(NativeMethods.CopyDevice(Context, dst.Ptr, src.Ptr, src.Count * 4));
    }

    public void Dispose() => Context.Dispose();
}

/// <summary>One allocation carved into many spans (parameters, gradients, activations): memory is planned once,
/// so a training step never allocates (llm.c's habit).</summary>
public sealed class DeviceArena : IDisposable
{
    private readonly List<(string Name, long Offset, long Count)> _plan = [];
    private NativeBuffer? _buffer;
    private long _total;
    private const long Align = 16; // elements (64 bytes)

    public DeviceArena(Device device, string name)
    {
        Device = device;
        Name = name;
    }

    public Device Device { get; }
    public string Name { get; }
    public long TotalElements => _total;
    public long Bytes => _total * 4;

    /// <summary>Reserves <paramref name="count"/> 4-byte elements; returns the index to resolve after <see cref="Allocate"/>.</summary>
    public int Reserve(string name, long count)
    {
        if (_buffer != null) throw new InvalidOperationException($"arena {Name}: reserve after allocation");
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        _plan.Add((name, _total, count));
        _total += (count + Align - 1) / Align * Align;
        return _plan.Count - 1;
    }

    public void Allocate(bool zero = true)
    {
        if (_buffer != null) return;
        _buffer = NativeBuffer.Allocate(Device.Context, Math.Max(4, _total * 4));
        if (zero && _total > 0) HbCheck.Check(NativeMethods.Memset(Device.Context, _buffer.Pointer, 0, _total * 4));
    }

    public DeviceSpan this[int index]
    {
        get
        {
            if (_buffer == null) throw new InvalidOperationException($"arena {Name}: not allocated");
            var (_, off, count) = _plan[index];
            return new DeviceSpan(_buffer.Pointer + (nint)(off * 4), count);
        }
    }

    /// <summary>The whole arena as one span (e.g. to zero all gradients at once).</summary>
    public DeviceSpan All => _buffer == null ? throw new InvalidOperationException($"arena {Name}: not allocated") : new DeviceSpan(_buffer.Pointer, _total);

    public void Dispose() => _buffer?.Dispose();
}
