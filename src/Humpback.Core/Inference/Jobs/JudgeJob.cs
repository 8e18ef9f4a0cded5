using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Humpback.IO;
using Humpback.Pipeline;
using Parquet;

namespace Humpback.Inference;

/// <summary>What a judge run produced: the job's statistics and the verdicts' totals.</summary>
public sealed record JudgeResult(JobStatistics Statistics, JudgeSummary Summary);

/// <summary>`humpback judge`: a third model compares the answers of two models to the same instructions.
/// Three steps: (1) the two answer files are joined by id into a pairs table with two rows per id, the answers shown
/// in the orders (A = a, B = b) and (A = b, B = a); (2) the shared job machinery scores each row — the probabilities
/// of " A" and " B" after "The better response is:" (streamed, resumable, shardable and mergeable like curate);
/// (3) <see cref="JudgeVerdicts"/> joins each id's two orders into a verdict, so the judge's preference for a position
/// cancels out. Output columns: row_index, id, order, instruction, response_a, response_b, skipped, prompt_tokens,
/// p_first, p_letters_mass, error; totals in "&lt;out&gt;.summary.json".</summary>
public static class JudgeJob
{
    public static async Task<JudgeResult> RunAsync(JudgeJobOptions options, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default)
    {
        options.Validate();
        string output = Path.GetFullPath(options.OutputPath);
        if (!options.Overwrite) InferenceJob.CheckNotFinished(output);
        string pairs = await JudgePairs.PrepareAsync(options, Path.GetDirectoryName(output)!, ct);
        var input = new JobInput(pairs, "id", IdColumnRequired: true, JudgePairs.KeepColumns);
        JobStatistics stats = await InferenceJob.RunAsync(options, input, new JudgeKind(options), progress, ct);
        JudgeSummary summary = await JudgeVerdicts.SummarizeFileAsync(output, options.TieMargin, ct);
        AtomicFile.WriteAllText(InferenceJobPaths.SummaryPath(output), summary.ToJson());
        // A whole run owns its pairs table; a shard leaves it for its sibling shards (same answer files, same folder).
        if (options.Shard.Count == 1 && !options.KeepParts) File.Delete(pairs);
        return new JudgeResult(stats, summary);
    }
}

/// <summary>The join of two answer files into the judge's input: per id, row 2k shows the answers in the order
/// (A = model a, B = model b) and row 2k+1 in the order (A = b, B = a). Ids missing from one file, or without an
/// answer on one side, keep their two rows with null responses and a reason in "skipped", so they are counted (as
/// error rows, never decoded) and reported, and the summary can be computed from the job's output alone.</summary>
internal static class JudgePairs
{
    public const string OrderAb = "ab";
    public const string OrderBa = "ba";

    public const string SkipOnlyInA = "only in a";
    public const string SkipOnlyInB = "only in b";
    public const string SkipNoAnswerA = "no answer from a";
    public const string SkipNoAnswerB = "no answer from b";
    public const string SkipNoAnswers = "no answer from a or b";
    public const string SkipInstructionsDiffer = "instructions differ";

    /// <summary>The columns the judge prompt reads (named after its placeholders).</summary>
    public static readonly string[] PromptColumns = ["instruction", "response_a", "response_b"];

    /// <summary>The pairs-table columns copied into the job's output.</summary>
    public static readonly string[] KeepColumns = ["order", "instruction", "response_a", "response_b", "skipped"];

    private static readonly OutputColumn[] Columns =
        [new("id", OutputColumnKind.String), .. KeepColumns.Select(c => new OutputColumn(c, OutputColumnKind.String))];

    private sealed record Answer(string? Instruction, string? Text);

