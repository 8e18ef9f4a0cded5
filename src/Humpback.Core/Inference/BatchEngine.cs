using System.Collections.Concurrent;
using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using LLama;
using LLama.Common;
using LLama.Native;

namespace Humpback.Inference;

/// <summary>Continuous batching over one llama.cpp context: up to <see cref="EngineOptions.ParallelSequences"/> rows
/// are decoded together, each in its own KV sequence (slot); a slot whose row finishes takes the next row at the next
/// step. A prompt prefix shared by every row (the long curation instructions) is decoded once into sequence 0 and
/// copied into each slot's KV cache (see <see cref="EngineOptions.KvUnified"/> for the two layouts); a finished row's
/// cells after the prefix are removed, so the prefix stays in place for the next row.
///
/// Each step builds one batch of at most n_batch tokens: one token per generating slot, then prompt chunks of the
/// slots still reading their prompt, oldest first. Guards keep every llama.cpp assertion we know of from firing
/// (they abort the process): tokens per decode ≤ n_batch, sequence ids &lt; 256, unified KV for partial copies. Running
/// out of KV cells (NoKvSlot) shrinks the batch, then re-queues the newest row (it restarts from scratch; its random
/// stream restarts too, so its text is unchanged).
///
/// Not thread-safe: one run at a time. llama.cpp serialises decodes of all contexts in a process anyway.</summary>
public sealed class BatchEngine : IDisposable
{
    private readonly LlamaModel _model;
    private LLamaContext? _context;
    private SafeLLamaContextHandle _ctx = null!;
    private bool _unified;
    private int _batchLimit;
    private readonly Slot[] _slots;
    private readonly LLamaBatch _batch = new();
    private readonly ConcurrentBag<SamplerScratch> _scratch = [];

    public BatchEngine(LlamaModel model, EngineOptions options)
    {
        options.Validate();
        _model = model;
        Options = options;
        _slots = new Slot[options.ParallelSequences];
        for (int i = 0; i < _slots.Length; i++) _slots[i] = new Slot(i);
    }

    /// <summary>The llama.cpp context, created on first use (so creating an engine is cheap and runs time decoding only).</summary>
    private SafeLLamaContextHandle Context()
    {
        if (_context != null) return _context.NativeHandle;
        bool unified = Options.Unified;
        ModelParams p = ContextParams(_model, Options, Options.ParallelSequences, unified);
        LLamaContext context = _model.Weights.CreateContext(p);
        try
        {
            SafeLLamaContextHandle ctx = context.NativeHandle;
            if (_model.Lora is LoraAdapter lora) ctx.SetLoraAdapters([(lora, _model.LoraScale)]);
            if (ctx.MaxSeq < Options.ParallelSequences)
                throw new InvalidOperationException($"llama.cpp gave {ctx.MaxSeq} sequences, fewer than the {Options.ParallelSequences} asked for");
            if (!unified && ctx.ContextSize / (uint)Options.ParallelSequences < Options.SequenceContext)
                throw new InvalidOperationException(
                    $"llama.cpp gave {ctx.ContextSize} KV cells for {Options.ParallelSequences} streams, fewer than {Options.SequenceContext} per sequence");
            // llama.cpp may lower n_batch (e.g. to n_ctx); what it reports is the real limit of one decode.
            _batchLimit = (int)Math.Min(ctx.BatchSize, (uint)Options.BatchSize);
        }
        catch
        {
            context.Dispose();
            throw;
        }
        _context = context;
        _unified = unified;
        return context.NativeHandle;
    }

    public EngineOptions Options { get; }
    public LlamaModel Model => _model;

    /// <summary>llama.cpp context parameters for <paramref name="sequences"/> sequences of
    /// <see cref="EngineOptions.SequenceContext"/> tokens (shared with the profile's baselines, so they measure alike).</summary>
    internal static ModelParams ContextParams(LlamaModel m, EngineOptions o, int sequences, bool unified) => new(m.Path)
    {
        // Unified: one pool (its size may be chosen). Per sequence: llama.cpp gives each stream n_ctx / n_seq_max cells
        // and pads sizes to 256, so ask for whole multiples of 256 per stream to get at least the sequence context.
        ContextSize = (uint)(unified && o.KvCells is int cells ? cells : sequences * ((o.SequenceContext + 255) / 256 * 256)),
        SeqMax = (uint)sequences,
        BatchSize = (uint)o.BatchSize,
        UBatchSize = (uint)o.BatchSize,
        FlashAttention = o.FlashAttention,
        TypeK = o.KvF32 ? GGMLType.GGML_TYPE_F32 : GGMLType.GGML_TYPE_F16,
        TypeV = o.KvF32 ? GGMLType.GGML_TYPE_F32 : GGMLType.GGML_TYPE_F16,
        KVUnified = unified, // a partial seq_cp across split streams aborts: the copy code checks this flag
        Threads = o.Threads,
        BatchThreads = o.Threads,
        GpuLayerCount = m.GpuLayers < 0 ? 999 : m.GpuLayers,
    };

