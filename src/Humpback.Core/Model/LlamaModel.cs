using Humpback.Engine;
using Humpback.Native;

namespace Humpback.Model;

/// <summary>
/// A Llama decoder driven from C# over libhumpback's kernels: parameters, gradients, optimizer state and
/// activations are planned once for a maximum (batch, sequence) and never reallocated.
/// Full fine-tuning trains every parameter; LoRA freezes the base and trains A/B on the chosen targets.
/// </summary>
/// <remarks>
/// One layer, N = B·T rows (shapes in comments: C model dim, H/KVH heads, D head dim, F FFN dim):
/// <code>
/// ln1 = rmsnorm(x)            q,k,v = ln1·Wqᵀ,… (+LoRA)   rope(q,k)   att = attention(q,k,v)
/// mid = x + att·Woᵀ (+LoRA)   ln2 = rmsnorm(mid)         g,u = ln2·Wgᵀ, ln2·Wuᵀ (+LoRA)
/// out = mid + swiglu(g,u)·Wdᵀ (+LoRA)
/// </code>
/// The backward keeps one residual-gradient buffer: RMSNorm's backward adds into it, so the residual
/// connections need no extra adds.
/// <para>Precision bf16 (mixed precision) changes only the buffer plan; the graph below is the same code, since
/// <see cref="Kernels"/> picks each op's bf16 variant from its spans. The weights the GEMMs read are bf16: for LoRA
/// the frozen base matrices are stored in bf16 only (half the memory), for full fine-tuning they are bf16 copies
/// of the fp32 master weights, refreshed after every optimizer step. The activations a step saves for its backward
/// (ln1, q, k, v, att, ln2, h, lnf) are bf16. The residual stream, g/u, every gradient, the trainable weights, the
/// norm weights and the optimizer state stay fp32, and every sum accumulates in fp32.</para>
/// </remarks>
public sealed class LlamaModel : IDisposable
{
    private readonly Kernels _k;
    private readonly DeviceArena _params;
    private readonly DeviceArena? _compute; // bf16 copies of the master matrices (full fine-tuning in bf16)
    private readonly Dictionary<string, int> _computeIndex = [];
    private readonly DeviceArena? _grads;
    private readonly DeviceArena _opt;
    private readonly DeviceArena _acts;
    private readonly DeviceArena? _lora;
    private readonly DeviceArena? _loraGrads;
    private readonly Dictionary<string, int> _paramIndex = [];
    private readonly Dictionary<string, int> _gradIndex = [];
    private readonly Dictionary<string, int> _loraIndex = [];
    private readonly List<Trainable> _trainables = [];
    private readonly LayerActs[] _layerActs;
    private readonly int[] _residual;
    private readonly int _tokens, _targets, _positions, _segments, _invFreq, _qf, _kf, _vf;
    private readonly int _lnf, _rstdf, _losses, _ceLse, _dres, _dln, _dq, _dk, _dv, _datt, _dh, _dg, _du, _loraWork, _stats, _clip, _ones;
    private readonly float[] _invFreqHost;
    private long _step;
    // The optimizer's host arrays for the multi-tensor ops, one entry per trainable in _trainables order. The arenas
    // never move after allocation, so they are built once; only the weight decay changes (when the caller's does).
    private readonly HbAdamWTensor[] _adamTensors;
    private readonly nint[] _gradPtrs;
    private readonly long[] _gradCounts;
    private float _adamDecay = float.NaN;

    private sealed record Trainable(string Name, int Param, int Grad, int M, int V, bool Decay, bool IsLora);

    // Indices into the activation arena for one layer (with recomputation, layers share all but the residual).
    private sealed class LayerActs
    {
        public int Ln1, Rstd1, Q, K, V, Att, Lse, Mid, Ln2, Rstd2, G, U, Hmlp;
        public readonly Dictionary<string, int> LoraXa = [];
    }

    public LlamaModel(Device device, LlamaConfig config, TrainMode mode, int maxBatch, int maxSeq,
        LoraSettings? lora = null, bool recompute = false, DType precision = DType.F32)
    {
        config.Validate();
        if (maxBatch <= 0 || maxSeq <= 0) throw new ArgumentException($"max batch ({maxBatch}) and max sequence ({maxSeq}) must be > 0");
        if (mode == TrainMode.Lora)
        {
            lora ??= new LoraSettings();
            lora.Validate();
        }
        Device = device;
        Config = config;
        Mode = mode;
        Lora = mode == TrainMode.Lora ? lora : null;
        MaxBatch = maxBatch;
        MaxSeq = maxSeq;
        Recompute = recompute;
        Precision = precision;
        _k = new Kernels(device);
        DType act = precision; // saved activations and the weights GEMMs read

        long C = config.HiddenSize, Dh = config.ResolvedHeadDim, F = config.IntermediateSize;
        long Hq = config.NumHeads * Dh, Hkv = config.NumKvHeads * Dh, N = (long)maxBatch * maxSeq;

        // Parameters (and, for full fine-tuning, gradients and AdamW moments with the same plan).
        _params = new DeviceArena(device, "parameters");
        _opt = new DeviceArena(device, "optimizer");
        if (mode == TrainMode.Full) _grads = new DeviceArena(device, "gradients");
        if (mode == TrainMode.Full && precision == DType.Bf16) _compute = new DeviceArena(device, "bf16 weights");
        foreach (var (name, shape) in LlamaTensorNames.Expected(config))
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            bool matrix = shape.Length == 2;
            // Frozen LoRA base matrices live in bf16 only; trainable ones keep an fp32 master and get a bf16 copy.
            _paramIndex[name] = _params.Reserve(name, count, matrix && mode == TrainMode.Lora ? act : DType.F32);
            if (matrix && _compute != null) _computeIndex[name] = _compute.Reserve(name, count, DType.Bf16);
            if (_grads != null)
            {
                _gradIndex[name] = _grads.Reserve(name, count);
                int m = _opt.Reserve(name + ".m", count), v = _opt.Reserve(name + ".v", count);
                _trainables.Add(new Trainable(name, _paramIndex[name], _gradIndex[name], m, v, shape.Length == 2, false));
            }
        }

