using System.Net;
using System.Security.Cryptography;
using System.Text;
using Humpback.IO;
using Humpback.Pipeline;

namespace Humpback.Data;

public sealed record DownloadOptions
{
    /// <summary>Base URL the relative paths are appended to (null: the dataset's hub URL).</summary>
    public string? BaseUrl { get; init; }

    /// <summary>A sha256sum-format file ("&lt;hex&gt;  &lt;relative path&gt;" per line) with expected checksums.</summary>
    public string? ManifestPath { get; init; }

    /// <summary>Fail (keeping the .part file) when no expected checksum can be found for a file.</summary>
    public bool RequireChecksum { get; init; }

    /// <summary>Attempts after a dropped connection, each resuming where the last one stopped.</summary>
    public int Retries { get; init; } = 3;
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>What happened to one file.</summary>
/// <param name="Verification">where the expected SHA-256 came from: "catalog", "manifest", "x-linked-etag",
/// "sha256-sidecar", "local SHA256SUMS" or "none"</param>
/// <param name="ResumedFrom">bytes that were already in the .part file when the download (re)started</param>
public sealed record DownloadResult(string RelativePath, string Path, long Bytes, string Sha256, string Verification, long ResumedFrom, bool AlreadyPresent);

/// <summary>Downloads dataset files over HTTP with resume and checksum verification.
/// <para>Resume: bytes go to "&lt;file&gt;.part"; a later attempt (a retry after a dropped connection, or a new run)
/// asks for the rest with <c>Range: bytes=N-</c>. A 206 reply is appended; a 200 reply (the server ignores ranges)
/// starts over; a 416 reply means the part is already whole. The finished part is renamed onto the file (atomic).</para>
/// <para>Checksum: the SHA-256 of the whole file is compared with the first expected value found among: the
/// built-in catalog (oasst1 Parquet files), the <c>--manifest</c> file, the <c>X-Linked-Etag</c> header that the
/// Hugging Face hub sends with the redirect of an LFS file (the file's SHA-256), and a "&lt;url&gt;.sha256" file
/// beside it on the server (mirrors; first token of the file). A mismatch deletes the part and is an
/// <see cref="InvalidDataException"/>. A file with no expected value is accepted (reported as unverified) unless
/// <see cref="DownloadOptions.RequireChecksum"/>. Every finished file's hash is recorded in SHA256SUMS in the
/// output folder, which later runs use to check files that are already there.</para></summary>
public sealed class Downloader : IDisposable
{
    public const string LocalManifest = "SHA256SUMS";

    private readonly HttpClient _http;
    private readonly bool _ownsClient;

    public Downloader(HttpClient? http = null)
    {
        _ownsClient = http == null;
        // Redirects are followed by hand so that the hub's X-Linked-Etag on the redirect can be read.
        _http = http ?? new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("humpback-data/1.0");
    }

    public void Dispose()
    {
        if (_ownsClient) _http.Dispose();
    }

