using CommandLine;
using Humpback.Data;

namespace Humpback.Cli.Verbs;

[Verb("data download", HelpText = "Download oasst1 or C4 shards from the Hugging Face hub (resumable, SHA-256 checked).")]
public sealed class DataDownloadVerb : ICommand
{
    [Value(0, Required = true, MetaName = "dataset", HelpText = "oasst1 or c4.")]
    public string Dataset { get; set; } = "";

    [Option("out", Required = true, HelpText = "Folder; files keep the hub's layout (data/…parquet, en/c4-train.…json.gz).")]
    public string Out { get; set; } = "";

    [Option("base-url", HelpText = "Base URL instead of the hub's (a mirror).")]
    public string? BaseUrl { get; set; }

    [Option("shards", Default = "0", HelpText = "C4 shards, e.g. 0-3,7 (of 0-1023).")]
    public string Shards { get; set; } = "0";

    [Option("trees", HelpText = "oasst1: also fetch 2023-04-12_oasst_ready.trees.jsonl.gz.")]
    public bool Trees { get; set; }

    [Option("manifest", HelpText = "sha256sum-format file with expected checksums.")]
    public string? Manifest { get; set; }

    [Option("require-checksum", HelpText = "Fail when a file has no published checksum.")]
    public bool RequireChecksum { get; set; }

    [Option("retries", Default = 3, HelpText = "Resumed retries after a dropped connection.")]
    public int Retries { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken) => DataVerbs.RunAsync(async () =>
    {
        (string baseUrl, IReadOnlyList<RemoteFile> files) = Dataset.ToLowerInvariant() switch
        {
            "oasst1" => (BaseUrl ?? DatasetCatalog.Oasst1BaseUrl, DatasetCatalog.Oasst1(Trees)),
            "c4" => (BaseUrl ?? DatasetCatalog.C4BaseUrl, DatasetCatalog.C4(DatasetCatalog.ParseShards(Shards))),
            _ => throw new UsageException($"unknown dataset '{Dataset}' (oasst1 or c4)"),
        };
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new UsageException($"--base-url '{baseUrl}' is not an http(s) URL");
        var options = new DownloadOptions { BaseUrl = baseUrl, ManifestPath = Manifest, RequireChecksum = RequireChecksum, Retries = Retries };
        using var downloader = new Downloader();
        var (results, stats) = await downloader.DownloadAllAsync(baseUrl, files, Out, options, new ConsoleProgress(), cancellationToken);
        DataVerbs.Print(stats, null);
        foreach (DownloadResult r in results.Where(r => r.Verification == "none"))
            Console.Error.WriteLine($"humpback: warning: {r.RelativePath} is unverified (no checksum published); its sha256 is recorded in {Downloader.LocalManifest}");
        return CliHost.ExitOk;
    });
}