    /// <summary>Writes the pairs table into <paramref name="dir"/> unless it is already there, and returns its path.
    /// Its name is a hash of the two answer files' identities (path, size, modification time) and its modification
    /// time is theirs, so a resumed run and the sibling shards of a run find the same file with the same identity —
    /// which is what the job's resume check and `merge` compare.</summary>
    public static async Task<string> PrepareAsync(JudgeJobOptions o, string dir, CancellationToken ct)
    {
        string a = Path.GetFullPath(o.AnswersA), b = Path.GetFullPath(o.AnswersB);
        foreach (var (path, name) in new[] { (a, o.NameA), (b, o.NameB) })
            if (!File.Exists(path)) throw new FileNotFoundException($"answers of '{name}': {path}: file not found", path);
        string key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(InferenceJob.FileId(a) + "\n" + InferenceJob.FileId(b))))[..16];
        string pairs = Path.Combine(dir, $"judge-pairs-{key}.parquet");
        if (File.Exists(pairs)) return pairs;

        (List<string> orderA, Dictionary<string, Answer> byA) = await ReadAnswersAsync(a, o.NameA, ct);
        (List<string> orderB, Dictionary<string, Answer> byB) = await ReadAnswersAsync(b, o.NameB, ct);
        var rows = new List<object?[]>(2 * (orderA.Count + orderB.Count));
        foreach (string id in orderA.Concat(orderB.Where(id => !byA.ContainsKey(id))))
        {
            Answer? x = byA.GetValueOrDefault(id), y = byB.GetValueOrDefault(id);
            string? skipped = x == null ? SkipOnlyInB
                : y == null ? SkipOnlyInA
                : x.Text == null && y.Text == null ? SkipNoAnswers
                : x.Text == null ? SkipNoAnswerA
                : y.Text == null ? SkipNoAnswerB
                : !string.Equals(x.Instruction?.Trim(), y.Instruction?.Trim(), StringComparison.Ordinal) ? SkipInstructionsDiffer
                : null;
            string? instruction = x?.Instruction ?? y?.Instruction;
            string? ta = skipped == null ? x!.Text : null, tb = skipped == null ? y!.Text : null;
            rows.Add([id, OrderAb, instruction, ta, tb, skipped]);
            rows.Add([id, OrderBa, instruction, tb, ta, skipped]);
        }
        var metadata = new Dictionary<string, string>
        {
            ["humpback.kind"] = "judge-pairs", [JudgeVerdicts.MetaAnswersA] = a, [JudgeVerdicts.MetaAnswersB] = b,
        };
        DateTime stamp = new[] { File.GetLastWriteTimeUtc(a), File.GetLastWriteTimeUtc(b) }.Max();
        string scratch = AtomicFile.ScratchPathBeside(pairs, "pairs");
        try
        {
            await ParquetTable.WriteFileAsync(scratch, Columns, [rows], metadata, ct);
            File.SetLastWriteTimeUtc(scratch, stamp);
            File.Move(scratch, pairs, overwrite: true);
        }
        finally
        {
            if (File.Exists(scratch)) File.Delete(scratch);
        }
        return pairs;
    }

    /// <summary>An answers file: ids in file order and each id's instruction and answer (null when the generation is
    /// null, blank or failed). Read whole: answer files hold one row per held-out question, thousands at most. Errors
    /// name the model and the file.</summary>
    private static async Task<(List<string> Order, Dictionary<string, Answer> ById)> ReadAnswersAsync(string path, string name, CancellationToken ct)
    {
        try
        {
            var order = new List<string>();
            var byId = new Dictionary<string, Answer>(StringComparer.Ordinal);
            await using ParquetInput input = await ParquetInput.OpenAsync(path, ["instruction", "generation", "error"], ["error"], "id", idRequired: true, ct);
            await foreach (InputRow row in input.ReadAsync(ct: ct))
            {
                string? instruction = row.Values[0], generation = row.Values[1], error = row.Values[2];
                string? text = error == null && !string.IsNullOrWhiteSpace(generation) ? generation.Trim() : null;
                if (!byId.TryAdd(row.Id, new Answer(instruction, text)))
                    throw new InvalidDataException($"id '{row.Id}' appears twice (an answers file holds one answer per id)");
                order.Add(row.Id);
            }
            return (order, byId);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"answers of '{name}' ({path}): {e.Message}", e);
        }
    }
}

