namespace Humpback.Native;

/// <summary>A native call returned a non-OK status; <see cref="Exception.Message"/> carries the library's message,
/// which names the function and the argument at fault.</summary>
public sealed class HumpbackNativeException : Exception
{
    public HumpbackNativeException(HbStatus status, string nativeMessage)
        : base(string.IsNullOrEmpty(nativeMessage) ? $"libhumpback: {status}" : nativeMessage)
    {
        Status = status;
        NativeMessage = nativeMessage;
    }

    public HumpbackNativeException() : this(HbStatus.Internal, "") { }

    public HumpbackNativeException(string message) : base(message) { NativeMessage = message; }

    public HumpbackNativeException(string message, Exception innerException) : base(message, innerException)
    {
        NativeMessage = message;
    }

    public HbStatus Status { get; } = HbStatus.Internal;

    public string NativeMessage { get; } = "";
}

/// <summary>libhumpback could not be found or is of another ABI version; the message says how to fix it.</summary>
public sealed class NativeLibraryMissingException : Exception
{
    public NativeLibraryMissingException() { }
    public NativeLibraryMissingException(string message) : base(message) { }
    public NativeLibraryMissingException(string message, Exception innerException) : base(message, innerException) { }
}