    /// <summary>Scores each row: the softmax probability (over the whole vocabulary) of each candidate token as the
    /// token following the row's prompt. Results arrive in completion order, on the calling thread.</summary>
    public EngineRunStats Score(int[] sharedPrefix, IEnumerable<EngineRequest> rows, int[] candidates,
                                Action<EngineResult> onResult, CancellationToken cancellationToken = default)
    {
        if (candidates.Length == 0) throw new ArgumentException("no candidate tokens to score");
        foreach (int c in candidates)
            if ((uint)c >= (uint)_model.VocabSize) throw new ArgumentException($"candidate token {c} is outside the vocabulary ({_model.VocabSize})");
        return Run(sharedPrefix, rows, candidates, null, onResult, cancellationToken);
    }

    /// <summary>Generates a continuation for each row. Results arrive in completion order, on the calling thread.</summary>
    public EngineRunStats Generate(int[] sharedPrefix, IEnumerable<EngineRequest> rows, GenerationSettings settings,
                                   Action<EngineResult> onResult, CancellationToken cancellationToken = default)
    {
        settings.Validate();
        return Run(sharedPrefix, rows, null, settings, onResult, cancellationToken);
    }

    private sealed class Slot(int seq)
    {
        public readonly int Seq = seq;
        public EngineRequest? Row;
        public long Admitted;
        public int Fed;          // row prompt tokens already in the KV cache
        public int Pos;          // position of the next token to decode
        public int Pending = -1; // sampled token waiting to be decoded
        public int Planned;      // tokens this slot has in the batch being built
        public int LogitsRow = -1;
        public unsafe float* Logits;
        public int Sampled;
        public readonly List<int> Generated = [];
        public readonly List<byte> Text = [];
        public RowRng Rng;

        public bool Active => Row != null;
        public bool Prefilling => Row != null && Fed < Row.Tokens.Length;

        public void Reset()
        {
            Row = null;
            Fed = 0;
            Pos = 0;
            Pending = -1;
            Planned = 0;
            LogitsRow = -1;
            Generated.Clear();
            Text.Clear();
        }
    }

