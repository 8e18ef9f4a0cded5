namespace Humpback.Data;

/// <summary>Options of <c>humpback data segment</c>; every threshold is documented in docs/data.md.</summary>
public sealed record SegmentOptions
{
    /// <summary>Segment length bounds in characters (UTF-16 code units), after Li et al. 2023 (600–3,000).</summary>
    public int MinChars { get; init; } = 600;
    public int MaxChars { get; init; } = 3000;

    /// <summary>Run the quality filters (caps, short lines, navigation, boilerplate, repeated sentences).</summary>
    public bool QualityFilters { get; init; } = true;

    /// <summary>Exact deduplication on a hash of the normalised text (lower-cased words, punctuation and spacing ignored).</summary>
    public bool Dedup { get; init; } = true;

    /// <summary>Near-duplicate removal by MinHash with LSH bands over word shingles.</summary>
    public bool NearDedup { get; init; } = true;

    /// <summary>Words per shingle, and the LSH layout: Bands × RowsPerBand MinHash permutations. With 16 × 8 a pair
    /// of segments with Jaccard similarity s collides in some band with probability 1 − (1 − s^8)^16: 0.5 at
    /// s ≈ 0.71, 0.95 at s = 0.8, 0.06 at s = 0.5.</summary>
    public int ShingleWords { get; init; } = 5;
    public int Bands { get; init; } = 16;
    public int RowsPerBand { get; init; } = 8;

    /// <summary>A segment whose letters are more than this fraction upper-case is dropped (needs ≥ 50 letters).</summary>
    public double MaxCapsRatio { get; init; } = 0.3;

    /// <summary>A segment with at least <see cref="ShortLineMinLines"/> lines, more than this fraction of them
    /// shorter than <see cref="ShortLineChars"/> characters, is dropped (menus, lists of links, tag clouds).</summary>
    public double MaxShortLineRatio { get; init; } = 0.5;
    public int ShortLineChars { get; init; } = 30;
    public int ShortLineMinLines { get; init; } = 4;

    /// <summary>Two sentences of one segment whose word n-gram sets have Jaccard similarity ≥ this are repeats;
    /// a segment with a repeated sentence is dropped. Sentences shorter than <see cref="RepeatMinWords"/> words
    /// are not compared.</summary>
    public double RepeatJaccard { get; init; } = 0.8;
    public int RepeatNgram { get; init; } = 3;
    public int RepeatMinWords { get; init; } = 4;

    /// <summary>Stop after writing this many segments (0: no limit). notHumpback used 502k C4 entries.</summary>
    public long MaxSegments { get; init; }

    /// <summary>Worker threads for parsing, cutting and filtering (the reader and the writer are one thread each).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Bytes of json lines per work item (tests make it small to get many blocks).</summary>
    internal int BlockBytes { get; init; } = 1 << 20;

    public void Validate()
    {
        if (MinChars < 1 || MaxChars < MinChars) throw new ArgumentException($"need 1 <= min-chars <= max-chars (got {MinChars}, {MaxChars})");
        if (ShingleWords < 1 || Bands < 1 || RowsPerBand < 1) throw new ArgumentException("shingle words, bands and rows per band must be >= 1");
        if (Threads < 1) throw new ArgumentException("threads must be >= 1");
        if (MaxSegments < 0) throw new ArgumentException("max-segments must be >= 0");
    }
}
