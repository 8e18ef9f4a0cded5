using Humpback.Formats;

namespace Humpback.Cli.Verbs;

/// <summary>Argument checks shared by the format verbs.</summary>
internal static class VerbArgs
{
    public static StorageDType ParseDType(string s) => s.ToLowerInvariant() switch
    {
        "f32" or "float32" => StorageDType.F32,
        "bf16" or "bfloat16" => StorageDType.BF16,
        "f16" or "float16" => StorageDType.F16,
        _ => throw new UsageException($"--dtype {s}: expected f32, bf16 or f16"),
    };

    /// <summary>An output folder is replaced whole, so refuse one that holds anything but our own kind of output
    /// (recognised by <paramref name="marker"/>) unless --force.</summary>
    public static void CheckReplaceable(string dir, bool force, string marker)
    {
        if (force || !Directory.Exists(dir) || !Directory.EnumerateFileSystemEntries(dir).Any()) return;
        if (File.Exists(Path.Combine(dir, marker))) return;
        throw new UsageException($"--out {dir}: exists and holds other files (no {marker}); it would be replaced whole — pass --force or choose an empty folder");
    }
}