        // LoRA A (R,in) and B (out,R) per layer and target; B starts at zero so the model starts as the base.
        if (Lora != null)
        {
            _lora = new DeviceArena(device, "lora");
            _loraGrads = new DeviceArena(device, "lora-gradients");
            for (int l = 0; l < config.NumLayers; l++)
            {
                foreach (string t in Lora.ResolvedTargets)
                {
                    var (inDim, outDim) = TargetDims(t);
                    string baseName = LoraName(l, t);
                    foreach (var (suffix, count) in new[] { ("lora_A.weight", (long)Lora.Rank * inDim), ("lora_B.weight", outDim * (long)Lora.Rank) })
                    {
                        string name = $"{baseName}.{suffix}";
                        _loraIndex[name] = _lora.Reserve(name, count);
                        int g = _loraGrads.Reserve(name, count);
                        int m = _opt.Reserve(name + ".m", count), v = _opt.Reserve(name + ".v", count);
                        _trainables.Add(new Trainable(name, _loraIndex[name], g, m, v, true, true));
                    }
                }
            }
        }

        // Activations, planned for the largest batch.
        _acts = new DeviceArena(device, "activations");
        _tokens = _acts.Reserve("tokens", N);
        _targets = _acts.Reserve("targets", N);
        _positions = _acts.Reserve("positions", N);
        _segments = _acts.Reserve("segments", N);
        _invFreq = _acts.Reserve("inv_freq", Dh / 2);
        // In bf16, q/k/v leave their GEMMs (+LoRA, RoPE) in fp32 here and are saved rounded; in fp32 they are used in place.
        bool split = act != DType.F32;
        _qf = split ? _acts.Reserve("q_f32", N * Hq) : -1;
        _kf = split ? _acts.Reserve("k_f32", N * Hkv) : -1;
        _vf = split ? _acts.Reserve("v_f32", N * Hkv) : -1;
        _residual = new int[config.NumLayers + 1];
        for (int l = 0; l <= config.NumLayers; l++) _residual[l] = _acts.Reserve($"residual.{l}", N * C);
        _layerActs = new LayerActs[config.NumLayers];
        LayerActs? shared = null;
        for (int l = 0; l < config.NumLayers; l++)
        {
            if (recompute && shared != null)
            {
                _layerActs[l] = shared;
                continue;
            }
            var a = new LayerActs
            {
                Ln1 = _acts.Reserve($"l{l}.ln1", N * C, act), Rstd1 = _acts.Reserve($"l{l}.rstd1", N),
                Q = _acts.Reserve($"l{l}.q", N * Hq, act), K = _acts.Reserve($"l{l}.k", N * Hkv, act), V = _acts.Reserve($"l{l}.v", N * Hkv, act),
                Att = _acts.Reserve($"l{l}.att", N * Hq, act), Lse = _acts.Reserve($"l{l}.lse", N * config.NumHeads),
                Mid = _acts.Reserve($"l{l}.mid", N * C), Ln2 = _acts.Reserve($"l{l}.ln2", N * C, act), Rstd2 = _acts.Reserve($"l{l}.rstd2", N),
                G = _acts.Reserve($"l{l}.g", N * F), U = _acts.Reserve($"l{l}.u", N * F), Hmlp = _acts.Reserve($"l{l}.h", N * F, act),
            };
            if (Lora != null)
                foreach (string t in Lora.ResolvedTargets) a.LoraXa[t] = _acts.Reserve($"l{l}.{t}.xa", N * Lora.Rank);
            _layerActs[l] = a;
            shared = a;
        }
        _lnf = _acts.Reserve("lnf", N * C, act);
        _rstdf = _acts.Reserve("rstdf", N);
        _losses = _acts.Reserve("losses", N);
        _ceLse = _acts.Reserve("ce_lse", N);
        // Backward scratch.
        _dres = _acts.Reserve("dres", N * C);
        _dln = _acts.Reserve("dln", N * C);
        _dq = _acts.Reserve("dq", N * Hq);
        _dk = _acts.Reserve("dk", N * Hkv);
        _dv = _acts.Reserve("dv", N * Hkv);
        _datt = _acts.Reserve("datt", N * Hq);
        _dh = _acts.Reserve("dh", N * F);
        _dg = _acts.Reserve("dg", N * F);
        _du = _acts.Reserve("du", N * F);
        _loraWork = _acts.Reserve("lora_work", Lora != null ? N * Lora.Rank : 1);
        // [Σ grad², Σ loss] side by side: a step reads both back with one copy, its only wait for the device.
        _stats = _acts.Reserve("stats", 2);
        _clip = _acts.Reserve("clip", 1);
        _ones = _acts.Reserve("ones", N); // sums the row losses on the device (a GEMV against ones)

