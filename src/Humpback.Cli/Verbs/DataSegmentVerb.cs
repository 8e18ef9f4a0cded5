using CommandLine;
using Humpback.Data;

namespace Humpback.Cli.Verbs;

[Verb("data segment", HelpText = "Cut C4 documents (json.gz/jsonl/Parquet) into 600-3000 character segments, filter and deduplicate them into candidates.")]
public sealed class DataSegmentVerb : ICommand
{
    [Option("input", Required = true, Min = 1, HelpText = "C4 files, folders or globs (en/c4-train.*.json.gz).")]
    public IEnumerable<string> Input { get; set; } = [];

    [Option("out", Required = true, HelpText = "Output Parquet (candidates schema); stats go beside it.")]
    public string Out { get; set; } = "";

    [Option("min-chars", Default = 600, HelpText = "Shortest segment, in characters.")]
    public int MinChars { get; set; }

    [Option("max-chars", Default = 3000, HelpText = "Longest segment, in characters.")]
    public int MaxChars { get; set; }

    [Option("dedup", HelpText = "Exact deduplication (the default).")]
    public bool Dedup { get; set; }

    [Option("no-dedup", HelpText = "Keep exact duplicates.")]
    public bool NoDedup { get; set; }

    [Option("near-dedup", HelpText = "Near-duplicate removal with MinHash LSH (the default).")]
    public bool NearDedup { get; set; }

    [Option("no-near-dedup", HelpText = "Keep near duplicates.")]
    public bool NoNearDedup { get; set; }

    [Option("no-filters", HelpText = "Skip the quality filters (caps, short lines, navigation, boilerplate, repeated sentences).")]
    public bool NoFilters { get; set; }

    [Option("max-segments", Default = 0L, HelpText = "Stop after this many segments (0: all). notHumpback used 502000.")]
    public long MaxSegments { get; set; }

    [Option("threads", HelpText = "Worker threads (default: the number of cores).")]
    public int? Threads { get; set; }

    [Option("bands", Default = 16, HelpText = "LSH bands.")]
    public int Bands { get; set; }

    [Option("rows-per-band", Default = 8, HelpText = "MinHash values per LSH band.")]
    public int RowsPerBand { get; set; }

    [Option("shingle-words", Default = 5, HelpText = "Words per MinHash shingle.")]
    public int ShingleWords { get; set; }

    [Option("max-caps-ratio", Default = 0.3, HelpText = "Drop segments whose letters are more upper-case than this.")]
    public double MaxCapsRatio { get; set; }

    [Option("repeat-jaccard", Default = 0.8, HelpText = "Sentences this similar (word 3-gram Jaccard) count as repeated.")]
    public double RepeatJaccard { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken) => DataVerbs.RunAsync(async () =>
    {
        if (Dedup && NoDedup) throw new UsageException("--dedup and --no-dedup contradict each other");
        if (NearDedup && NoNearDedup) throw new UsageException("--near-dedup and --no-near-dedup contradict each other");
        var options = new SegmentOptions
        {
            MinChars = MinChars,
            MaxChars = MaxChars,
            Dedup = !NoDedup,
            NearDedup = !NoNearDedup,
            QualityFilters = !NoFilters,
            MaxSegments = MaxSegments,
            Threads = Threads ?? Environment.ProcessorCount,
            Bands = Bands,
            RowsPerBand = RowsPerBand,
            ShingleWords = ShingleWords,
            MaxCapsRatio = MaxCapsRatio,
            RepeatJaccard = RepeatJaccard,
        };
        options.Validate();
        IReadOnlyList<string> inputs = InputFiles.Expand(Input);
        DataStats stats = await SegmentPipeline.RunAsync(inputs, Out, options, new ConsoleProgress(), cancellationToken);
        DataVerbs.Print(stats, Out);
        return CliHost.ExitOk;
    });
}
