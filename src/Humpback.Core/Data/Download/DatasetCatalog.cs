using System.Globalization;

namespace Humpback.Data;

/// <summary>A file of a published dataset: its path under the dataset's base URL (also its path under the
/// output folder) and, when known, its SHA-256 and size.</summary>
public sealed record RemoteFile(string RelativePath, string? Sha256 = null, long? Size = null);

/// <summary>The public files this project reads, at their real locations on the Hugging Face hub.</summary>
public static class DatasetCatalog
{
    public const string Oasst1BaseUrl = "https://huggingface.co/datasets/OpenAssistant/oasst1/resolve/main";
    public const string C4BaseUrl = "https://huggingface.co/datasets/allenai/c4/resolve/main";
    public const int C4TrainShards = 1024;

    /// <summary>oasst1's two Parquet splits (their SHA-256 and sizes are those of the hub's LFS pointers, revision
    /// fdf72ae0827c1cda404aff25b6603abec9e3399b) and, optionally, the trees export of the "ready" trees.</summary>
    public static IReadOnlyList<RemoteFile> Oasst1(bool includeTrees)
    {
        var files = new List<RemoteFile>
        {
            new("data/train-00000-of-00001-b42a775f407cee45.parquet",
                "bbfadf5ed1278ba2208c837fdcad865adf65f5df55d80abadab2745db13fcb5e", 39_516_251),
            new("data/validation-00000-of-00001-134b8fd0c89408b6.parquet",
                "24002597bb13a7edd42d92f773762f25e285f72c31a70449393d0ded1dc7b416", 2_080_179),
        };
        if (includeTrees) files.Add(new RemoteFile("2023-04-12_oasst_ready.trees.jsonl.gz"));
        return files;
    }

    /// <summary>C4 "en" training shards <c>en/c4-train.NNNNN-of-01024.json.gz</c>; their checksums come from the
    /// hub at download time (see <see cref="Downloader"/>).</summary>
    public static IReadOnlyList<RemoteFile> C4(IEnumerable<int> shards) =>
        shards.Select(i => new RemoteFile($"en/c4-train.{i.ToString("D5", CultureInfo.InvariantCulture)}-of-01024.json.gz")).ToList();

    /// <summary>Parses "0-3", "7", "0-3,10,12-13" into shard numbers (sorted, distinct, each in [0, 1023]).</summary>
    public static IReadOnlyList<int> ParseShards(string spec)
    {
        var result = new SortedSet<int>();
        foreach (string part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] ends = part.Split('-', StringSplitOptions.TrimEntries);
            if (ends.Length is < 1 or > 2 || !ends.All(e => int.TryParse(e, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                throw new FormatException($"shards '{spec}': expected numbers and ranges like 0-3,7");
            int from = int.Parse(ends[0], CultureInfo.InvariantCulture);
            int to = int.Parse(ends[^1], CultureInfo.InvariantCulture);
            if (from > to || to >= C4TrainShards) throw new FormatException($"shards '{spec}': '{part}' is not a range within 0-{C4TrainShards - 1}");
            for (int i = from; i <= to; i++) result.Add(i);
        }
        if (result.Count == 0) throw new FormatException($"shards '{spec}': no shard given");
        return result.ToList();
    }
}
