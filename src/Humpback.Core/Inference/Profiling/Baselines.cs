using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;

namespace Humpback.Inference.Profiling;

/// <summary>One timed run of a method over a set of rows.</summary>
public sealed record Measurement(string Method, int Parallel, int Rows, double Seconds, long TokensDecoded, long GeneratedTokens)
{
    public double RowsPerSecond => Rows / Math.Max(1e-9, Seconds);
    public double TokensPerSecond => TokensDecoded / Math.Max(1e-9, Seconds);
    public double GeneratedTokensPerSecond => GeneratedTokens / Math.Max(1e-9, Seconds);
}

/// <summary>The loops the engine is measured against, written straight on LLamaBatch / llama_decode:
/// <list type="bullet">
/// <item>naive: one row at a time in a one-sequence context, the whole prompt (prefix included) decoded per row;</item>
/// <item>hand-tuned: rows in static groups of P sequences, prompts packed into full batches, the shared prefix decoded
/// once and copied exactly as the engine does — the best a hand-written loop does without a scheduler, so the gap to
/// the engine is what the engine's C# scheduling costs.</item>
/// </list></summary>
public static class Baselines
{
    private static LLamaContext CreateContext(LlamaModel m, EngineOptions o, int sequences, bool unified)
    {
        LLamaContext ctx = m.Weights.CreateContext(BatchEngine.ContextParams(m, o, sequences, unified));
        if (m.Lora is LoraAdapter lora) ctx.NativeHandle.SetLoraAdapters([(lora, m.LoraScale)]);
        return ctx;
    }

    private static void Decode(SafeLLamaContextHandle ctx, LLamaBatch batch)
    {
        DecodeResult r = ctx.Decode(batch);
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed ({r})");
    }

    /// <summary>Decodes <paramref name="tokens"/> from position <paramref name="pos"/> into one sequence in chunks;
    /// returns the batch index of the last token's logits (−1 when <paramref name="logitsLast"/> is false).</summary>
    private static int Feed(SafeLLamaContextHandle ctx, LLamaBatch batch, ReadOnlySpan<int> tokens, int pos, int seq, int batchSize, bool logitsLast)
    {
        int last = -1;
        for (int start = 0; start < tokens.Length; start += batchSize)
        {
            batch.Clear();
            int n = Math.Min(batchSize, tokens.Length - start);
            for (int i = 0; i < n; i++)
            {
                bool isLast = logitsLast && start + i == tokens.Length - 1;
                int row = batch.Add(tokens[start + i], pos + start + i, (LLamaSeqId)seq, isLast);
                if (isLast) last = row;
            }
            Decode(ctx, batch);
        }
        return last;
    }

    /// <summary>Sequence 0 holds the prefix; give it to the others as the engine does (a cell range when unified, the
    /// whole stream otherwise).</summary>
    private static void CopyPrefix(SafeLLamaContextHandle ctx, int parallel, int prefixLength, bool unified)
    {
        for (int s = 1; s < parallel && prefixLength > 0; s++)
        {
            if (unified) ctx.MemorySequenceCopy((LLamaSeqId)0, (LLamaSeqId)s, 0, prefixLength);
            else ctx.MemorySequenceCopy((LLamaSeqId)0, (LLamaSeqId)s, -1, -1);
        }
    }

    public static Measurement NaiveScore(LlamaModel m, EngineOptions o, int[] prefix, int[][] rows, int[] candidates, float[] scratch)
    {
        using LLamaContext context = CreateContext(m, o, 1, unified: true);
        SafeLLamaContextHandle ctx = context.NativeHandle;
        var batch = new LLamaBatch();
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        foreach (int[] row in rows)
        {
            ctx.MemoryClear(true);
            int[] prompt = [.. prefix, .. row];
            int last = Feed(ctx, batch, prompt, 0, 0, o.BatchSize, logitsLast: true);
            _ = BatchEngine.SoftmaxAt(ctx.GetLogitsIth(last), candidates, scratch);
            tokens += prompt.Length;
        }
        return new Measurement("naive", 1, rows.Length, clock.Elapsed.TotalSeconds, tokens, 0);
    }

    public static Measurement HandTunedScore(LlamaModel m, EngineOptions o, int parallel, int[] prefix, int[][] rows, int[] candidates, float[] scratch)
    {
        bool unified = o.Unified;
        using LLamaContext context = CreateContext(m, o, parallel, unified);
        SafeLLamaContextHandle ctx = context.NativeHandle;
        var batch = new LLamaBatch();
        var clock = Stopwatch.StartNew();
        Feed(ctx, batch, prefix, 0, 0, o.BatchSize, logitsLast: false);
        CopyPrefix(ctx, parallel, prefix.Length, unified);
        long tokens = prefix.Length;
        var done = new List<int>(parallel);
        for (int g = 0; g < rows.Length; g += parallel)
        {
            int n = Math.Min(parallel, rows.Length - g);
            int r = 0, fed = 0;
            while (r < n)
            {
                // Pack the group's prompts back to back into full batches; read a row's logits in the batch that ends it.
                batch.Clear();
                done.Clear();
                var index = new List<int>(parallel);
                while (batch.TokenCount < o.BatchSize && r < n)
                {
                    int[] row = rows[g + r];
                    int take = Math.Min(o.BatchSize - batch.TokenCount, row.Length - fed);
                    for (int i = 0; i < take; i++)
                    {
                        bool last = fed + i == row.Length - 1;
                        int at = batch.Add(row[fed + i], prefix.Length + fed + i, (LLamaSeqId)r, last);
                        if (last) index.Add(at);
                    }
                    fed += take;
                    tokens += take;
                    if (fed == row.Length) { r++; fed = 0; }
                }
                Decode(ctx, batch);
                foreach (int at in index) _ = BatchEngine.SoftmaxAt(ctx.GetLogitsIth(at), candidates, scratch);
            }
            for (int s = 0; s < n; s++) ctx.MemorySequenceRemove((LLamaSeqId)s, prefix.Length, -1);
        }
        return new Measurement("hand-tuned", parallel, rows.Length, clock.Elapsed.TotalSeconds, tokens, 0);
    }

