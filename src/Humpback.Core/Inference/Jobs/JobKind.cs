using System.Globalization;
using System.Text.RegularExpressions;
using Humpback.Prompts;

namespace Humpback.Inference;

/// <summary>What differs between jobs: the prompt, the engine call and the result columns. The shared machinery
/// (streaming, shards, parts, resume, statistics) is <see cref="InferenceJob"/>.</summary>
internal abstract class JobKind
{
    /// <summary>"generate", "curate-logits" or "curate-generate" (recorded in outputs; merge checks it).</summary>
    public abstract string Name { get; }
    public abstract PromptTemplate Template { get; }
    /// <summary>Placeholder → input column.</summary>
    public abstract IReadOnlyDictionary<string, string> Bindings { get; }
    public abstract IReadOnlyList<OutputColumn> ResultColumns { get; }
    /// <summary>Everything besides model, input and template that changes the output (for the resume check).</summary>
    public abstract string Settings { get; }
    public abstract void Prepare(LlamaModel model);
    public abstract EngineRunStats Run(BatchEngine engine, int[] prefix, IEnumerable<EngineRequest> rows, Action<EngineResult> onResult, CancellationToken ct);
    public abstract object?[] Values(EngineResult r);
    /// <summary>Extra footer keys of the final output (kept by merge), e.g. what a judge compared.</summary>
    public virtual IReadOnlyDictionary<string, string> Metadata { get; } = new Dictionary<string, string>();
}

internal sealed class GenerateKind(GenerateJobOptions o) : JobKind
{
    private GenerationSettings _settings = o.Generation;

    public override string Name => "generate";
    public override PromptTemplate Template { get; } = PromptTemplate.Resolve(o.Template, o.System);

    public override IReadOnlyDictionary<string, string> Bindings => Template.Placeholders.ToDictionary(
        p => p, p => o.Columns != null && o.Columns.TryGetValue(p, out string? c) ? c : p);

    public override IReadOnlyList<OutputColumn> ResultColumns { get; } =
    [
        new("prompt_tokens", OutputColumnKind.Int), new("generated_tokens", OutputColumnKind.Int), new("finish_reason", OutputColumnKind.String),
        new("generation", OutputColumnKind.String), new("error", OutputColumnKind.String),
    ];

    public override string Settings =>
        $"T={o.Generation.Temperature:R} p={o.Generation.TopP:R} k={o.Generation.TopK} max={o.Generation.MaxNewTokens} seed={o.Generation.Seed} " +
        $"stop=[{string.Join("|", o.Generation.StopStrings ?? [])}] end=[{string.Join("|", o.EndTokens)}] ctx={o.Engine.SequenceContext}";

    public override void Prepare(LlamaModel model)
    {
        var ends = new List<int>(o.Generation.ExtraEndTokens ?? []);
        foreach (string spelling in o.EndTokens)
        {
            ends.Add(model.SingleToken(spelling, parseSpecial: true)
                     ?? throw new ArgumentException($"end token '{spelling}' is not a single token of {Path.GetFileName(model.Path)}"));
        }
        _settings = o.Generation with { ExtraEndTokens = ends };
    }

    public override EngineRunStats Run(BatchEngine engine, int[] prefix, IEnumerable<EngineRequest> rows, Action<EngineResult> onResult, CancellationToken ct) =>
        engine.Generate(prefix, rows, _settings, onResult, ct);

    public override object?[] Values(EngineResult r) =>
        [r.PromptTokens, r.Error == null ? r.GeneratedTokens : null, (r.Finish ?? FinishReason.Error).ToText(), r.Text, r.Error];
}

internal sealed class CurateLogitsKind(CurateJobOptions o) : JobKind
{
    private int[] _digits = [];

    public override string Name => "curate-logits";
    public override PromptTemplate Template { get; } = o.Template is string t
        ? WithPrefill(PromptTemplate.Resolve(t, o.System), PromptTemplates.ScorePrefill)
        : new PromptTemplate("curate", PromptTemplates.CurationUser, o.System, PromptTemplates.ScorePrefill);

    public override IReadOnlyDictionary<string, string> Bindings => CurateBindings(o, Template);

