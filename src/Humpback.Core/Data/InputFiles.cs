using System.IO.Compression;

namespace Humpback.Data;

/// <summary>What a data file holds, told from its first bytes (not its name): Parquet starts with "PAR1",
/// gzip with 1f 8b; everything else is read as JSON lines.</summary>
public enum InputFormat
{
    Parquet,
    JsonLines,
    GzipJsonLines,
}

/// <summary>Input file lists: expands folders and simple globs, detects formats, opens json-lines streams.</summary>
public static class InputFiles
{
    /// <summary>Expands each argument: an existing file as is; a folder into its files with a data extension;
    /// a pattern with '*' or '?' in the file-name part into the matching files. Sorted within each argument
    /// (ordinal), duplicates removed, order of arguments kept. A pattern or folder that matches nothing, or a
    /// missing file, is an error naming it.</summary>
    public static IReadOnlyList<string> Expand(IEnumerable<string> patterns)
    {
        var result = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string pattern in patterns)
        {
            IEnumerable<string> matches;
            if (File.Exists(pattern)) matches = [pattern];
            else if (Directory.Exists(pattern))
                matches = Directory.EnumerateFiles(pattern).Where(IsDataFile).Order(StringComparer.Ordinal);
            else if (pattern.AsSpan(pattern.LastIndexOfAny(['/', '\\']) + 1).IndexOfAny('*', '?') >= 0)
            {
                string dir = Path.GetDirectoryName(pattern) is { Length: > 0 } d ? d : ".";
                string name = Path.GetFileName(pattern);
                if (!Directory.Exists(dir)) throw new FileNotFoundException($"{pattern}: folder '{dir}' not found");
                matches = Directory.EnumerateFiles(dir, name).Where(f => !IsPartial(f)).Order(StringComparer.Ordinal);
            }
            else throw new FileNotFoundException($"{pattern}: file not found", pattern);

            int matched = 0;
            foreach (string m in matches)
            {
                matched++;
                if (seen.Add(Path.GetFullPath(m))) result.Add(m);
            }
            if (matched == 0) throw new FileNotFoundException($"{pattern}: no data files match");
        }
        return result;
    }

    private static bool IsPartial(string f) => f.EndsWith(".part", StringComparison.Ordinal) || Path.GetFileName(f).StartsWith('.');

    private static bool IsDataFile(string f) =>
        !IsPartial(f) && (f.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ||
                          f.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase));

    public static InputFormat Detect(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        int n = fs.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        if (n == 4 && head.SequenceEqual("PAR1"u8)) return InputFormat.Parquet;
        if (path.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"{Path.GetFileName(path)}: not a Parquet file ({(fs.Length == 0 ? "the file is empty" : "no PAR1 magic")})");
        if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) return InputFormat.GzipJsonLines;
        return InputFormat.JsonLines;
    }

    /// <summary>Opens a json-lines file, decompressing gzip (including multi-member files) when the magic bytes say so.</summary>
    public static Stream OpenJsonLines(string path, out FileStream file)
    {
        file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Span<byte> head = stackalloc byte[2];
        int n = file.ReadAtLeast(head, 2, throwOnEndOfStream: false);
        file.Position = 0;
        if (n == 2 && head[0] == 0x1f && head[1] == 0x8b) return new GZipStream(file, CompressionMode.Decompress, leaveOpen: false);
        return file;
    }

    /// <summary>gzip's trailer stores the uncompressed size mod 2^32 (RFC 1952, ISIZE). .NET's GZipStream returns
    /// the data of a truncated file without an error, so after reading a file we compare: a mismatch means a
    /// truncated or corrupt file (or a multi-member file, whose last member's size is stored).</summary>
    public static bool GzipTrailerMatches(string path, long decompressedBytes)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        if (fs.Length < 18) return false;
        fs.Position = fs.Length - 4;
        Span<byte> b = stackalloc byte[4];
        fs.ReadExactly(b);
        uint isize = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b);
        return isize == (uint)decompressedBytes;
    }
}