    public static Measurement NaiveGenerate(LlamaModel m, EngineOptions o, int[] prefix, int[][] rows, GenerationSettings gen)
    {
        using LLamaContext context = CreateContext(m, o, 1, unified: true);
        SafeLLamaContextHandle ctx = context.NativeHandle;
        var batch = new LLamaBatch();
        var scratch = new SamplerScratch(m.VocabSize);
        var clock = Stopwatch.StartNew();
        long tokens = 0, generated = 0;
        for (int k = 0; k < rows.Length; k++)
        {
            ctx.MemoryClear(true);
            int[] prompt = [.. prefix, .. rows[k]];
            int last = Feed(ctx, batch, prompt, 0, 0, o.BatchSize, logitsLast: true);
            tokens += prompt.Length;
            var rng = new RowRng(gen.Seed, (ulong)k);
            int pos = prompt.Length;
            for (int n = 0; ; n++)
            {
                int t = TokenSampler.Sample(ctx.GetLogitsIth(last), gen, ref rng, scratch);
                if (m.IsEndOfGeneration(t)) break;
                generated++;
                if (n + 1 >= gen.MaxNewTokens) break;
                batch.Clear();
                last = batch.Add(t, pos++, LLamaSeqId.Zero, true);
                Decode(ctx, batch);
                tokens++;
            }
        }
        return new Measurement("naive", 1, rows.Length, clock.Elapsed.TotalSeconds, tokens, generated);
    }

    /// <summary>Static batching: a group of P rows is prefilled, then decoded one token per live row per step until
    /// the whole group is done; only then does the next group start (the engine refills a slot at once instead).</summary>
    public static Measurement HandTunedGenerate(LlamaModel m, EngineOptions o, int parallel, int[] prefix, int[][] rows, GenerationSettings gen)
    {
        bool unified = o.Unified;
        using LLamaContext context = CreateContext(m, o, parallel, unified);
        SafeLLamaContextHandle ctx = context.NativeHandle;
        var batch = new LLamaBatch();
        var scratch = new SamplerScratch(m.VocabSize);
        var clock = Stopwatch.StartNew();
        Feed(ctx, batch, prefix, 0, 0, o.BatchSize, logitsLast: false);
        CopyPrefix(ctx, parallel, prefix.Length, unified);
        long tokens = prefix.Length, generated = 0;
        for (int g = 0; g < rows.Length; g += parallel)
        {
            int n = Math.Min(parallel, rows.Length - g);
            var rng = new RowRng[n];
            var pos = new int[n];
            var logits = new int[n];
            var count = new int[n];
            var live = new bool[n];
            var pending = new int[n];
            // Prefill the group, packed.
            int r = 0, fed = 0;
            while (r < n)
            {
                batch.Clear();
                var ended = new List<(int Row, int At)>();
                while (batch.TokenCount < o.BatchSize && r < n)
                {
                    int[] row = rows[g + r];
                    int take = Math.Min(o.BatchSize - batch.TokenCount, row.Length - fed);
                    for (int i = 0; i < take; i++)
                    {
                        bool last = fed + i == row.Length - 1;
                        int at = batch.Add(row[fed + i], prefix.Length + fed + i, (LLamaSeqId)r, last);
                        if (last) ended.Add((r, at));
                    }
                    fed += take;
                    tokens += take;
                    if (fed == row.Length) { pos[r] = prefix.Length + row.Length; r++; fed = 0; }
                }
                Decode(ctx, batch);
                foreach (var (row, at) in ended) { logits[row] = at; live[row] = true; rng[row] = new RowRng(gen.Seed, (ulong)(g + row)); }
                // Sample each finished prompt's first token now: its logits do not survive the next decode.
                foreach (var (row, _) in ended) Step(row);
            }
            // Decode one token per live row until the group is done.
            while (live.Any(x => x))
            {
                batch.Clear();
                for (int s = 0; s < n; s++)
                {
                    if (!live[s]) continue;
                    logits[s] = batch.Add(pending[s], pos[s]++, (LLamaSeqId)s, true);
                    tokens++;
                }
                Decode(ctx, batch);
                for (int s = 0; s < n; s++) if (live[s]) Step(s);
            }
            for (int s = 0; s < n; s++) ctx.MemorySequenceRemove((LLamaSeqId)s, prefix.Length, -1);

            void Step(int s)
            {
                int t = TokenSampler.Sample(ctx.GetLogitsIth(logits[s]), gen, ref rng[s], scratch);
                if (m.IsEndOfGeneration(t)) { live[s] = false; return; }
                count[s]++;
                generated++;
                if (count[s] >= gen.MaxNewTokens) { live[s] = false; return; }
                pending[s] = t;
            }
        }
        return new Measurement("hand-tuned", parallel, rows.Length, clock.Elapsed.TotalSeconds, tokens, generated);
    }
}