        // On a GPU, refuse a plan that cannot fit before allocating any of it, and say what to change.
        EnsureFits(device.ToString(), device.FreeBytes, _params.Bytes + (_compute?.Bytes ?? 0), (_grads?.Bytes ?? 0) + (_loraGrads?.Bytes ?? 0) + (_lora?.Bytes ?? 0),
            _opt.Bytes, _acts.Bytes, maxBatch, maxSeq);
        _params.Allocate();
        _compute?.Allocate();
        _grads?.Allocate();
        _lora?.Allocate();
        _loraGrads?.Allocate();
        _opt.Allocate();
        _acts.Allocate();

        _adamTensors = new HbAdamWTensor[_trainables.Count];
        _gradPtrs = new nint[_trainables.Count];
        _gradCounts = new long[_trainables.Count];
        for (int i = 0; i < _trainables.Count; i++)
        {
            Trainable t = _trainables[i];
            DeviceSpan p = ParamSpan(t), g = GradSpan(t);
            _adamTensors[i] = new HbAdamWTensor { Param = p.Ptr, Grad = g.Ptr, M = _opt[t.M].Ptr, V = _opt[t.V].Ptr, N = p.Count };
            _gradPtrs[i] = g.Ptr;
            _gradCounts[i] = g.Count;
        }