    private EngineRunStats Run(int[] prefix, IEnumerable<EngineRequest> rows, int[]? candidates, GenerationSettings? gen,
                               Action<EngineResult> onResult, CancellationToken ct)
    {
        int ctxLimit = Options.SequenceContext;
        if (prefix.Length >= ctxLimit)
            throw new ArgumentException($"the shared prompt prefix has {prefix.Length} tokens, which leaves no room in a sequence context of {ctxLimit}");
        _ctx = Context();
        foreach (Slot s in _slots) s.Reset();
        _ctx.MemoryClear(false); // metadata only: zeroing a large cache costs time and every cell is rewritten before use
        var clock = Stopwatch.StartNew();
        var decodeTime = new Stopwatch();
        long rowsDone = 0, errorRows = 0, promptDecoded = 0, generated = 0, decodeCalls = 0, preemptions = 0, noKv = 0;

        // The shared prefix: decoded once into sequence 0, then referenced by every other sequence.
        for (int start = 0; start < prefix.Length; start += _batchLimit)
        {
            ct.ThrowIfCancellationRequested();
            _batch.Clear();
            int n = Math.Min(_batchLimit, prefix.Length - start);
            for (int i = 0; i < n; i++) _batch.Add(prefix[start + i], start + i, (LLamaSeqId)0, false);
            DecodeResult r = Decode(decodeTime);
            decodeCalls++;
            if (r != DecodeResult.Ok)
                throw new InvalidOperationException($"llama_decode failed on the shared prefix ({r}); KV cells: {Options.TotalKvCells}");
        }
        // Unified: the other sequences reference the prefix cells ([0, prefix) exactly). Per-sequence streams: llama.cpp
        // only copies whole streams across streams (a partial range aborts), and stream 0 holds just the prefix now.
        for (int s = 1; s < _slots.Length && prefix.Length > 0; s++)
        {
            if (_unified) _ctx.MemorySequenceCopy((LLamaSeqId)0, (LLamaSeqId)s, 0, prefix.Length);
            else _ctx.MemorySequenceCopy((LLamaSeqId)0, (LLamaSeqId)s, -1, -1);
        }

        byte[][] stops = gen?.StopBytes() ?? [];
        int maxStop = stops.Length == 0 ? 0 : stops.Max(b => b.Length);
        var extraEnd = new HashSet<int>(gen?.ExtraEndTokens ?? []);
        var requeued = new Stack<EngineRequest>();
        using IEnumerator<EngineRequest> input = rows.GetEnumerator();
        bool inputDone = false;
        long admitted = 0;
        int activeCap = _slots.Length;
        var decoders = new List<Slot>(_slots.Length);
        var prefillers = new List<Slot>(_slots.Length);
        var outputs = new List<Slot>(_slots.Length);

        void Emit(EngineResult result)
        {
            rowsDone++;
            if (result.Error != null) errorRows++;
            onResult(result);
        }

        void Release(Slot s)
        {
            // Keep [0, prefix): the next row of this slot starts right after it.
            _ctx.MemorySequenceRemove((LLamaSeqId)s.Seq, prefix.Length, -1);
            s.Reset();
        }

        EngineRequest? Next()
        {
            if (requeued.Count > 0) return requeued.Pop();
            if (inputDone) return null;
            if (input.MoveNext()) return input.Current;
            inputDone = true;
            return null;
        }

        while (true)
        {
            ct.ThrowIfCancellationRequested();

            // 1. Admit rows into free slots (continuous batching).
            int active = _slots.Count(s => s.Active);
            foreach (Slot s in _slots)
            {
                if (s.Active) continue;
                if (active >= activeCap) break;
                EngineRequest? row;
                while ((row = Next()) != null)
                {
                    string? error = row.Error
                        ?? (row.Tokens.Length == 0 ? "empty prompt (no tokens after the shared prefix)" : null)
                        ?? (prefix.Length + row.Tokens.Length > ctxLimit
                            ? $"prompt has {prefix.Length + row.Tokens.Length} tokens, more than the per-sequence context of {ctxLimit}"
                            : null);
                    if (error == null) break;
                    Emit(new EngineResult { Key = row.Key, PromptTokens = prefix.Length + row.Tokens.Length, Finish = FinishReason.Error, Error = error });
                }
                if (row == null) break;
                s.Row = row;
                s.Admitted = admitted++;
                s.Pos = prefix.Length;
                if (gen != null) s.Rng = new RowRng(gen.Seed, row.RngKey);
                active++;
            }
            if (active == 0) break;

            // 2. Build and decode one batch; on NoKvSlot shrink it, then give up the newest row.
            int prefillAllowance = int.MaxValue;
            while (true)
            {
                int inBatch = BuildBatch(decoders, prefillers, prefillAllowance, out int prefillTokens);
                if (inBatch == 0) throw new InvalidOperationException("internal: empty batch with active rows");
                DecodeResult r = Decode(decodeTime);
                decodeCalls++;
                if (r == DecodeResult.Ok)
                {
                    promptDecoded += prefillTokens;
                    generated += inBatch - prefillTokens;
                    break;
                }
                if (r != DecodeResult.NoKvSlot)
                    throw new InvalidOperationException($"llama_decode failed ({r}) on a batch of {inBatch} tokens");
                noKv++;
                // Nothing of a NoKvSlot batch was written to the cache: plan a smaller one.
                if (prefillTokens > 0)
                {
                    prefillAllowance = prefillTokens / 2;
                    continue;
                }
                Slot? newest = _slots.Where(x => x.Active).MaxBy(x => x.Admitted);
                if (newest == null || _slots.Count(x => x.Active) <= 1)
                    throw new InvalidOperationException(
                        $"the KV cache ({Options.TotalKvCells} cells) cannot hold one more token for a single sequence; raise the KV cells or lower the sequence context");
                requeued.Push(newest.Row!);
                Release(newest);
                preemptions++;
                activeCap = Math.Max(1, _slots.Count(x => x.Active));
                prefillAllowance = int.MaxValue;
            }

            // 3. Commit what the batch did and collect the slots with logits.
            outputs.Clear();
            foreach (Slot s in _slots)
            {
                if (s.Planned == 0) continue;
                if (s.Pending >= 0) s.Pending = -1;
                else s.Fed += s.Planned;
                s.Pos += s.Planned;
                s.Planned = 0;
                if (s.LogitsRow >= 0) outputs.Add(s);
            }
            if (outputs.Count == 0) continue;
            PointLogits(outputs);

            // 4. Score or sample (in parallel: pure per row), then finish rows in slot order.
            if (candidates != null)
            {
                var probs = new double[outputs.Count][];
                ForEachRow(outputs.Count, (i, scratch) => probs[i] = CandidateProbabilities(outputs[i], candidates, scratch));
                for (int i = 0; i < outputs.Count; i++)
                {
                    Slot s = outputs[i];
                    Emit(new EngineResult { Key = s.Row!.Key, PromptTokens = prefix.Length + s.Row.Tokens.Length, Probabilities = probs[i] });
                    Release(s);
                }
                continue;
            }
            ForEachRow(outputs.Count, (i, scratch) => SampleInto(outputs[i], gen!, scratch));
            foreach (Slot s in outputs)
            {
                s.LogitsRow = -1;
                int t = s.Sampled;
                FinishReason? finish = null;
                if (_model.IsEndOfGeneration(t) || extraEnd.Contains(t))
                {
                    finish = FinishReason.Eos;
                }
                else
                {
                    s.Generated.Add(t);
                    int before = s.Text.Count;
                    foreach (byte b in _model.Piece(t)) s.Text.Add(b);
                    int cut = FindStop(s.Text, stops, Math.Max(0, before - maxStop + 1));
                    if (cut >= 0)
                    {
                        s.Text.RemoveRange(cut, s.Text.Count - cut);
                        finish = FinishReason.Stop;
                    }
                    else if (s.Generated.Count >= gen!.MaxNewTokens || s.Pos >= ctxLimit)
                    {
                        finish = FinishReason.Length;
                    }
                }
                if (finish is FinishReason f)
                {
                    Emit(new EngineResult
                    {
                        Key = s.Row!.Key,
                        PromptTokens = prefix.Length + s.Row.Tokens.Length,
                        GeneratedTokens = s.Generated.Count,
                        Finish = f,
                        Text = Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(s.Text)),
                    });
                    Release(s);
                }
                else
                {
                    s.Pending = t;
                }
            }
        }
        return new EngineRunStats(rowsDone, errorRows, prefix.Length, promptDecoded, generated, decodeCalls, preemptions, noKv,
                                  clock.Elapsed, decodeTime.Elapsed);
    }

    /// <summary>Fills the batch: one token per slot with a pending sampled token, then prompt chunks (oldest rows
    /// first) up to n_batch tokens and <paramref name="prefillAllowance"/> prompt tokens. Returns the token count.</summary>
    private int BuildBatch(List<Slot> decoders, List<Slot> prefillers, int prefillAllowance, out int prefillTokens)
    {
        _batch.Clear();
        decoders.Clear();
        prefillers.Clear();
        foreach (Slot s in _slots)
        {
            s.Planned = 0;
            s.LogitsRow = -1;
            if (!s.Active) continue;
            if (s.Pending >= 0) decoders.Add(s);
            else if (s.Prefilling) prefillers.Add(s);
        }
        // Who gets the token budget: generating rows first, then prompts, oldest rows first.
        decoders.Sort(static (a, b) => a.Admitted.CompareTo(b.Admitted));
        prefillers.Sort(static (a, b) => a.Admitted.CompareTo(b.Admitted));
        int budget = _batchLimit;
        foreach (Slot s in decoders)
        {
            if (budget == 0) break;
            s.Planned = 1;
            budget--;
        }
        prefillTokens = 0;
        foreach (Slot s in prefillers)
        {
            int n = Math.Min(Math.Min(s.Row!.Tokens.Length - s.Fed, budget), prefillAllowance - prefillTokens);
            if (n <= 0) break;
            s.Planned = n;
            budget -= n;
            prefillTokens += n;
        }
        // Where the tokens go: in sequence-id order. With per-sequence KV streams llama.cpp splits a batch into
        // micro-batches of consecutive, increasing sequence ids (split_equal), and each micro-batch is a separate pass
        // over the weights: admission order would cut one step into many passes.
        foreach (Slot s in _slots)
        {
            if (s.Planned == 0) continue;
            if (s.Pending >= 0)
            {
                s.LogitsRow = _batch.Add(s.Pending, s.Pos, (LLamaSeqId)s.Seq, true);
                continue;
            }
            int[] tokens = s.Row!.Tokens;
            for (int i = 0; i < s.Planned; i++)
            {
                bool last = s.Fed + i == tokens.Length - 1;
                int row = _batch.Add(tokens[s.Fed + i], s.Pos + i, (LLamaSeqId)s.Seq, last);
                if (last) s.LogitsRow = row;
            }
        }
        return _batch.TokenCount;
    }

    private DecodeResult Decode(Stopwatch decodeTime)
    {
        // llama.cpp asserts (aborting the process) when a batch exceeds n_batch: check first.
        if (_batch.TokenCount > _batchLimit)
            throw new InvalidOperationException($"internal: batch of {_batch.TokenCount} tokens exceeds n_batch {_batchLimit}");
        decodeTime.Start();
        try { return _ctx.Decode(_batch); }
        finally { decodeTime.Stop(); }
    }

    /// <summary>Reads each output row's logits pointer on this thread (llama_get_logits_ith may reorder outputs, so it
    /// must not run concurrently); the rows stay valid until the next decode.</summary>
    private unsafe void PointLogits(List<Slot> outputs)
    {
        foreach (Slot s in outputs)
        {
            Span<float> logits = _ctx.GetLogitsIth(s.LogitsRow);
            if (logits.Length < _model.VocabSize) throw new InvalidOperationException($"llama.cpp returned {logits.Length} logits for a vocabulary of {_model.VocabSize}");
            s.Logits = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(logits));
        }
    }

    private void ForEachRow(int count, Action<int, SamplerScratch> body)
    {
        // Per-row work is O(vocab); spread it over the cores when there is enough of it (results do not depend on it).
        // Not on 2 cores: a pool thread that is slow to get scheduled costs more than it saves.
        if (count < 2 || (long)count * _model.VocabSize < 1 << 20 || Environment.ProcessorCount <= 2)
        {
            SamplerScratch scratch = RentScratch();
            for (int i = 0; i < count; i++) body(i, scratch);
            _scratch.Add(scratch);
            return;
        }
        Parallel.For(0, count, RentScratch, (i, _, scratch) => { body(i, scratch); return scratch; }, _scratch.Add);
    }

    private SamplerScratch RentScratch() => _scratch.TryTake(out SamplerScratch? s) ? s : new SamplerScratch(_model.VocabSize);

    private unsafe double[] CandidateProbabilities(Slot s, int[] candidates, SamplerScratch scratch)
    {
        var logits = new ReadOnlySpan<float>(s.Logits, _model.VocabSize);
        return SoftmaxAt(logits, candidates, scratch.Values);
    }

    /// <summary>softmax(logits)[c] for each candidate c, with the normaliser summed in double over float blocks.</summary>
    internal static double[] SoftmaxAt(ReadOnlySpan<float> logits, int[] candidates, float[] scratch)
    {
        float max = TensorPrimitives.Max(logits);
        Span<float> e = scratch.AsSpan(0, logits.Length);
        TensorPrimitives.Subtract(logits, max, e);
        TensorPrimitives.Exp(e, e);
        double z = 0;
        for (int i = 0; i < e.Length; i += 4096) z += TensorPrimitives.Sum(e.Slice(i, Math.Min(4096, e.Length - i)));
        var p = new double[candidates.Length];
        for (int k = 0; k < p.Length; k++) p[k] = Math.Exp((double)logits[candidates[k]] - max) / z;
        return p;
    }

    private unsafe void SampleInto(Slot s, GenerationSettings gen, SamplerScratch scratch)
    {
        var logits = new ReadOnlySpan<float>(s.Logits, _model.VocabSize);
        s.Sampled = TokenSampler.Sample(logits, gen, ref s.Rng, scratch);
    }

    /// <summary>Start of the first stop string found in <paramref name="text"/> at or after <paramref name="from"/>, or −1.
    /// Byte-level search is exact for UTF-8, which never matches inside another character.</summary>
    private static int FindStop(List<byte> text, byte[][] stops, int from)
    {
        if (stops.Length == 0) return -1;
        ReadOnlySpan<byte> span = CollectionsMarshal.AsSpan(text);
        int best = -1;
        foreach (byte[] stop in stops)
        {
            int i = span[from..].IndexOf(stop);
            if (i >= 0 && (best < 0 || from + i < best)) best = from + i;
        }
        return best;
    }

    public void Dispose()
    {
        _context?.Dispose();
    }
}
