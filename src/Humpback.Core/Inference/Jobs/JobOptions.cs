namespace Humpback.Inference;

/// <summary>Options shared by every inference job (generate, curate, judge): model, output file, engine, sharding,
/// resume.</summary>
public abstract record InferenceJobOptions
{
    public required string ModelPath { get; init; }
    public string? LoraPath { get; init; }
    public float LoraScale { get; init; } = 1f;
    public int GpuLayers { get; init; }
    public LlamaBackend? Backend { get; init; }

    /// <summary>The final Parquet file. Work in progress lives beside it in "&lt;out&gt;.parts/" until the run finishes.</summary>
    public required string OutputPath { get; init; }

    public EngineOptions Engine { get; init; } = new();
    public ShardSpec Shard { get; init; } = ShardSpec.All;

    /// <summary>Input rows per part file (a part holds this shard's rows of that range). Smaller parts lose less
    /// work to a crash; larger ones make fewer files.</summary>
    public int PartRows { get; init; } = 2048;

    /// <summary>Start again even if the output or a half-finished run exists.</summary>
    public bool Overwrite { get; init; }

    /// <summary>Keep "&lt;out&gt;.parts/" after finishing (default: removed once the final file is written).</summary>
    public bool KeepParts { get; init; }

    public ChatFormat ChatFormat { get; init; } = ChatFormat.Llama3;

    /// <summary>System message replacing the template's own.</summary>
    public string? System { get; init; }

    internal virtual void Validate()
    {
        if (PartRows < 1) throw new ArgumentException($"part rows must be ≥ 1, got {PartRows}");
        Engine.Validate();
    }
}

/// <summary>A job over the rows of one input Parquet file (generate, curate): one output row per input row.</summary>
public abstract record TableJobOptions : InferenceJobOptions
{
    public required string InputPath { get; init; }

    /// <summary>Column holding row ids (string or integer). When absent from the file, ids are row indices — unless
    /// <see cref="IdColumnRequired"/>, in which case that is an error.</summary>
    public string IdColumn { get; init; } = "id";
    public bool IdColumnRequired { get; init; }

    /// <summary>Input text columns copied into the output (default: the columns the prompt reads).</summary>
    public IReadOnlyList<string>? KeepColumns { get; init; }

    internal JobInput Input => new(InputPath, IdColumn, IdColumnRequired, KeepColumns);
}

/// <summary>The input of one job run: the Parquet file, its id column, the columns copied to the output.</summary>
internal sealed record JobInput(string Path, string IdColumn, bool IdColumnRequired, IReadOnlyList<string>? KeepColumns);

/// <summary>`humpback generate`: a prompt per row from a template, then sampled text (self-augmentation with the
/// backward template: one instruction per web segment).</summary>
public sealed record GenerateJobOptions : TableJobOptions
{
    /// <summary>Built-in template name (backward, forward) or a template file.</summary>
    public string Template { get; init; } = "backward";

    /// <summary>Placeholder → input column. Unbound placeholders read the column of the same name.</summary>
    public IReadOnlyDictionary<string, string>? Columns { get; init; }

    /// <summary>Temperature 1.0, top-p 0.9: the follow-up paper's self-augmentation decoding.</summary>
    public GenerationSettings Generation { get; init; } = new();

    /// <summary>Extra end-of-generation tokens by spelling (each must be one token), e.g. "&lt;|eot_id|&gt;".</summary>
    public IReadOnlyList<string> EndTokens { get; init; } = [];

    internal override void Validate()
    {
        base.Validate();
        Generation.Validate();
    }
}

public enum CurateMode
{
    /// <summary>Probabilities of the rating digits after "Score: " (one forward pass per row, no parsing).</summary>
    Logits,
    /// <summary>The paper's way: the model reasons, then writes "Score: N" on its last line, parsed strictly.</summary>
    Generate,
}

/// <summary>`humpback curate`: the seed model rates each (instruction, answer) pair on the paper's 5-point scale.</summary>
public sealed record CurateJobOptions : TableJobOptions
{
    public CurateMode Mode { get; init; } = CurateMode.Logits;
    public string InstructionColumn { get; init; } = "instruction";
    public string OutputColumn { get; init; } = "output";

    /// <summary>A template file replacing the built-in curation prompt (it must use {instruction} and {output}).</summary>
    public string? Template { get; init; }

    /// <summary>Generate mode only: greedy by default, so a rating is reproducible.</summary>
    public GenerationSettings Generation { get; init; } = new(Temperature: 0f, TopP: 1f, MaxNewTokens: 256);

    internal override void Validate()
    {
        base.Validate();
        if (Mode == CurateMode.Generate) Generation.Validate();
    }
}

/// <summary>`humpback judge`: a third model (<see cref="InferenceJobOptions.ModelPath"/>, the judge) compares two
/// models' answers to the same instructions, each pair in both orders (A, B) and (B, A).</summary>
public sealed record JudgeJobOptions : InferenceJobOptions
{
    /// <summary>Answers of model a: a `humpback generate` output (columns id, instruction, generation; error if present).</summary>
    public required string AnswersA { get; init; }

    /// <summary>Answers of model b, same layout; rows are joined with model a's by id.</summary>
    public required string AnswersB { get; init; }

    /// <summary>Names shown in summaries and reports (e.g. m1, m0).</summary>
    public string NameA { get; init; } = "a";
    public string NameB { get; init; } = "b";

    /// <summary>A question is a win only when both orders prefer the same model and its mean preference is at least
    /// 0.5 + this margin; otherwise it is a tie (see <see cref="JudgeVerdicts.Decide"/>).</summary>
    public double TieMargin { get; init; } = JudgeVerdicts.DefaultTieMargin;

    /// <summary>A template file replacing the built-in judge prompt (it must use {instruction}, {response_a} and
    /// {response_b}); the lead-in "The better response is:" is always appended to the assistant turn.</summary>
    public string? Template { get; init; }

    internal override void Validate()
    {
        base.Validate();
        if (string.IsNullOrWhiteSpace(NameA) || string.IsNullOrWhiteSpace(NameB) || NameA == NameB)
            throw new ArgumentException($"the two models need two different names (got '{NameA}' and '{NameB}')");
        if (!(TieMargin >= 0 && TieMargin < 0.5)) throw new ArgumentException($"tie margin must be in [0, 0.5), got {TieMargin}");
    }
}