public enum JudgeVerdict
{
    /// <summary>Model a won: both orders prefer it, by at least the tie margin on average.</summary>
    A,
    B,
    /// <summary>The orders disagree (the judge preferred a position, not an answer) or the preference is within the margin.</summary>
    Tie,
    /// <summary>Not judged: missing on one side, no answer, a failed row (e.g. prompt too long), or an order absent.</summary>
    Skipped,
}

/// <summary>One scored row of a judge output, as <see cref="JudgeVerdicts"/> reads it.</summary>
/// <param name="Order">"ab" (A = model a) or "ba" (A = model b)</param>
/// <param name="PFirst">P(A) renormalised over A and B; null when the row was not scored</param>
public sealed record JudgeRow(string Id, string? Order, double? PFirst, double? LetterMass = null, string? Error = null, string? Skipped = null);

/// <summary>The verdict on one id. Preferences are for model a: <paramref name="PreferenceAb"/> = P(A | a shown
/// first), <paramref name="PreferenceBa"/> = P(B | a shown second), <paramref name="PA"/> their mean.</summary>
public sealed record JudgedPair(string Id, JudgeVerdict Verdict, double? PreferenceAb, double? PreferenceBa, double? PA, string? Skipped);

/// <summary>The verdicts' totals of one judge output (saved as "&lt;out&gt;.summary.json").</summary>
public sealed class JudgeSummary
{
    public string? Judge { get; set; }
    public string NameA { get; set; } = "a";
    public string NameB { get; set; } = "b";
    public string? AnswersA { get; set; }
    public string? AnswersB { get; set; }
    public double TieMargin { get; set; }
    /// <summary>Distinct ids in the output (both files together).</summary>
    public long Ids { get; set; }
    /// <summary>Ids scored in both orders.</summary>
    public long Judged { get; set; }
    public long WinsA { get; set; }
    public long WinsB { get; set; }
    public long Ties { get; set; }
    /// <summary>Ties because the two orders preferred different models (the judge's position bias at work).</summary>
    public long OrdersDisagree { get; set; }
    /// <summary>(wins of a + ties / 2) / judged; null when nothing was judged.</summary>
    public double? WinRateA => Judged == 0 ? null : (WinsA + Ties / 2.0) / Judged;
    /// <summary>Mean of p_a over the judged ids.</summary>
    public double? MeanPreferenceA { get; set; }
    /// <summary>Mean P(A) over the judged rows: 0.5 when the judge has no position bias, above when it favours the
    /// response shown first.</summary>
    public double? FirstPositionPreference { get; set; }
    /// <summary>Mean raw P(" A") + P(" B"): low values mean the judge rarely answers with a letter.</summary>
    public double? MeanLetterMass { get; set; }
    public long OnlyInA { get; set; }
    public long OnlyInB { get; set; }
    /// <summary>Ids without an answer (null, blank or failed generation) on either side.</summary>
    public long MissingAnswer { get; set; }
    public long InstructionsDiffer { get; set; }
    /// <summary>Ids with a failed row (prompt longer than the context, …).</summary>
    public long Errors { get; set; }
    /// <summary>Ids with only one order in this file (a shard split by row index: merge the shards first).</summary>
    public long Incomplete { get; set; }
    public long Skipped => OnlyInA + OnlyInB + MissingAnswer + InstructionsDiffer + Errors + Incomplete;
    public List<JudgedPair> Verdicts { get; } = [];

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>The summary table printed by `humpback judge` and `merge`.</summary>
    public string ToText()
    {
        static string F(double? v) => v is double x ? x.ToString("0.000", CultureInfo.InvariantCulture) : "–";
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"judge {(Judge == null ? "" : Path.GetFileName(Judge) + " ")}on {NameA} vs {NameB}: {Judged} of {Ids} questions judged in both orders");
        int w = Math.Max(5, Math.Max(NameA.Length, NameB.Length));
        sb.AppendLine(CultureInfo.InvariantCulture, $"  {"model".PadRight(w)}  {"wins",6}  {"ties",6}  {"losses",6}  {"win rate",8}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  {NameA.PadRight(w)}  {WinsA,6}  {Ties,6}  {WinsB,6}  {F(WinRateA),8}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  {NameB.PadRight(w)}  {WinsB,6}  {Ties,6}  {WinsA,6}  {F(1 - WinRateA),8}");
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"  a win needs both orders to agree and a mean preference ≥ 0.5 + {TieMargin.ToString("0.###", CultureInfo.InvariantCulture)}; " +
            $"orders disagreed on {OrdersDisagree}; first-position preference {F(FirstPositionPreference)} (0.5 = none), mean letter mass {F(MeanLetterMass)}");
        sb.Append(CultureInfo.InvariantCulture,
            $"  skipped {Skipped}: only in {NameA} {OnlyInA}, only in {NameB} {OnlyInB}, missing answer {MissingAnswer}, " +
            $"instructions differ {InstructionsDiffer}, failed rows {Errors}, one order only {Incomplete}");
        return sb.ToString();
    }
}

