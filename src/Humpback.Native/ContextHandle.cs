using System.Runtime.InteropServices;

namespace Humpback.Native;

/// <summary>Owns an <c>hb_context*</c>. Buffers allocated on it keep it alive (see <see cref="NativeBuffer"/>).</summary>
public sealed class ContextHandle : SafeHandle
{
    public ContextHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    public override bool IsInvalid => handle == IntPtr.Zero;

    public HbBackendKind Backend { get; private set; }

    /// <summary>Creates a context on a backend. <paramref name="numThreads"/> 0 = all cores (CPU only).</summary>
    public static ContextHandle Create(HbBackendKind backend, int device = 0, int numThreads = 0)
    {
        HumpbackLibrary.EnsureLoaded();
        HbCheck.Check(NativeMethods.ContextCreate(backend, device, numThreads, out nint raw));
        var h = new ContextHandle { Backend = backend };
        h.SetHandle(raw);
        return h;
    }

    protected override bool ReleaseHandle()
    {
        NativeMethods.ContextFree(handle);
        return true;
    }
}

/// <summary>Memory owned by a context (host memory on CPU, device memory on CUDA). Holds a reference on
/// its context so the context outlives every buffer (LLamaSharp's child-handle habit).</summary>
public sealed class NativeBuffer : SafeHandle
{
    private readonly ContextHandle _context;
    private bool _contextRefAdded;

    private NativeBuffer(ContextHandle context) : base(IntPtr.Zero, ownsHandle: true)
    {
        _context = context;
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    public long Bytes { get; private set; }

    public ContextHandle Context => _context;

    /// <summary>Raw pointer for kernel calls; valid while this buffer is alive.</summary>
    public nint Pointer => handle;

    public static NativeBuffer Allocate(ContextHandle context, long bytes)
    {
        var buffer = new NativeBuffer(context);
        bool added = false;
        context.DangerousAddRef(ref added);
        buffer._contextRefAdded = added;
        try
        {
            HbCheck.Check(NativeMethods.Alloc(context, bytes, out nint ptr));
            buffer.SetHandle(ptr);
            buffer.Bytes = bytes;
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    protected override bool ReleaseHandle()
    {
        NativeMethods.Free(_context.DangerousGetHandle(), handle);
        if (_contextRefAdded) _context.DangerousRelease();
        return true;
    }

    protected override void Dispose(bool disposing)
    {
        // A buffer whose allocation failed has no handle but still holds a context reference.
        if (IsInvalid && _contextRefAdded)
        {
            _contextRefAdded = false;
            _context.DangerousRelease();
        }
        base.Dispose(disposing);
    }
}