    public override IReadOnlyList<OutputColumn> ResultColumns { get; } =
    [
        new("prompt_tokens", OutputColumnKind.Int),
        new("p1", OutputColumnKind.Double), new("p2", OutputColumnKind.Double), new("p3", OutputColumnKind.Double), new("p4", OutputColumnKind.Double), new("p5", OutputColumnKind.Double),
        new("p_digits_mass", OutputColumnKind.Double), new("score_argmax", OutputColumnKind.Int), new("score_expected", OutputColumnKind.Double),
        new("error", OutputColumnKind.String),
    ];

    public override string Settings => $"logits ctx={o.Engine.SequenceContext}";

    public override void Prepare(LlamaModel model)
    {
        _digits = Enumerable.Range(1, 5).Select(d => model.SingleToken(d.ToString(CultureInfo.InvariantCulture), parseSpecial: false)
            ?? throw new InvalidDataException(
                $"{model.Path}: the digit '{d}' is not a single token in this vocabulary, so logits mode cannot read a rating; use --mode generate")).ToArray();
        if (_digits.Distinct().Count() != 5) throw new InvalidDataException($"{model.Path}: the digits 1–5 do not map to 5 different tokens");
    }

    public override EngineRunStats Run(BatchEngine engine, int[] prefix, IEnumerable<EngineRequest> rows, Action<EngineResult> onResult, CancellationToken ct) =>
        engine.Score(prefix, rows, _digits, onResult, ct);

    public override object?[] Values(EngineResult r)
    {
        if (r.Probabilities is not double[] raw) return [r.PromptTokens, null, null, null, null, null, null, null, null, r.Error];
        double mass = raw.Sum();
        var p = raw.Select(x => x / mass).ToArray();
        int argmax = 0;
        for (int k = 1; k < 5; k++) if (p[k] > p[argmax]) argmax = k;
        double expected = 0;
        for (int k = 0; k < 5; k++) expected += (k + 1) * p[k];
        return [r.PromptTokens, p[0], p[1], p[2], p[3], p[4], mass, argmax + 1, expected, r.Error];
    }

    internal static PromptTemplate WithPrefill(PromptTemplate t, string prefill) => new(t.Name, t.User, t.System, prefill);

    internal static IReadOnlyDictionary<string, string> CurateBindings(CurateJobOptions o, PromptTemplate t)
    {
        foreach (string needed in new[] { "instruction", "output" })
            if (!t.Placeholders.Contains(needed)) throw new ArgumentException($"curation template '{t.Name}' must use {{{needed}}}");
        return t.Placeholders.ToDictionary(p => p, p => p switch
        {
            "instruction" => o.InstructionColumn,
            "output" => o.OutputColumn,
            _ => p,
        });
    }
}

internal sealed partial class CurateGenerateKind(CurateJobOptions o) : JobKind
{
    public override string Name => "curate-generate";
    public override PromptTemplate Template { get; } = o.Template is string t
        ? PromptTemplate.Resolve(t, o.System)
        : new PromptTemplate("curate-generate", PromptTemplates.CurationUser, o.System);

    public override IReadOnlyDictionary<string, string> Bindings => CurateLogitsKind.CurateBindings(o, Template);

    public override IReadOnlyList<OutputColumn> ResultColumns { get; } =
    [
        // "score_text", not "generation": curating a generate output keeps its "generation" column as the instruction.
        new("prompt_tokens", OutputColumnKind.Int), new("generated_tokens", OutputColumnKind.Int), new("finish_reason", OutputColumnKind.String),
        new("score_text", OutputColumnKind.String), new("score", OutputColumnKind.Int), new("error", OutputColumnKind.String),
    ];

    public override string Settings =>
        $"generate T={o.Generation.Temperature:R} p={o.Generation.TopP:R} k={o.Generation.TopK} max={o.Generation.MaxNewTokens} seed={o.Generation.Seed} ctx={o.Engine.SequenceContext}";

    public override void Prepare(LlamaModel model) { }

    public override EngineRunStats Run(BatchEngine engine, int[] prefix, IEnumerable<EngineRequest> rows, Action<EngineResult> onResult, CancellationToken ct) =>
        engine.Generate(prefix, rows, o.Generation, onResult, ct);

    public override object?[] Values(EngineResult r) =>
        [r.PromptTokens, r.Error == null ? r.GeneratedTokens : null, (r.Finish ?? FinishReason.Error).ToText(), r.Text,
         r.Text is string text ? ParseScore(text) : null, r.Error];

