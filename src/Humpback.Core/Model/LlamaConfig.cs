namespace Humpback.Model;

/// <summary>Llama 3's "llama3" RoPE scaling (HF config.json "rope_scaling" with rope_type "llama3").</summary>
public sealed record RopeScaling(float Factor = 32f, float LowFreqFactor = 1f, float HighFreqFactor = 4f, int OriginalMaxPosition = 8192);

/// <summary>The shape of a Llama model. Field names follow HF config.json (see Formats for reading/writing it).</summary>
public sealed record LlamaConfig
{
    public int VocabSize { get; init; }
    public int HiddenSize { get; init; }
    public int IntermediateSize { get; init; }
    public int NumLayers { get; init; }
    public int NumHeads { get; init; }
    public int NumKvHeads { get; init; }
    /// <summary>Head dimension; 0 means HiddenSize / NumHeads.</summary>
    public int HeadDim { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public float RmsNormEps { get; init; } = 1e-5f;
    public float RopeTheta { get; init; } = 500000f;
    public RopeScaling? RopeScaling { get; init; }
    public bool TieWordEmbeddings { get; init; }
    public int BosTokenId { get; init; }
    public int EosTokenId { get; init; }
    /// <summary>Extra end-of-generation ids (e.g. &lt;|eot_id|&gt; and &lt;|end_of_text|&gt; for instruct models).</summary>
    public IReadOnlyList<int> ExtraEosTokenIds { get; init; } = [];

    public int ResolvedHeadDim => HeadDim > 0 ? HeadDim : HiddenSize / Math.Max(1, NumHeads);

    /// <summary>Llama-3.2-3B as published (HF meta-llama/Llama-3.2-3B config.json).</summary>
    public static LlamaConfig Llama32_3B => new()
    {
        VocabSize = 128256, HiddenSize = 3072, IntermediateSize = 8192, NumLayers = 28, NumHeads = 24, NumKvHeads = 8,
        HeadDim = 128, MaxPositionEmbeddings = 131072, RmsNormEps = 1e-5f, RopeTheta = 500000f,
        RopeScaling = new RopeScaling(32f, 1f, 4f, 8192), TieWordEmbeddings = true, BosTokenId = 128000, EosTokenId = 128001,
    };

    /// <summary>Llama-3.2-1B as published.</summary>
    public static LlamaConfig Llama32_1B => Llama32_3B with
    {
        HiddenSize = 2048, IntermediateSize = 8192, NumLayers = 16, NumHeads = 32, NumKvHeads = 8, HeadDim = 64,
    };

    /// <summary>Throws <see cref="InvalidDataException"/> naming the first field that is out of range or inconsistent.</summary>
    public void Validate(string source = "config")
    {
        void Require(bool ok, string field, string why)
        {
            if (!ok) throw new InvalidDataException($"{source}: {field} {why}");
        }
        Require(VocabSize > 0, "vocab_size", $"must be > 0 (got {VocabSize})");
        Require(HiddenSize > 0, "hidden_size", $"must be > 0 (got {HiddenSize})");
        Require(IntermediateSize > 0, "intermediate_size", $"must be > 0 (got {IntermediateSize})");
        Require(NumLayers > 0, "num_hidden_layers", $"must be > 0 (got {NumLayers})");
        Require(NumHeads > 0, "num_attention_heads", $"must be > 0 (got {NumHeads})");
        Require(NumKvHeads > 0, "num_key_value_heads", $"must be > 0 (got {NumKvHeads})");
        Require(NumHeads % NumKvHeads == 0, "num_key_value_heads", $"({NumKvHeads}) must divide num_attention_heads ({NumHeads})");
        Require(HeadDim > 0 || HiddenSize % NumHeads == 0, "hidden_size", $"({HiddenSize}) must be a multiple of num_attention_heads ({NumHeads}) when head_dim is not given");
        Require(ResolvedHeadDim % 2 == 0, "head_dim", $"must be even for RoPE (got {ResolvedHeadDim})");
        Require(MaxPositionEmbeddings > 0, "max_position_embeddings", $"must be > 0 (got {MaxPositionEmbeddings})");
        Require(RmsNormEps > 0 && float.IsFinite(RmsNormEps), "rms_norm_eps", $"must be a finite value > 0 (got {RmsNormEps})");
        Require(RopeTheta > 0 && float.IsFinite(RopeTheta), "rope_theta", $"must be a finite value > 0 (got {RopeTheta})");
        if (RopeScaling is { } s)
        {
            Require(s.Factor > 0, "rope_scaling.factor", $"must be > 0 (got {s.Factor})");
            Require(s.LowFreqFactor > 0 && s.HighFreqFactor > s.LowFreqFactor, "rope_scaling.high_freq_factor",
                $"must exceed low_freq_factor > 0 (got low {s.LowFreqFactor}, high {s.HighFreqFactor})");
            Require(s.OriginalMaxPosition > 0, "rope_scaling.original_max_position_embeddings", $"must be > 0 (got {s.OriginalMaxPosition})");
        }
        Require(BosTokenId >= 0 && BosTokenId < VocabSize, "bos_token_id", $"must be in [0, vocab_size) (got {BosTokenId})");
        Require(EosTokenId >= 0 && EosTokenId < VocabSize, "eos_token_id", $"must be in [0, vocab_size) (got {EosTokenId})");
    }

    /// <summary>Parameter count (embedding, layers, final norm, and the LM head unless tied).</summary>
    public long ParameterCount
    {
        get
        {
            long d = HiddenSize, hd = ResolvedHeadDim, f = IntermediateSize;
            long attn = d * NumHeads * hd + 2 * d * NumKvHeads * hd + NumHeads * hd * d;
            long mlp = 3 * d * f;
            long layer = attn + mlp + 2 * d;
            long embed = (long)VocabSize * d;
            return embed + NumLayers * layer + d + (TieWordEmbeddings ? 0 : embed);
        }
    }
}