/// <summary>Joins the two orders of each id into a verdict. The rule (position-consistent, as in Zheng et al. 2023,
/// "Judging LLM-as-a-judge"): with p_ab = P(A | a shown first) and p_ba = P(B | a shown second), p_a = (p_ab + p_ba)/2;
/// model a wins when both p_ab and p_ba exceed 0.5 and p_a ≥ 0.5 + margin, model b symmetrically, anything else is a
/// tie. A judge that always picks the first position gives p_ab ≈ 1, p_ba ≈ 0: a tie, whatever the answers.</summary>
public static class JudgeVerdicts
{
    public const double DefaultTieMargin = 0.05;

    // Footer keys of a judge output (kept by merge), read back by the summary.
    public const string MetaAnswersA = "humpback.judge.answers_a";
    public const string MetaAnswersB = "humpback.judge.answers_b";
    public const string MetaNameA = "humpback.judge.name_a";
    public const string MetaNameB = "humpback.judge.name_b";
    public const string MetaTieMargin = "humpback.judge.tie_margin";

    public static (JudgeVerdict Verdict, double PA) Decide(double preferenceAb, double preferenceBa, double tieMargin)
    {
        double pa = (preferenceAb + preferenceBa) / 2;
        if (preferenceAb > 0.5 && preferenceBa > 0.5 && pa >= 0.5 + tieMargin) return (JudgeVerdict.A, pa);
        if (preferenceAb < 0.5 && preferenceBa < 0.5 && pa <= 0.5 - tieMargin) return (JudgeVerdict.B, pa);
        return (JudgeVerdict.Tie, pa);
    }