    /// <summary>The paper's format, strictly: the last non-empty line is "Score: N" with N in 1..5 (surrounding
    /// spaces allowed). Anything else — no score line, a score mid-text, "Score: 4.5", "5/5" — is unparseable (null).</summary>
    public static int? ParseScore(string text)
    {
        string? last = text.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.Length > 0);
        if (last == null) return null;
        Match m = ScoreLine().Match(last);
        return m.Success ? m.Groups[1].Value[0] - '0' : null;
    }

    [GeneratedRegex(@"^Score:\s*([1-5])$")]
    private static partial Regex ScoreLine();
}

/// <summary>The pairwise judge: after the lead-in "The better response is:", the probabilities of the tokens " A"
/// and " B". Columns: p_first (P(A) renormalised over the two letters: how much the judge prefers the response shown
/// first), p_letters_mass (their raw total probability: how sure the judge is that its answer is a letter at all).
/// Which model was shown first is the row's "order" column (ab or ba); <see cref="JudgeVerdicts"/> joins the two
/// orders of a question.</summary>
internal sealed class JudgeKind(JudgeJobOptions o) : JobKind
{
    private int[] _letters = [];

    public override string Name => "judge";
    public override PromptTemplate Template { get; } = o.Template is string t
        ? CurateLogitsKind.WithPrefill(PromptTemplate.Resolve(t, o.System), PromptTemplates.JudgePrefill)
        : PromptTemplates.Judge(o.System);

    public override IReadOnlyDictionary<string, string> Bindings
    {
        get
        {
            // The pairs table's columns carry the placeholders' names.
            foreach (string needed in JudgePairs.PromptColumns)
                if (!Template.Placeholders.Contains(needed)) throw new ArgumentException($"judge template '{Template.Name}' must use {{{needed}}}");
            return Template.Placeholders.ToDictionary(p => p, p => JudgePairs.PromptColumns.Contains(p)
                ? p : throw new ArgumentException($"judge template '{Template.Name}' uses {{{p}}}; only {{instruction}}, {{response_a}} and {{response_b}} have values"));
        }
    }

    public override IReadOnlyList<OutputColumn> ResultColumns { get; } =
    [
        new("prompt_tokens", OutputColumnKind.Int), new("p_first", OutputColumnKind.Double), new("p_letters_mass", OutputColumnKind.Double),
        new("error", OutputColumnKind.String),
    ];

    public override string Settings => $"letters=[{string.Join("|", HumpbackPrompts.JudgeLetters)}] ctx={o.Engine.SequenceContext}";

    public override IReadOnlyDictionary<string, string> Metadata { get; } = new Dictionary<string, string>
    {
        [JudgeVerdicts.MetaAnswersA] = Path.GetFullPath(o.AnswersA),
        [JudgeVerdicts.MetaAnswersB] = Path.GetFullPath(o.AnswersB),
        [JudgeVerdicts.MetaNameA] = o.NameA,
        [JudgeVerdicts.MetaNameB] = o.NameB,
        [JudgeVerdicts.MetaTieMargin] = o.TieMargin.ToString("R", CultureInfo.InvariantCulture),
    };

    public override void Prepare(LlamaModel model)
    {
        _letters = HumpbackPrompts.JudgeLetters.Select(l => model.SingleToken(l, parseSpecial: false)
            ?? throw new InvalidDataException(
                $"{model.Path}: '{l}' (the letter after \"{PromptTemplates.JudgePrefill}\", with its leading space) is not a single token in this " +
                "vocabulary, so this model cannot be read as a judge")).ToArray();
        if (_letters[0] == _letters[1]) throw new InvalidDataException($"{model.Path}: ' A' and ' B' map to the same token");
    }

    public override EngineRunStats Run(BatchEngine engine, int[] prefix, IEnumerable<EngineRequest> rows, Action<EngineResult> onResult, CancellationToken ct) =>
        engine.Score(prefix, rows, _letters, onResult, ct);

    public override object?[] Values(EngineResult r)
    {
        if (r.Probabilities is not double[] raw) return [r.PromptTokens, null, null, r.Error];
        double mass = raw[0] + raw[1];
        if (!(mass > 0) || !double.IsFinite(mass)) return [r.PromptTokens, null, mass, r.Error ?? "the judge gave the letters A and B no probability"];
        return [r.PromptTokens, raw[0] / mass, mass, r.Error];
    }
}
