namespace Humpback.Native;

/// <summary>The one place that turns a native status into an exception (onnxruntime's VerifySuccess habit).</summary>
public static unsafe class HbCheck
{
    /// <summary>Throws <see cref="HumpbackNativeException"/> with the native message unless <paramref name="status"/> is OK.</summary>
    public static void Check(HbStatus status)
    {
        if (status == HbStatus.Ok) return;
        string message = FixedString.Read(NativeMethods.LastError(), 1 << 20);
        throw new HumpbackNativeException(status, message);
    }
}
