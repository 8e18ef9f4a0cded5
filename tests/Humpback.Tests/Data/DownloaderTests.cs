using System.Security.Cryptography;
using Humpback.Data;
using Xunit;

namespace Humpback.Tests.Data;

public class DownloaderTests
{
    private static readonly DownloadOptions Fast = new() { RetryDelay = TimeSpan.Zero };

    private static byte[] Payload(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static string Sha(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    /// <summary>Serves two C4 shards in the hub's layout under /c4/en/ with .sha256 files beside them.</summary>
    private static (byte[] S0, byte[] S1) ServeC4(LoopbackHttpServer server, bool sidecars = true)
    {
        byte[] s0 = Payload(300_000, 1), s1 = Payload(120_000, 2);
        server.Files["/c4/en/c4-train.00000-of-01024.json.gz"] = s0;
        server.Files["/c4/en/c4-train.00001-of-01024.json.gz"] = s1;
        if (sidecars)
        {
            server.Files["/c4/en/c4-train.00000-of-01024.json.gz.sha256"] = System.Text.Encoding.ASCII.GetBytes(Sha(s0) + "  c4-train.00000-of-01024.json.gz\n");
            server.Files["/c4/en/c4-train.00001-of-01024.json.gz.sha256"] = System.Text.Encoding.ASCII.GetBytes(Sha(s1) + "\n");
        }
        return (s0, s1);
    }

    [Fact]
    public async Task DownloadsShardsInTheRealLayoutAndVerifiesSidecarChecksums()
    {
        await using var server = new LoopbackHttpServer();
        var (s0, s1) = ServeC4(server);
        using var dir = new TempDir();
        using var d = new Downloader();

        var (results, stats) = await d.DownloadAllAsync(server.BaseUrl + "/c4", DatasetCatalog.C4([0, 1]), dir.Path, Fast);

        Assert.Equal(s0, File.ReadAllBytes(Path.Combine(dir.Path, "en", "c4-train.00000-of-01024.json.gz")));
        Assert.Equal(s1, File.ReadAllBytes(Path.Combine(dir.Path, "en", "c4-train.00001-of-01024.json.gz")));
        Assert.All(results, r => Assert.Equal("sha256-sidecar", r.Verification));
        Assert.Equal(2, stats["verified"]);
        Assert.Equal(s0.Length + s1.Length, stats["bytes_downloaded"]);
        Assert.Equal(
            $"{Sha(s0)}  en/c4-train.00000-of-01024.json.gz\n{Sha(s1)}  en/c4-train.00001-of-01024.json.gz\n",
            File.ReadAllText(Path.Combine(dir.Path, "SHA256SUMS")));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.part", SearchOption.AllDirectories));

        // A second run finds both files whole (checked against SHA256SUMS) and fetches nothing.
        int before = server.Log.Count;
        var (again, stats2) = await d.DownloadAllAsync(server.BaseUrl + "/c4", DatasetCatalog.C4([0, 1]), dir.Path, Fast);
        Assert.All(again, r => Assert.True(r.AlreadyPresent));
        Assert.All(again, r => Assert.Equal("local SHA256SUMS", r.Verification));
        Assert.Equal(before, server.Log.Count);
        Assert.Equal(2, stats2["already_present"]);
    }

    [Fact]
    public async Task APartialFileIsResumedWithARangeRequest()
    {
        await using var server = new LoopbackHttpServer();
        var (s0, _) = ServeC4(server);
        using var dir = new TempDir();
        string dest = Path.Combine(dir.Path, "en", "c4-train.00000-of-01024.json.gz");
        Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
        File.WriteAllBytes(dest + ".part", s0[..123_456]);
        using var d = new Downloader();

        var (results, stats) = await d.DownloadAllAsync(server.BaseUrl + "/c4", DatasetCatalog.C4([0]), dir.Path, Fast);

        Assert.Equal(s0, File.ReadAllBytes(dest));
        Assert.Equal(123_456, results[0].ResumedFrom);
        Assert.Contains("GET /c4/en/c4-train.00000-of-01024.json.gz Range: bytes=123456-", server.Log);
        Assert.Equal(1, stats["resumed"]);
        Assert.Equal(s0.Length - 123_456, stats["bytes_downloaded"]);
        Assert.False(File.Exists(dest + ".part"));
    }

    [Fact]
    public async Task ADroppedConnectionIsRetriedFromWhereItStopped()
    {
        await using var server = new LoopbackHttpServer();
        var (s0, _) = ServeC4(server);
        server.CutNextResponses(times: 2, bytes: 50_000);
        using var dir = new TempDir();
        using var d = new Downloader();

        var (results, _) = await d.DownloadAllAsync(server.BaseUrl + "/c4", DatasetCatalog.C4([0]), dir.Path, Fast);

        Assert.Equal(s0, File.ReadAllBytes(results[0].Path));
        var gets = server.Log.Where(l => l.StartsWith("GET /c4/en/c4-train.00000-of-01024.json.gz", StringComparison.Ordinal) && !l.Contains(".sha256", StringComparison.Ordinal)).ToArray();
        Assert.Equal(
            ["GET /c4/en/c4-train.00000-of-01024.json.gz", "GET /c4/en/c4-train.00000-of-01024.json.gz Range: bytes=50000-",
             "GET /c4/en/c4-train.00000-of-01024.json.gz Range: bytes=100000-"],
            gets);
    }

    [Fact]
    public async Task AServerWithoutRangesMakesTheDownloadStartOver()
    {
        await using var server = new LoopbackHttpServer { SupportRanges = false };
        var (s0, _) = ServeC4(server);
        using var dir = new TempDir();
        string dest = Path.Combine(dir.Path, "en", "c4-train.00000-of-01024.json.gz");
        Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
        File.WriteAllBytes(dest + ".part", Payload(1000, 99)); // not even a prefix of the file
        using var d = new Downloader();
        await d.DownloadAllAsync(server.BaseUrl + "/c4", DatasetCatalog.C4([0]), dir.Path, Fast);
        Assert.Equal(s0, File.ReadAllBytes(dest));
    }

    [Fact]
    public async Task AChecksumMismatchIsAnErrorAndLeavesNothingBehind()
    {
        await using var server = new LoopbackHttpServer();
        ServeC4(server);
        server.Files["/c4/en/c4-train.00000-of-01024.json.gz.sha256"] = System.Text.Encoding.ASCII.GetBytes(new string('0', 64) + "\n");
        using var dir = new TempDir();
        using var d = new Downloader();

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => d.DownloadAllAsync(server.BaseUrl + "/c4", DatasetCatalog.C4([0]), dir.Path, Fast));

        Assert.StartsWith($"en/c4-train.00000-of-01024.json.gz: sha256 mismatch (expected {new string('0', 64)} from sha256-sidecar, got ", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(dir.Path, "c4-train*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task TheHubsLinkedEtagOnTheRedirectIsTheChecksum()
    {
        await using var server = new LoopbackHttpServer();
        byte[] good = Payload(64_000, 3), other = Payload(64_000, 4);
        // Like huggingface.co: /resolve/... answers 302 to a CDN with the LFS sha256 in X-Linked-Etag.
        server.Redirects["/hub/en/c4-train.00002-of-01024.json.gz"] = ("/cdn/blob-2", Sha(good));
        server.Files["/cdn/blob-2"] = good;
        server.Redirects["/hub/en/c4-train.00003-of-01024.json.gz"] = ($"{server.BaseUrl}/cdn/blob-3", Sha(good));
        server.Files["/cdn/blob-3"] = other;
        using var dir = new TempDir();
        using var d = new Downloader();

        var (results, _) = await d.DownloadAllAsync(server.BaseUrl + "/hub", DatasetCatalog.C4([2]), dir.Path, Fast);
        Assert.Equal("x-linked-etag", results[0].Verification);
        Assert.Equal(good, File.ReadAllBytes(results[0].Path));

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => d.DownloadAllAsync(server.BaseUrl + "/hub", DatasetCatalog.C4([3]), dir.Path, Fast));
        Assert.Contains("from x-linked-etag", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Oasst1UsesTheCatalogChecksumsAndManifestsOverride()
    {
        await using var server = new LoopbackHttpServer();
        foreach (RemoteFile f in DatasetCatalog.Oasst1(includeTrees: true)) server.Files["/oasst1/" + f.RelativePath] = Payload(2000, f.RelativePath.Length);
        using var dir = new TempDir();
        using var d = new Downloader();
        // Fixture bytes are not the real files: the catalog's sha256 catches it.
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => d.DownloadAllAsync(server.BaseUrl + "/oasst1", DatasetCatalog.Oasst1(true), dir.Path, Fast));
        Assert.Contains("data/train-00000-of-00001-b42a775f407cee45.parquet: sha256 mismatch (expected bbfadf5e", e.Message, StringComparison.Ordinal);
        Assert.Contains("from catalog", e.Message, StringComparison.Ordinal);

        // The trees file has no published checksum: with --require-checksum that is an error, and a manifest fixes it.
        RemoteFile trees = DatasetCatalog.Oasst1(true)[2];
        e = await Assert.ThrowsAsync<InvalidDataException>(() => d.DownloadAllAsync(server.BaseUrl + "/oasst1", [trees], dir.Path, Fast with { RequireChecksum = true }));
        Assert.Contains("no checksum published", e.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dir.Path, trees.RelativePath + ".part")));

        string manifest = dir.File("manifest.txt");
        File.WriteAllText(manifest, $"{Sha(server.Files["/oasst1/" + trees.RelativePath])}  {trees.RelativePath}\n");
        var (results, _) = await d.DownloadAllAsync(server.BaseUrl + "/oasst1", [trees], dir.Path, Fast with { RequireChecksum = true, ManifestPath = manifest });
        Assert.Equal("manifest", results[0].Verification);
        Assert.Equal(2000, results[0].ResumedFrom); // the kept .part was whole: the server answered 416
    }

    [Fact]
    public async Task MissingFilesAreIoErrorsNamingTheUrl()
    {
        await using var server = new LoopbackHttpServer();
        using var dir = new TempDir();
        using var d = new Downloader();
        var e = await Assert.ThrowsAsync<IOException>(() => d.DownloadAllAsync(server.BaseUrl + "/c4", DatasetCatalog.C4([7]), dir.Path, Fast));
        Assert.Equal($"{server.BaseUrl}/c4/en/c4-train.00007-of-01024.json.gz: HTTP 404 Not Found", e.Message);
    }

    [Theory]
    [InlineData("0-3", new[] { 0, 1, 2, 3 })]
    [InlineData("7", new[] { 7 })]
    [InlineData("3,0-1, 1", new[] { 0, 1, 3 })]
    public void ShardSpecs(string spec, int[] shards) => Assert.Equal(shards, DatasetCatalog.ParseShards(spec));

    [Theory]
    [InlineData("3-1")]
    [InlineData("1024")]
    [InlineData("a")]
    [InlineData("")]
    public void BadShardSpecs(string spec) => Assert.Throws<FormatException>(() => DatasetCatalog.ParseShards(spec));
}
