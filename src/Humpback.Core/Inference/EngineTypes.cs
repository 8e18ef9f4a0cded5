namespace Humpback.Inference;

/// <summary>Settings of one <see cref="BatchEngine"/> (one llama.cpp context).</summary>
public sealed record EngineOptions
{
    /// <summary>llama.cpp's LLAMA_MAX_SEQ: a sequence id at or above it aborts the process.</summary>
    public const int MaxSequences = 256;

    /// <summary>Sequences decoded together (slots); each holds one row at a time.</summary>
    public int ParallelSequences { get; init; } = 16;

    /// <summary>Most tokens in one llama_decode call (llama.cpp aborts beyond its n_batch, so prompts are chunked).</summary>
    public int BatchSize { get; init; } = 512;

    /// <summary>Most tokens one sequence may hold: shared prefix + row prompt + generated tokens. A longer prompt is a
    /// per-row error; a generation reaching it stops with finish reason "length".</summary>
    public int SequenceContext { get; init; } = 2048;

    /// <summary>Cells of the unified KV cache (default: parallel sequences × sequence context, which always fits;
    /// less is fine since the shared prefix is stored once — the engine shrinks its batch or re-queues a row on NoKvSlot).
    /// Implies the unified layout.</summary>
    public int? KvCells { get; init; }

    /// <summary>KV cache layout. Per sequence (default): one stream per sequence; the shared prefix is copied into each
    /// stream once (a whole-stream copy, all llama.cpp allows across streams) and a token's attention reads its own
    /// sequence's cells only. Unified (true, or implied by <see cref="KvCells"/>): one cell pool; the prefix is stored
    /// once and referenced by every sequence, but each token's attention runs (masked) over every used cell of the pool,
    /// i.e. over the other rows in flight too. Measured on the profile model: per-sequence streams score 10–20% and
    /// generate about 2× faster at 16–32 sequences; unified saves the prefix copies' memory.</summary>
    public bool? KvUnified { get; init; }

    /// <summary>ggml threads. On 2 shared cores 2 threads can stall on spin barriers, so 1 is the default there.</summary>
    public int Threads { get; init; } = DefaultThreads;

    /// <summary>Off by default: flash attention on the CPU changes logits by about 1e-3, and scores must match a
    /// plain single-sequence decode.</summary>
    public bool FlashAttention { get; init; }

    /// <summary>Keys and values cached in f32 (default) rather than f16. llama.cpp computes a token's keys with a
    /// different kernel for a 1-token batch than for a larger one; the last-bit difference is harmless in f32 but can
    /// flip an f16 rounding (1e-3), and then a sampled token — so f32 is what makes a generation independent of how
    /// many rows were batched with it. f16 halves the cache where memory matters more than that.</summary>
    public bool KvF32 { get; init; } = true;

    public static int DefaultThreads => Environment.ProcessorCount <= 2 ? 1 : Environment.ProcessorCount;

    public int TotalKvCells => KvCells ?? checked(ParallelSequences * SequenceContext);

    /// <summary>The layout used (see <see cref="KvUnified"/>).</summary>
    public bool Unified => KvUnified ?? KvCells != null;

    public void Validate()
    {
        if (ParallelSequences < 1 || ParallelSequences > MaxSequences)
            throw new ArgumentException($"parallel sequences must be in 1..{MaxSequences} (llama.cpp's limit), got {ParallelSequences}");
        if (BatchSize < 1) throw new ArgumentException($"batch size must be ≥ 1, got {BatchSize}");
        if (SequenceContext < 8) throw new ArgumentException($"sequence context must be ≥ 8 tokens, got {SequenceContext}");
        if (KvCells is int k && k < SequenceContext) throw new ArgumentException($"KV cells ({k}) must hold at least one full sequence ({SequenceContext})");
        if (KvCells != null && KvUnified == false) throw new ArgumentException("KV cells size the unified cache; they do not apply to per-sequence streams");
        if (Threads < 1) throw new ArgumentException($"threads must be ≥ 1, got {Threads}");
    }
}

/// <summary>One row for the engine: its prompt tokens after the shared prefix.</summary>
public sealed class EngineRequest
{
    /// <summary>Returned with the result (the row index in the jobs).</summary>
    public required long Key { get; init; }

    /// <summary>The row's prompt after the shared prefix (must not be empty).</summary>
    public int[] Tokens { get; init; } = [];

    /// <summary>Seeds the row's random stream together with <see cref="GenerationSettings.Seed"/>.</summary>
    public ulong RngKey { get; init; }

    /// <summary>A row already known to be unusable (e.g. null input text): reported as an error result, never decoded.</summary>
    public string? Error { get; init; }
}

public enum FinishReason { Eos, Stop, Length, Error }

/// <summary>The outcome of one row. Scoring fills <see cref="Probabilities"/>; generation fills the text fields.</summary>
public sealed class EngineResult
{
    public required long Key { get; init; }
    /// <summary>Shared prefix + row tokens.</summary>
    public int PromptTokens { get; init; }
    public int GeneratedTokens { get; init; }
    /// <summary>Null for a scored row.</summary>
    public FinishReason? Finish { get; init; }
    public string? Text { get; init; }
    /// <summary>Softmax probabilities (over the whole vocabulary) of the candidate tokens, in the order given.</summary>
    public double[]? Probabilities { get; init; }
    public string? Error { get; init; }
}

/// <summary>What one engine run did (this run only).</summary>
public sealed record EngineRunStats(
    long Rows,
    long ErrorRows,
    int PrefixTokens,
    long PromptTokensDecoded,
    long GeneratedTokens,
    long DecodeCalls,
    long Preemptions,
    long NoKvSlotRetries,
    TimeSpan Elapsed,
    TimeSpan DecodeTime)
{
    /// <summary>All tokens that went through llama_decode, the shared prefix included.</summary>
    public long TokensDecoded => PrefixTokens + PromptTokensDecoded + GeneratedTokens;
}

public static class FinishReasons
{
    public static string ToText(this FinishReason r) => r switch
    {
        FinishReason.Eos => "eos",
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        _ => "error",
    };
}