        var rope = new HbRopeConfig { Theta = config.RopeTheta };
        if (config.RopeScaling is { } s)
        {
            rope.Scaling = 1;
            rope.Factor = s.Factor;
            rope.LowFreqFactor = s.LowFreqFactor;
            rope.HighFreqFactor = s.HighFreqFactor;
            rope.OriginalMaxPosition = s.OriginalMaxPosition;
        }
        _invFreqHost = Kernels.RopeInvFreq((int)Dh, rope);
        device.Upload(_acts[_invFreq], _invFreqHost);
        device.Upload(_acts[_ones], Enumerable.Repeat(1f, (int)N).ToArray());
    }

    /// <summary>Throws <see cref="InsufficientMemoryException"/> naming each part of the plan and the options that shrink it
    /// when the plan exceeds <paramref name="freeBytes"/> (null: no limit known, as on the CPU).</summary>
    internal static void EnsureFits(string device, long? freeBytes, long parameters, long training, long optimizer, long activations, int maxBatch, int maxSeq)
    {
        long planned = parameters + training + optimizer + activations;
        if (freeBytes is not long free || planned <= free) return;
        static string G(long b) => (b / 1073741824.0).ToString("F1", System.Globalization.CultureInfo.InvariantCulture) + " GiB";
        throw new InsufficientMemoryException(
            $"the model needs {G(planned)} on {device} but {G(free)} are free (parameters {G(parameters)}, gradients and adapters {G(training)}, " +
            $"optimizer {G(optimizer)}, activations {G(activations)} for {maxBatch} x {maxSeq} tokens): lower --batch-size (and raise " +
            "--grad-accum to keep the step), use --recompute, --precision bf16, or LoRA");
    }

    public Device Device { get; }
    public LlamaConfig Config { get; }
    public TrainMode Mode { get; }
    public LoraSettings? Lora { get; }
    public int MaxBatch { get; }
    public int MaxSeq { get; }
    public bool Recompute { get; }

    /// <summary>fp32, or bf16 mixed precision (see the remarks).</summary>
    public DType Precision { get; }

    /// <summary>Times every kernel call by op when set (profiling).</summary>
    public OpTimer? Timer { get => _k.Timer; set => _k.Timer = value; }

    /// <summary>Optimizer steps taken (AdamW's bias-correction step).</summary>
    public long Step { get => _step; set => _step = value; }

    /// <summary>Bytes of parameters, gradients, optimizer state and activations held on the device.</summary>
    public long DeviceBytes => _params.Bytes + (_compute?.Bytes ?? 0) + (_grads?.Bytes ?? 0) + (_lora?.Bytes ?? 0) + (_loraGrads?.Bytes ?? 0) + _opt.Bytes + _acts.Bytes;

    public long TrainableParameterCount => _trainables.Sum(t => ParamSpan(t).Count);

    private static string LoraName(int layer, string target) => LlamaTensorNames.Layer(layer, LoraSettings.ModulePath(target));

    private (long In, long Out) TargetDims(string target)
    {
        long C = Config.HiddenSize, Dh = Config.ResolvedHeadDim, F = Config.IntermediateSize;
        return target switch
        {
            "q" => (C, Config.NumHeads * Dh),
            "k" or "v" => (C, Config.NumKvHeads * Dh),
            "o" => (Config.NumHeads * Dh, C),
            "gate" or "up" => (C, F),
            "down" => (F, C),
            _ => throw new ArgumentException($"unknown lora target '{target}'"),
        };
    }

    /// <summary>The weight the kernels read: the bf16 copy when there is one, else the stored (master) tensor.</summary>
    private DeviceSpan P(string name) => _compute != null && _computeIndex.TryGetValue(name, out int i) ? _compute[i] : _params[_paramIndex[name]];
    private DeviceSpan Master(string name) => _params[_paramIndex[name]];

    /// <summary>Rounds the fp32 master matrices into their bf16 copies (after every change of the masters).</summary>
    private void RefreshComputeWeights()
    {
        if (_compute == null) return;
        foreach (var (name, i) in _computeIndex) _k.Convert(_compute[i], _params[_paramIndex[name]], _compute[i].Count);
    }
    private DeviceSpan G(string name) => _grads == null ? DeviceSpan.Null : _grads[_gradIndex[name]];
    private DeviceSpan A(int index) => _acts[index];
    private DeviceSpan ParamSpan(Trainable t) => t.IsLora ? _lora![t.Param] : _params[t.Param];
    private DeviceSpan GradSpan(Trainable t) => t.IsLora ? _loraGrads![t.Grad] : _grads![t.Grad];
    private DeviceSpan HeadWeight => Config.TieWordEmbeddings ? P(LlamaTensorNames.Embedding) : P(LlamaTensorNames.LmHead);
    private DeviceSpan HeadGrad => Config.TieWordEmbeddings ? G(LlamaTensorNames.Embedding) : G(LlamaTensorNames.LmHead);

    // ------------------------------------------------------------------ weights in and out

    /// <summary>Copies base weights in; every expected tensor must be present with its exact shape.</summary>
    public void LoadWeights(IReadOnlyDictionary<string, HostTensor> tensors, string source = "weights")
    {
        foreach (var (name, shape) in LlamaTensorNames.Expected(Config))
        {
            if (!tensors.TryGetValue(name, out HostTensor? t))
                throw new InvalidDataException($"{source}: tensor '{name}' is missing");
            if (!t.Shape.SequenceEqual(shape))
                throw new InvalidDataException($"{source}: tensor '{name}' has shape [{string.Join(", ", t.Shape)}], the config needs [{string.Join(", ", shape)}]");
            Device.Upload(Master(name), t.Data);
        }
        RefreshComputeWeights();
    }

    /// <summary>Base weights as host tensors (HF names), e.g. to save a fully fine-tuned model.</summary>
    public Dictionary<string, HostTensor> ExportWeights()
    {
        var d = new Dictionary<string, HostTensor>();
        foreach (var (name, shape) in LlamaTensorNames.Expected(Config)) d[name] = new HostTensor(name, shape, Device.Download(Master(name)));
        return d;
    }

    /// <summary>LoRA tensors with HF module names: "model.layers.{i}.self_attn.q_proj.lora_A.weight" (R,in) and
    /// "….lora_B.weight" (out,R).</summary>
    public Dictionary<string, HostTensor> ExportLora()
    {
        if (Lora == null) throw new InvalidOperationException("the model has no LoRA adapters (mode is full)");
        var d = new Dictionary<string, HostTensor>();
        for (int l = 0; l < Config.NumLayers; l++)
        {
            foreach (string t in Lora.ResolvedTargets)
            {
                var (inDim, outDim) = TargetDims(t);
                string a = $"{LoraName(l, t)}.lora_A.weight", b = $"{LoraName(l, t)}.lora_B.weight";
                d[a] = new HostTensor(a, [Lora.Rank, inDim], Device.Download(_lora![_loraIndex[a]]));
                d[b] = new HostTensor(b, [outDim, Lora.Rank], Device.Download(_lora[_loraIndex[b]]));
            }
        }
        return d;
    }

    public void LoadLora(IReadOnlyDictionary<string, HostTensor> tensors, string source = "adapter")
    {
        if (Lora == null) throw new InvalidOperationException("the model has no LoRA adapters (mode is full)");
        foreach (var (name, index) in _loraIndex)
        {
            if (!tensors.TryGetValue(name, out HostTensor? t)) throw new InvalidDataException($"{source}: LoRA tensor '{name}' is missing");
            if (t.Count != _lora![index].Count) throw new InvalidDataException($"{source}: LoRA tensor '{name}' has {t.Count} elements, expected {_lora[index].Count}");
            Device.Upload(_lora[index], t.Data);
        }
    }

    /// <summary>PEFT's initialisation: A ~ U(-1/√in, 1/√in) (kaiming-uniform with a=√5), B = 0.</summary>
    public void InitLora(int seed)
    {
        if (Lora == null) throw new InvalidOperationException("the model has no LoRA adapters (mode is full)");
        var rng = new Random(seed);
        for (int l = 0; l < Config.NumLayers; l++)
        {
            foreach (string t in Lora.ResolvedTargets)
            {
                var (inDim, _) = TargetDims(t);
                DeviceSpan a = _lora![_loraIndex[$"{LoraName(l, t)}.lora_A.weight"]];
                float bound = 1f / MathF.Sqrt(inDim);
                var host = new float[a.Count];
                for (int i = 0; i < host.Length; i++) host[i] = (float)(rng.NextDouble() * 2 - 1) * bound;
                Device.Upload(a, host);
                Device.Zero(_lora[_loraIndex[$"{LoraName(l, t)}.lora_B.weight"]]);
            }
        }
    }

    /// <summary>Optimizer moments in a fixed order, for checkpoints (resume).</summary>
    public float[] ExportOptimizerState() => Device.Download(_opt.All);

    public void LoadOptimizerState(float[] state, long step)
    {
        if (state.LongLength != _opt.TotalElements)
            throw new InvalidDataException($"optimizer state has {state.LongLength} values, this model needs {_opt.TotalElements}");
        Device.Upload(_opt.All, state);
        _step = step;
    }

    // ------------------------------------------------------------------ forward

    private void CheckBatch(TrainingBatch batch)
    {
        if (batch.B > MaxBatch || batch.T > MaxSeq)
            throw new ArgumentException($"batch of {batch.B}x{batch.T} exceeds the planned {MaxBatch}x{MaxSeq}");
        foreach (int tok in batch.Tokens)
            if ((uint)tok >= (uint)Config.VocabSize) throw new ArgumentException($"token id {tok} outside the vocabulary [0, {Config.VocabSize})");
        foreach (int tok in batch.Targets)
            if (tok >= Config.VocabSize) throw new ArgumentException($"target id {tok} outside the vocabulary [0, {Config.VocabSize})");
    }

    private void UploadBatch(TrainingBatch batch)
    {
        CheckBatch(batch);
        Device.Upload(A(_tokens), batch.Tokens);
        Device.Upload(A(_targets), batch.Targets);
        Device.Upload(A(_positions), batch.Positions);
        Device.Upload(A(_segments), batch.Segments);
    }

    private void LayerForward(int l, int B, int T)
    {
        LlamaConfig c = Config;
        long N = (long)B * T, C = c.HiddenSize, Dh = c.ResolvedHeadDim, F = c.IntermediateSize;
        long Hq = c.NumHeads * Dh, Hkv = c.NumKvHeads * Dh;
        LayerActs a = _layerActs[l];
        DeviceSpan x = A(_residual[l]), output = A(_residual[l + 1]);
        string W(string s) => LlamaTensorNames.Layer(l, s);

        // q, k, v are computed in fp32 (in place, or in scratch when the saved copies are bf16).
        DeviceSpan q = _qf >= 0 ? A(_qf) : A(a.Q), k = _kf >= 0 ? A(_kf) : A(a.K), v = _vf >= 0 ? A(_vf) : A(a.V);
        _k.RmsNormForward(A(a.Ln1), A(a.Rstd1), x, P(W("input_layernorm.weight")), N, C, c.RmsNormEps);
        _k.Linear(q, A(a.Ln1), P(W("self_attn.q_proj.weight")), N, C, Hq);
        _k.Linear(k, A(a.Ln1), P(W("self_attn.k_proj.weight")), N, C, Hkv);
        _k.Linear(v, A(a.Ln1), P(W("self_attn.v_proj.weight")), N, C, Hkv);
        LoraForward(l, "q", a, q, A(a.Ln1), N);
        LoraForward(l, "k", a, k, A(a.Ln1), N);
        LoraForward(l, "v", a, v, A(a.Ln1), N);
        _k.RopeForward(q, A(_positions), A(_invFreq), N, c.NumHeads, Dh);
        _k.RopeForward(k, A(_positions), A(_invFreq), N, c.NumKvHeads, Dh);
        _k.Convert(A(a.Q), q, N * Hq);
        _k.Convert(A(a.K), k, N * Hkv);
        _k.Convert(A(a.V), v, N * Hkv);
        _k.AttentionForward(A(a.Att), A(a.Lse), A(a.Q), A(a.K), A(a.V), A(_segments), B, T, c.NumHeads, c.NumKvHeads, Dh, 1f / MathF.Sqrt(Dh));
        Device.Copy(A(a.Mid).Slice(0, N * C), x.Slice(0, N * C));
        _k.Linear(A(a.Mid), A(a.Att), P(W("self_attn.o_proj.weight")), N, Hq, C, accumulate: true);
        LoraForward(l, "o", a, A(a.Mid), A(a.Att), N);

        _k.RmsNormForward(A(a.Ln2), A(a.Rstd2), A(a.Mid), P(W("post_attention_layernorm.weight")), N, C, c.RmsNormEps);
        _k.Linear(A(a.G), A(a.Ln2), P(W("mlp.gate_proj.weight")), N, C, F);
        _k.Linear(A(a.U), A(a.Ln2), P(W("mlp.up_proj.weight")), N, C, F);
        LoraForward(l, "gate", a, A(a.G), A(a.Ln2), N);
        LoraForward(l, "up", a, A(a.U), A(a.Ln2), N);
        _k.SwiGluForward(A(a.Hmlp), A(a.G), A(a.U), N * F);
        Device.Copy(output.Slice(0, N * C), A(a.Mid).Slice(0, N * C));
        _k.Linear(output, A(a.Hmlp), P(W("mlp.down_proj.weight")), N, F, C, accumulate: true);
        LoraForward(l, "down", a, output, A(a.Hmlp), N);
    }

    private void LoraForward(int l, string target, LayerActs a, DeviceSpan y, DeviceSpan x, long n)
    {
        if (Lora == null || !a.LoraXa.TryGetValue(target, out int xa)) return;
        var (inDim, outDim) = TargetDims(target);
        string b = LoraName(l, target);
        _k.LoraForward(y, A(xa), x, _lora![_loraIndex[b + ".lora_A.weight"]], _lora[_loraIndex[b + ".lora_B.weight"]], n, inDim, outDim, Lora.Rank, Lora.Scale);
    }

    private void ForwardTrunk(TrainingBatch batch)
    {
        UploadBatch(batch);
        long N = batch.N, C = Config.HiddenSize;
        _k.EmbeddingForward(A(_residual[0]), A(_tokens), P(LlamaTensorNames.Embedding), N, Config.VocabSize, C);
        for (int l = 0; l < Config.NumLayers; l++) LayerForward(l, batch.B, batch.T);
        _k.RmsNormForward(A(_lnf), A(_rstdf), A(_residual[Config.NumLayers]), P(LlamaTensorNames.FinalNorm), N, C, Config.RmsNormEps);
    }

    /// <summary>Per-row losses (0 where the target is ignored), forward only.</summary>
    public float[] ForwardLosses(TrainingBatch batch)
    {
        ForwardTrunk(batch);
        long N = batch.N;
        _k.CrossEntropyForward(A(_losses), A(_ceLse), A(_lnf), HeadWeight, A(_targets), N, Config.VocabSize, Config.HiddenSize);
        var losses = new float[N];
        Device.Download(losses, A(_losses));
        return losses;
    }

    /// <summary>Full logits (N, V) for a batch: for parity tests and small-scale evaluation, not for training.</summary>
    public float[] ForwardLogits(TrainingBatch batch)
    {
        ForwardTrunk(batch);
        long N = batch.N, V = Config.VocabSize;
        using var logits = NativeBuffer.Allocate(Device.Context, N * V * 4);
        var span = new DeviceSpan(logits.Pointer, N * V);
        _k.Linear(span, A(_lnf), HeadWeight, N, Config.HiddenSize, V);
        return Device.Download(span);
    }

    // ------------------------------------------------------------------ backward

    /// <summary>Sets every gradient and the step's loss sum to zero (start of an optimizer step).</summary>
    public void ZeroGradients()
    {
        if (_grads != null) Device.Zero(_grads.All);
        if (_loraGrads != null) Device.Zero(_loraGrads.All);
        Device.Zero(A(_stats));
    }

    /// <summary>Forward and backward of one micro-batch, queued without waiting for the device: gradients ACCUMULATE
    /// (call <see cref="ZeroGradients"/> once per optimizer step), and so does the step's loss sum, on the device, read
    /// back by <see cref="OptimizerStepWithLoss"/>. The loss is lossScale·Σ row losses; pass 1/(target rows in the whole step) for the
    /// mean over all micro-batches. Returns the number of target rows (known on the host).</summary>
    public int Accumulate(TrainingBatch batch, float lossScale)
    {
        ForwardTrunk(batch);
        LlamaConfig c = Config;
        long N = batch.N, C = c.HiddenSize, V = c.VocabSize;
        _k.CrossEntropyForward(A(_losses), A(_ceLse), A(_lnf), HeadWeight, A(_targets), N, V, C);
        _k.CrossEntropyBackward(A(_dln), Mode == TrainMode.Full ? HeadGrad : DeviceSpan.Null, A(_lnf), HeadWeight, A(_targets), A(_ceLse), lossScale, N, V, C);
        Device.Zero(A(_dres).Slice(0, N * C));
        _k.RmsNormBackward(A(_dres), G(LlamaTensorNames.FinalNorm), A(_dln), A(_residual[c.NumLayers]), P(LlamaTensorNames.FinalNorm), A(_rstdf), N, C);
        for (int l = c.NumLayers - 1; l >= 0; l--)
        {
            if (Recompute) LayerForward(l, batch.B, batch.T);
            LayerBackward(l, batch.B, batch.T);
        }
        if (Mode == TrainMode.Full)
            _k.EmbeddingBackward(G(LlamaTensorNames.Embedding), A(_dres), A(_tokens), N, V, C);
        // Σ row losses (ignored rows are 0) added to the step's sum: losses (1,N) · ones (N,1).
        _k.Matmul(A(_stats).Slice(1, 1), A(_losses), A(_ones), 1, 1, N, false, false, 1f, 1f);
        return batch.CountTargets();
    }

    /// <summary><see cref="Accumulate"/>, then waits for this micro-batch's losses: the sum of row losses (in double)
    /// and the number of target rows. For tests and evaluation; training reads its loss from <see cref="OptimizerStepWithLoss"/>.</summary>
    public (double LossSum, int Count) ForwardBackward(TrainingBatch batch, float lossScale)
    {
        Accumulate(batch, lossScale);
        long N = batch.N;
        var losses = new float[N];
        Device.Download(losses, A(_losses));
        double sum = 0;
        int count = 0;
        for (int i = 0; i < N; i++)
        {
            if (batch.Targets[i] < 0) continue;
            sum += losses[i];
            count++;
        }
        return (sum, count);
    }

    private void LayerBackward(int l, int B, int T)
    {
        LlamaConfig c = Config;
        long N = (long)B * T, C = c.HiddenSize, Dh = c.ResolvedHeadDim, F = c.IntermediateSize;
        long Hq = c.NumHeads * Dh, Hkv = c.NumKvHeads * Dh;
        LayerActs a = _layerActs[l];
        bool full = Mode == TrainMode.Full;
        string W(string s) => LlamaTensorNames.Layer(l, s);
        DeviceSpan dres = A(_dres), x = A(_residual[l]);

        // MLP: out = mid + h·Wdᵀ; dres is d(out).
        _k.LinearBackwardInput(A(_dh), dres, P(W("mlp.down_proj.weight")), N, F, C);
        if (full) _k.LinearBackwardWeight(G(W("mlp.down_proj.weight")), dres, A(a.Hmlp), N, F, C);
        LoraBackward(l, "down", a, A(_dh), dres, A(a.Hmlp), N);
        _k.SwiGluBackward(A(_dg), A(_du), A(_dh), A(a.G), A(a.U), N * F);
        _k.LinearBackwardInput(A(_dln), A(_dg), P(W("mlp.gate_proj.weight")), N, C, F);
        _k.LinearBackwardInput(A(_dln), A(_du), P(W("mlp.up_proj.weight")), N, C, F, accumulate: true);
        if (full)
        {
            _k.LinearBackwardWeight(G(W("mlp.gate_proj.weight")), A(_dg), A(a.Ln2), N, C, F);
            _k.LinearBackwardWeight(G(W("mlp.up_proj.weight")), A(_du), A(a.Ln2), N, C, F);
        }
        LoraBackward(l, "gate", a, A(_dln), A(_dg), A(a.Ln2), N);
        LoraBackward(l, "up", a, A(_dln), A(_du), A(a.Ln2), N);
        _k.RmsNormBackward(dres, G(W("post_attention_layernorm.weight")), A(_dln), A(a.Mid), P(W("post_attention_layernorm.weight")), A(a.Rstd2), N, C);

        // Attention: mid = x + att·Woᵀ; dres is now d(mid).
        _k.LinearBackwardInput(A(_datt), dres, P(W("self_attn.o_proj.weight")), N, Hq, C);
        if (full) _k.LinearBackwardWeight(G(W("self_attn.o_proj.weight")), dres, A(a.Att), N, Hq, C);
        LoraBackward(l, "o", a, A(_datt), dres, A(a.Att), N);
        _k.AttentionBackward(A(_dq), A(_dk), A(_dv), A(_datt), A(a.Q), A(a.K), A(a.V), A(a.Att), A(a.Lse), A(_segments),
            B, T, c.NumHeads, c.NumKvHeads, Dh, 1f / MathF.Sqrt(Dh));
        _k.RopeBackward(A(_dq), A(_positions), A(_invFreq), N, c.NumHeads, Dh);
        _k.RopeBackward(A(_dk), A(_positions), A(_invFreq), N, c.NumKvHeads, Dh);
        _k.LinearBackwardInput(A(_dln), A(_dq), P(W("self_attn.q_proj.weight")), N, C, Hq);
        _k.LinearBackwardInput(A(_dln), A(_dk), P(W("self_attn.k_proj.weight")), N, C, Hkv, accumulate: true);
        _k.LinearBackwardInput(A(_dln), A(_dv), P(W("self_attn.v_proj.weight")), N, C, Hkv, accumulate: true);
        if (full)
        {
            _k.LinearBackwardWeight(G(W("self_attn.q_proj.weight")), A(_dq), A(a.Ln1), N, C, Hq);
            _k.LinearBackwardWeight(G(W("self_attn.k_proj.weight")), A(_dk), A(a.Ln1), N, C, Hkv);
            _k.LinearBackwardWeight(G(W("self_attn.v_proj.weight")), A(_dv), A(a.Ln1), N, C, Hkv);
        }
        LoraBackward(l, "q", a, A(_dln), A(_dq), A(a.Ln1), N);
        LoraBackward(l, "k", a, A(_dln), A(_dk), A(a.Ln1), N);
        LoraBackward(l, "v", a, A(_dln), A(_dv), A(a.Ln1), N);
        _k.RmsNormBackward(dres, G(W("input_layernorm.weight")), A(_dln), x, P(W("input_layernorm.weight")), A(a.Rstd1), N, C);
    }

    private void LoraBackward(int l, string target, LayerActs a, DeviceSpan dx, DeviceSpan dy, DeviceSpan x, long n)
    {
        if (Lora == null || !a.LoraXa.TryGetValue(target, out int xa)) return;
        var (inDim, outDim) = TargetDims(target);
        string b = LoraName(l, target);
        int ia = _loraIndex[b + ".lora_A.weight"], ib = _loraIndex[b + ".lora_B.weight"];
        // Gradient index equals parameter index: both arenas were reserved in the same order.
        _k.LoraBackward(dx, _loraGrads![ia], _loraGrads[ib], A(_loraWork), dy, x, A(xa), _lora![ia], _lora[ib], n, inDim, outDim, Lora.Rank, Lora.Scale);
    }

    // ------------------------------------------------------------------ optimizer

    /// <summary>Global gradient norm, clipping to <paramref name="maxGradNorm"/> (≤ 0: none), then AdamW on every
    /// trainable tensor. Weight decay applies to matrices only. Returns the gradient norm before clipping.</summary>
    public float OptimizerStep(float lr, float weightDecay, float maxGradNorm = 1f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f) =>
        OptimizerStepWithLoss(lr, weightDecay, maxGradNorm, beta1, beta2, eps).GradNorm;

    /// <summary><see cref="OptimizerStep"/> that also returns the loss sum of the micro-batches accumulated since
    /// <see cref="ZeroGradients"/>. Its one read-back of [Σ grad², Σ loss] at the end is the training step's only wait
    /// for the device: everything before it is queued (on CUDA, the stream never drains inside a step).</summary>
    public (float GradNorm, double LossSum) OptimizerStepWithLoss(float lr, float weightDecay, float maxGradNorm = 1f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f)
    {
        DeviceSpan stats = A(_stats), sumsq = stats.Slice(0, 1), clip = A(_clip);
        Device.Zero(sumsq);
        _k.SumSquaresMulti(sumsq, _gradPtrs, _gradCounts);
        _k.ClipScale(clip, sumsq, maxGradNorm);
        _step++;
        if (!_adamDecay.Equals(weightDecay))
        {
            for (int i = 0; i < _trainables.Count; i++) _adamTensors[i].WeightDecay = _trainables[i].Decay ? weightDecay : 0f;
            _adamDecay = weightDecay;
        }
        // config.WeightDecay is ignored by the multi-tensor op: each tensor carries its own.
        var cfg = new HbAdamWConfig { Lr = lr, Beta1 = beta1, Beta2 = beta2, Eps = eps, Step = (int)_step };
        _k.AdamWMulti(_adamTensors, clip, cfg);
        RefreshComputeWeights();
        var both = new float[2];
        Device.Download(both, stats);
        return (MathF.Sqrt(both[0]), both[1]);
    }

    /// <summary>Gradient of a trainable tensor (host copy), for tests and diagnostics.</summary>
    public float[] GetGradient(string name)
    {
        Trainable t = _trainables.FirstOrDefault(x => x.Name == name) ?? throw new ArgumentException($"'{name}' is not a trainable tensor");
        return Device.Download(GradSpan(t));
    }

    /// <summary>Reads or writes one element of a trainable tensor (finite-difference checks).</summary>
    public float GetParameter(string name, long index)
    {
        Trainable t = _trainables.FirstOrDefault(x => x.Name == name) ?? throw new ArgumentException($"'{name}' is not a trainable tensor");
        var one = new float[1];
        Device.Download(one, ParamSpan(t).Slice(index, 1));
        return one[0];
    }

    public void SetParameter(string name, long index, float value)
    {
        Trainable t = _trainables.FirstOrDefault(x => x.Name == name) ?? throw new ArgumentException($"'{name}' is not a trainable tensor");
        Device.Upload(ParamSpan(t).Slice(index, 1), [value]);
        RefreshComputeWeights();
    }

    public IEnumerable<string> TrainableNames => _trainables.Select(t => t.Name);

    /// <summary>Every trainable tensor's parameter, gradient and AdamW moments, in optimizer order (tests compare the
    /// fused optimizer step against per-tensor kernel calls).</summary>
    internal IEnumerable<(string Name, DeviceSpan Param, DeviceSpan Grad, DeviceSpan M, DeviceSpan V, bool Decay)> TrainableState() =>
        _trainables.Select(t => (t.Name, ParamSpan(t), GradSpan(t), _opt[t.M], _opt[t.V], t.Decay));

    public void Dispose()
    {
        _acts.Dispose();
        _opt.Dispose();
        _compute?.Dispose();
        _loraGrads?.Dispose();
        _lora?.Dispose();
        _grads?.Dispose();
        _params.Dispose();
    }
}