    /// <summary>Totals over rows grouped by id (in order of first appearance).</summary>
    public static JudgeSummary Summarize(IEnumerable<JudgeRow> rows, double tieMargin = DefaultTieMargin)
    {
        var s = new JudgeSummary { TieMargin = tieMargin };
        var byId = new Dictionary<string, List<JudgeRow>>(StringComparer.Ordinal);
        var ids = new List<string>();
        foreach (JudgeRow r in rows)
        {
            if (!byId.TryGetValue(r.Id, out List<JudgeRow>? list)) { byId[r.Id] = list = []; ids.Add(r.Id); }
            list.Add(r);
        }
        double paSum = 0, firstSum = 0, massSum = 0;
        long massCount = 0;
        foreach (string id in ids)
        {
            List<JudgeRow> g = byId[id];
            foreach (JudgeRow r in g) if (r.LetterMass is double m && r.PFirst != null) { massSum += m; massCount++; }
            JudgeRow? ab = g.FirstOrDefault(r => r.Order == JudgePairs.OrderAb), ba = g.FirstOrDefault(r => r.Order == JudgePairs.OrderBa);
            // Why an id is not judged, first reason first: the join's, then a failed row, then a missing order.
            string? skip = g.Select(r => r.Skipped).FirstOrDefault(x => x != null);
            if (skip != null)
            {
                switch (skip)
                {
                    case JudgePairs.SkipOnlyInA: s.OnlyInA++; break;
                    case JudgePairs.SkipOnlyInB: s.OnlyInB++; break;
                    case JudgePairs.SkipInstructionsDiffer: s.InstructionsDiffer++; break;
                    default: s.MissingAnswer++; break;
                }
            }
            else if (g.FirstOrDefault(r => r.Error != null) is JudgeRow failed)
            {
                skip = "failed: " + failed.Error;
                s.Errors++;
            }
            else if (ab?.PFirst == null || ba?.PFirst == null)
            {
                skip = "one order only";
                s.Incomplete++;
            }
            if (skip != null)
            {
                s.Verdicts.Add(new JudgedPair(id, JudgeVerdict.Skipped, null, null, null, skip));
                continue;
            }
            double pAb = ab!.PFirst!.Value, pBa = 1 - ba!.PFirst!.Value;
            (JudgeVerdict v, double pa) = Decide(pAb, pBa, tieMargin);
            switch (v)
            {
                case JudgeVerdict.A: s.WinsA++; break;
                case JudgeVerdict.B: s.WinsB++; break;
                default:
                    s.Ties++;
                    if (pAb > 0.5 != pBa > 0.5) s.OrdersDisagree++;
                    break;
            }
            s.Judged++;
            paSum += pa;
            firstSum += ab.PFirst.Value + ba.PFirst.Value;
            s.Verdicts.Add(new JudgedPair(id, v, pAb, pBa, pa, null));
        }
        s.Ids = ids.Count;
        if (s.Judged > 0)
        {
            s.MeanPreferenceA = paSum / s.Judged;
            s.FirstPositionPreference = firstSum / (2 * s.Judged);
        }
        if (massCount > 0) s.MeanLetterMass = massSum / massCount;
        return s;
    }

    /// <summary>The summary of a judge output (a job's or a merge of its shards). The names, answer files and tie
    /// margin come from the file's footer unless <paramref name="tieMargin"/> overrides the margin.</summary>
    public static async Task<JudgeSummary> SummarizeFileAsync(string path, double? tieMargin = null, CancellationToken ct = default)
    {
        string full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"judge output not found: {full}", full);
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(full, cancellationToken: ct);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            throw new InvalidDataException($"{full}: not a readable Parquet file ({e.Message})", e);
        }
        await using (reader)
        {
            IReadOnlyDictionary<string, string> meta = reader.CustomMetadata;
            if (meta.GetValueOrDefault("humpback.kind") != "judge")
                throw new InvalidDataException($"{full}: not a judge output (humpback.kind is '{meta.GetValueOrDefault("humpback.kind") ?? "absent"}')");
            IReadOnlyList<OutputColumn> all = ParquetTable.ColumnsOf(reader, full);
            string[] names = ["id", "order", "p_first", "p_letters_mass", "error", "skipped"];
            OutputColumn[] columns = names.Select(n => all.FirstOrDefault(c => c.Name == n)
                ?? throw new InvalidDataException($"{full}: no column '{n}' (columns: {string.Join(", ", all.Select(c => c.Name))})")).ToArray();
            var rows = new List<JudgeRow>();
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                foreach (object?[] r in await ParquetTable.ReadRowGroupAsync(reader, g, columns, ct))
                    rows.Add(new JudgeRow((string?)r[0] ?? "", (string?)r[1], (double?)r[2], (double?)r[3], (string?)r[4], (string?)r[5]));
            }
            double margin = tieMargin
                ?? (double.TryParse(meta.GetValueOrDefault(MetaTieMargin), NumberStyles.Float, CultureInfo.InvariantCulture, out double m) ? m : DefaultTieMargin);
            JudgeSummary s = Summarize(rows, margin);
            s.Judge = meta.GetValueOrDefault("humpback.model");
            s.NameA = meta.GetValueOrDefault(MetaNameA) ?? "a";
            s.NameB = meta.GetValueOrDefault(MetaNameB) ?? "b";
            s.AnswersA = meta.GetValueOrDefault(MetaAnswersA);
            s.AnswersB = meta.GetValueOrDefault(MetaAnswersB);
            return s;
        }
    }
}