    /// <summary>Downloads <paramref name="files"/> from <paramref name="baseUrl"/> into <paramref name="outDir"/>.</summary>
    public async Task<(IReadOnlyList<DownloadResult> Results, DataStats Stats)> DownloadAllAsync(string baseUrl, IReadOnlyList<RemoteFile> files,
        string outDir, DownloadOptions options, IProgress<ProgressInfo>? progress = null, CancellationToken cancellationToken = default)
    {
        var stats = new DataStats("download", "files", "already_present", "downloaded", "resumed", "bytes_downloaded", "verified", "unverified");
        Directory.CreateDirectory(outDir);
        var manifest = options.ManifestPath == null ? new Dictionary<string, string>() : ReadManifest(options.ManifestPath);
        string localPath = Path.Combine(outDir, LocalManifest);
        var local = File.Exists(localPath) ? ReadManifest(localPath) : new Dictionary<string, string>();
        var results = new List<DownloadResult>();
        foreach (RemoteFile f in files)
        {
            stats.Add("files");
            string url = baseUrl.TrimEnd('/') + "/" + f.RelativePath;
            string dest = Path.Combine(outDir, f.RelativePath.Replace('/', Path.DirectorySeparatorChar));
            (string? expected, string source) = f.Sha256 != null ? (f.Sha256, "catalog")
                : manifest.TryGetValue(f.RelativePath, out string? m) ? (m, "manifest")
                : (null, "none");
            if (expected == null && File.Exists(dest) && local.TryGetValue(f.RelativePath, out string? l)) (expected, source) = (l, "local SHA256SUMS");
            DownloadResult r = await DownloadAsync(url, f.RelativePath, dest, expected, source, options, progress, cancellationToken);
            results.Add(r);
            if (r.AlreadyPresent) stats.Add("already_present");
            else
            {
                stats.Add("downloaded");
                stats.Add("bytes_downloaded", r.Bytes - r.ResumedFrom);
                if (r.ResumedFrom > 0) stats.Add("resumed");
            }
            stats.Add(r.Verification == "none" ? "unverified" : "verified");
            stats.SetInfo(f.RelativePath, $"sha256 {r.Sha256} ({(r.Verification == "none" ? "unverified: no checksum published" : "verified against " + r.Verification)})");
            local[f.RelativePath] = r.Sha256;
            AtomicFile.WriteAllText(localPath, string.Concat(local.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Value}  {kv.Key}\n")));
        }
        return (results, stats);
    }

    /// <summary>Downloads one file (see the class summary for resume and checksum rules).</summary>
    public async Task<DownloadResult> DownloadAsync(string url, string relativePath, string destination, string? expectedSha256, string expectedSource,
        DownloadOptions options, IProgress<ProgressInfo>? progress = null, CancellationToken cancellationToken = default)
    {
        expectedSha256 = expectedSha256?.ToLowerInvariant();
        if (File.Exists(destination))
        {
            string have = await HashFileAsync(destination, cancellationToken);
            if (expectedSha256 == null || have == expectedSha256)
                return new DownloadResult(relativePath, destination, new FileInfo(destination).Length, have, expectedSha256 == null ? "none" : expectedSource, 0, true);
            File.Delete(destination); // a stale or damaged copy: fetch it again
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
        string part = destination + ".part";
        long resumedFrom = File.Exists(part) ? new FileInfo(part).Length : 0;
        string? linkedEtag = null;
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                linkedEtag = await FetchIntoPartAsync(url, part, relativePath, progress, cancellationToken) ?? linkedEtag;
                break;
            }
            catch (Exception e) when (e is HttpRequestException or IOException && e is not InvalidDataException && attempt < options.Retries
                                      && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(options.RetryDelay * (attempt + 1), cancellationToken);
            }
            catch (HttpRequestException e)
            {
                throw new IOException($"{url}: {e.Message}", e);
            }
        }

        if (expectedSha256 == null && IsSha256(linkedEtag)) (expectedSha256, expectedSource) = (linkedEtag, "x-linked-etag");
        if (expectedSha256 == null && await FetchSidecarAsync(url + ".sha256", cancellationToken) is { } sidecar) (expectedSha256, expectedSource) = (sidecar, "sha256-sidecar");
        string actual = await HashFileAsync(part, cancellationToken);
        if (expectedSha256 != null && actual != expectedSha256)
        {
            File.Delete(part);
            throw new InvalidDataException(
                $"{relativePath}: sha256 mismatch (expected {expectedSha256} from {expectedSource}, got {actual}); the partial file was removed, run again to download it afresh");
        }
        if (expectedSha256 == null && options.RequireChecksum)
            throw new InvalidDataException($"{relativePath}: no checksum published (catalog, --manifest, X-Linked-Etag or .sha256); kept as {part}");
        File.Move(part, destination, overwrite: true);
        return new DownloadResult(relativePath, destination, new FileInfo(destination).Length, actual, expectedSha256 == null ? "none" : expectedSource, resumedFrom, false);
    }

