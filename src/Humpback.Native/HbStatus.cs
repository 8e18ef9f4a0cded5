namespace Humpback.Native;

/// <summary>Status codes of libhumpback (mirrors <c>hb_status</c> in native/include/humpback.h).</summary>
public enum HbStatus
{
    Ok = 0,
    InvalidArgument = 1,
    OutOfMemory = 2,
    Unsupported = 3,
    NoDevice = 4,
    Backend = 5,
    Internal = 6,
}

/// <summary>Backends of a native context (mirrors <c>hb_backend_kind</c>).</summary>
public enum HbBackendKind
{
    Cpu = 0,
    Cuda = 1,
}
