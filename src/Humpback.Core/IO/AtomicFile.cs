namespace Humpback.IO;

/// <summary>Writes files so that a crash never leaves a half-written output: write to a temporary file in the
/// same folder, flush to disk, then rename over the target (atomic on POSIX file systems).</summary>
public static class AtomicFile
{
    /// <summary>Runs <paramref name="write"/> on a temporary stream and moves the result to <paramref name="path"/>.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = TempPathFor(full);
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    public static async Task WriteAsync(string path, Func<Stream, Task> write)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = TempPathFor(full);
        try
        {
            await using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                await write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, s =>
        {
            using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true);
            w.Write(text);
        });

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>Replaces a folder atomically: <paramref name="fill"/> writes into a fresh temporary sibling folder,
    /// which is then renamed to <paramref name="dir"/> (the old folder, if any, is removed first).</summary>
    public static void WriteDirectory(string dir, Action<string> fill)
    {
        string full = Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar);
        string parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        string tmp = Path.Combine(parent, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            fill(tmp);
            string? old = null;
            if (Directory.Exists(full))
            {
                old = full + $".old-{Guid.NewGuid():N}";
                Directory.Move(full, old);
            }
            Directory.Move(tmp, full);
            if (old != null) Directory.Delete(old, recursive: true);
        }
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            throw;
        }
    }

    /// <summary>For writers that take a path rather than a stream (e.g. llama.cpp's quantizer): <paramref name="write"/>
    /// creates the given temporary path in the target folder, which is then renamed to <paramref name="path"/>.</summary>
    public static void WriteViaPath(string path, Action<string> write)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = TempPathFor(full);
        try
        {
            write(tmp);
            if (!File.Exists(tmp)) throw new IOException($"{path}: the writer produced no file");
            using (var fs = new FileStream(tmp, FileMode.Open, FileAccess.ReadWrite)) fs.Flush(flushToDisk: true);
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>A path for a scratch file beside <paramref name="path"/> (hidden, unique); the caller deletes it.</summary>
    public static string ScratchPathBeside(string path, string tag) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{tag}-{Environment.ProcessId}-{Guid.NewGuid():N}");

    private static string TempPathFor(string full) =>
        Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