    /// <summary>One GET (with Range when a part exists), following redirects; appends the body to the part.
    /// Returns the X-Linked-Etag seen on the way, if any.</summary>
    private async Task<string?> FetchIntoPartAsync(string url, string part, string name, IProgress<ProgressInfo>? progress, CancellationToken ct)
    {
        long offset = File.Exists(part) ? new FileInfo(part).Length : 0;
        (HttpResponseMessage response, string? etag) = await SendFollowingRedirectsAsync(url, offset, ct);
        using (response)
        {
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && offset > 0) return etag; // the part is whole
            if (response.StatusCode == HttpStatusCode.PartialContent)
            {
                long? start = response.Content.Headers.ContentRange?.From;
                if (start != offset) throw new IOException($"{url}: asked for bytes from {offset}, the server sent from {start}");
            }
            else if (response.StatusCode == HttpStatusCode.OK) offset = 0; // no range support: start over
            else throw new IOException($"{url}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");

            long? length = response.Content.Headers.ContentLength;
            long? total = length + offset;
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            await using var fs = new FileStream(part, offset == 0 ? FileMode.Create : FileMode.Append, FileAccess.Write, FileShare.None, 1 << 16);
            byte[] buffer = new byte[1 << 16];
            long received = 0;
            int n;
            while ((n = await body.ReadAsync(buffer, ct)) > 0)
            {
                await fs.WriteAsync(buffer.AsMemory(0, n), ct);
                received += n;
                progress?.Report(new ProgressInfo($"download {name}", (offset + received) >> 10, total >> 10, "KiB"));
            }
            await fs.FlushAsync(ct);
            if (length is long expected && received != expected)
                throw new IOException($"{url}: connection ended after {offset + received} of {offset + expected} bytes");
            return etag;
        }
    }

    private async Task<(HttpResponseMessage, string?)> SendFollowingRedirectsAsync(string url, long offset, CancellationToken ct)
    {
        string? etag = null;
        var current = new Uri(url);
        for (int hop = 0; hop < 10; hop++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, current);
            if (offset > 0) request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(offset, null);
            HttpResponseMessage response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (response.Headers.TryGetValues("X-Linked-Etag", out var values)) etag ??= CleanEtag(values.First());
            int code = (int)response.StatusCode;
            if (code is 301 or 302 or 303 or 307 or 308 && response.Headers.Location is { } location)
            {
                response.Dispose();
                current = location.IsAbsoluteUri ? location : new Uri(current, location);
                continue;
            }
            return (response, etag);
        }
        throw new IOException($"{url}: too many redirects");
    }

    private async Task<string?> FetchSidecarAsync(string url, CancellationToken ct)
    {
        try
        {
            (HttpResponseMessage response, _) = await SendFollowingRedirectsAsync(url, 0, ct);
            using (response)
            {
                if (response.StatusCode != HttpStatusCode.OK) return null;
                string text = await response.Content.ReadAsStringAsync(ct);
                string first = text.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
                return IsSha256(first) ? first.ToLowerInvariant() : null;
            }
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    private static string CleanEtag(string etag)
    {
        string e = etag.Trim();
        if (e.StartsWith("W/", StringComparison.Ordinal)) e = e[2..];
        return e.Trim('"').ToLowerInvariant();
    }

    private static bool IsSha256(string? s) => s is { Length: 64 } && s.All(char.IsAsciiHexDigit);

    public static async Task<string> HashFileAsync(string path, CancellationToken ct = default)
    {
        await using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        byte[] hash = await SHA256.HashDataAsync(fs, ct);
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>Reads "&lt;sha256&gt;  &lt;path&gt;" lines (sha256sum's format; "*" before the path is allowed).</summary>
    public static Dictionary<string, string> ReadManifest(string path)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        int n = 0;
        foreach (string line in File.ReadLines(path, Encoding.UTF8))
        {
            n++;
            if (string.IsNullOrWhiteSpace(line) || line.StartsWith('#')) continue;
            string[] parts = line.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2 || !IsSha256(parts[0]))
                throw new InvalidDataException($"{Path.GetFileName(path)}: line {n}: expected '<sha256>  <path>'");
            d[parts[1].TrimStart('*').Trim()] = parts[0].ToLowerInvariant();
        }
        return d;
    }
}
