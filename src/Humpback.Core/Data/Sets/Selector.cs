using System.Globalization;
using Humpback.Pipeline;
using Parquet.Schema;

namespace Humpback.Data;

/// <summary>Which score a threshold applies to: the expected rating Σ k·p_k (a real number in [1, 5]) or the
/// most likely rating (an integer).</summary>
public enum ScoreField
{
    Expected,
    Argmax,
}

/// <summary>Which pairs survive the cap, and their order in the output: best score first, a seeded shuffle, or
/// the scored file's own order.</summary>
public enum SelectOrder
{
    Score,
    Random,
    File,
}

/// <summary>How seed rows and augmented rows are laid out: seed rows first, or all rows shuffled with the seed.</summary>
public enum SeedMix
{
    Concat,
    Shuffle,
}

/// <summary>Options of <c>humpback data select</c>; defaults reproduce notHumpback-M1 (A5 = E[score] ≥ 4.5,
/// 16,000 training rows in all).</summary>
public sealed record SelectOptions
{
    public double MinScore { get; init; } = 4.5;
    public ScoreField Field { get; init; } = ScoreField.Expected;

    /// <summary>Maximum rows in the training set, seed rows included (0: no cap). The seed pairs are always
    /// kept whole; augmented pairs fill the remaining room in <see cref="Order"/>.</summary>
    public int Cap { get; init; } = 16_000;

    public SelectOrder Order { get; init; } = SelectOrder.Score;
    public SeedMix Mix { get; init; } = SeedMix.Concat;
    public long Seed { get; init; } = 1;
}

/// <summary>Self-curation's last step (Li et al. 2023 §2.2): keep the augmented pairs whose score reaches the
/// threshold, cap them, add the seed pairs and tag both kinds with their system sentence (<see cref="HumpbackTags"/>).
/// <para>The scored file is the candidates file plus instructions and scores; columns: <c>id</c> or
/// <c>segment_id</c>, <c>instruction</c>, <c>output</c> or <c>text</c>, and <c>score_expected</c> (double) /
/// <c>score_argmax</c> (int) — when the chosen score column is missing it is computed from <c>p1</c>…<c>p5</c>.
/// A row without a score (the rating could not be parsed) is counted as unscored and never selected.</para>
/// <para>Two passes over the scored file keep memory bounded by the selection: the first reads ids and scores
/// (row group by row group), the second reads the text of the selected rows only.</para></summary>
public static class Selector
{
    public static async Task<(List<TrainingExample> Rows, DataStats Stats)> SelectAsync(string scoredPath, string? seedPairsPath,
        SelectOptions options, IProgress<ProgressInfo>? progress = null, CancellationToken cancellationToken = default)
    {
        if (options.Cap < 0) throw new ArgumentException("cap must be >= 0 (0: no cap)");
        var stats = new DataStats("select",
            "seed_pairs", "scored_rows", "unscored", "blank_instruction", "blank_output", "below_threshold", "duplicate_id",
            "passed_threshold", "over_cap", "augmented_written", "seed_written", "rows_written");
        stats.SetInfo("score_field", options.Field == ScoreField.Expected ? "expected" : "argmax");
        stats.SetInfo("min_score", options.MinScore.ToString(CultureInfo.InvariantCulture));
        stats.SetInfo("cap", options.Cap.ToString(CultureInfo.InvariantCulture));
        stats.SetInfo("order", options.Order.ToString().ToLowerInvariant());

        List<PairRecord> seed = seedPairsPath == null ? [] : await PairsFile.ReadAllAsync(seedPairsPath, cancellationToken);
        stats.Add("seed_pairs", seed.Count);
        if (options.Cap > 0 && seed.Count > options.Cap)
            throw new ArgumentException($"--cap {options.Cap} is smaller than the {seed.Count} seed pairs; raise the cap or use fewer seed pairs");

        // Pass 1: ids and scores of the rows that pass.
        var passed = new List<Passed>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        await using (ParquetTableReader table = await ParquetTableReader.OpenAsync(scoredPath, cancellationToken))
        {
            var columns = ScoredColumns.Find(table, options.Field);
            for (int g = 0; g < table.RowGroupCount; g++)
            {
                ParquetTableRowGroup rg = table.OpenRowGroup(g);
                string?[] rowIds = await rg.ReadStringsAsync(columns.Id, cancellationToken);
                string?[] instructions = await rg.ReadStringsAsync(columns.Instruction, cancellationToken);
                string?[] outputs = await rg.ReadStringsAsync(columns.Output, cancellationToken);
                (double?[] primary, double?[] secondary) = await columns.ScoresAsync(rg, options.Field, cancellationToken);
                for (int i = 0; i < rg.RowCount; i++)
                {
                    stats.Add("scored_rows");
                    string where = $"{table.Name}:row {rg.RowOf(i)}";
                    string id = ParquetTable.NotNull(rowIds[i], table, rg, i, columns.Id.Name);
                    if (primary[i] is not double score || double.IsNaN(score)) stats.Skip("unscored", where);
                    else if (string.IsNullOrWhiteSpace(instructions[i])) stats.Skip("blank_instruction", where);
                    else if (string.IsNullOrWhiteSpace(outputs[i])) stats.Skip("blank_output", where);
                    else if (score < options.MinScore) stats.Add("below_threshold");
                    else if (!ids.Add(id)) stats.Skip("duplicate_id", where);
                    else
                    {
                        stats.Add("passed_threshold");
                        passed.Add(new Passed(rg.RowOf(i), id, score, secondary[i] ?? double.NegativeInfinity));
                    }
                }
                progress?.Report(new ProgressInfo("select: scores", g + 1, table.RowGroupCount, "row groups"));
            }
        }

        IEnumerable<Passed> ordered = options.Order switch
        {
            // Ties on the chosen score are broken by the other score, then by a seeded hash of the id (not the
            // id itself, which would favour the first shards), then by row.
            SelectOrder.Score => passed.OrderByDescending(p => p.Score).ThenByDescending(p => p.Secondary)
                                       .ThenBy(p => StableHash.Keyed(p.Id, options.Seed)).ThenBy(p => p.Row),
            SelectOrder.Random => passed.OrderBy(p => StableHash.Keyed(p.Id, options.Seed)).ThenBy(p => p.Row),
            _ => passed,
        };
        int room = options.Cap == 0 ? int.MaxValue : options.Cap - seed.Count;
        List<Passed> chosen = ordered.Take(room).ToList();
        stats.Add("over_cap", passed.Count - chosen.Count);

        // Pass 2: the text of the chosen rows.
        var slot = new Dictionary<long, int>(chosen.Count);
        for (int k = 0; k < chosen.Count; k++) slot[chosen[k].Row] = k;
        var augmented = new TrainingExample?[chosen.Count];
        await using (ParquetTableReader table = await ParquetTableReader.OpenAsync(scoredPath, cancellationToken))
        {
            var columns = ScoredColumns.Find(table, options.Field);
            for (int g = 0; g < table.RowGroupCount && slot.Count > 0; g++)
            {
                ParquetTableRowGroup rg = table.OpenRowGroup(g);
                if (!Enumerable.Range(0, rg.RowCount).Any(i => slot.ContainsKey(rg.RowOf(i)))) continue;
                string?[] instructions = await rg.ReadStringsAsync(columns.Instruction, cancellationToken);
                string?[] outputs = await rg.ReadStringsAsync(columns.Output, cancellationToken);
                for (int i = 0; i < rg.RowCount; i++)
                {
                    if (!slot.TryGetValue(rg.RowOf(i), out int k)) continue;
                    augmented[k] = new TrainingExample(chosen[k].Id, HumpbackTags.Augmented, instructions[i]!, outputs[i]!, HumpbackTags.AugmentedSource);
                }
            }
        }

        var rows = new List<TrainingExample>(seed.Count + chosen.Count);
        rows.AddRange(seed.Select(p => new TrainingExample(p.Id, HumpbackTags.Seed, p.Instruction, p.Output, HumpbackTags.SeedSource)));
        rows.AddRange(augmented.Select(a => a!));
        if (options.Mix == SeedMix.Shuffle)
            rows = rows.OrderBy(r => StableHash.Keyed(r.Id, options.Seed)).ThenBy(r => r.Id, StringComparer.Ordinal).ToList();
        stats.Add("seed_written", seed.Count);
        stats.Add("augmented_written", chosen.Count);
        return (rows, stats);
    }

    public static async Task<DataStats> RunAsync(string scoredPath, string? seedPairsPath, string output, SelectOptions options,
        IProgress<ProgressInfo>? progress = null, CancellationToken cancellationToken = default)
    {
        var (rows, stats) = await SelectAsync(scoredPath, seedPairsPath, options, progress, cancellationToken);
        stats.Add("rows_written", await TrainingSetFile.WriteAsync(output, rows, cancellationToken));
        stats.SetInfo("scored", scoredPath);
        if (seedPairsPath != null) stats.SetInfo("seed_pairs", seedPairsPath);
        stats.SetInfo("output", output);
        stats.SaveBeside(output);
        return stats;
    }

    private readonly record struct Passed(long Row, string Id, double Score, double Secondary);

    /// <summary>The columns of a scored candidates file, found by their accepted names.</summary>
    private sealed class ScoredColumns
    {
        public required DataField Id { get; init; }
        public required DataField Instruction { get; init; }
        public required DataField Output { get; init; }
        public DataField? Expected { get; init; }
        public DataField? Argmax { get; init; }
        public DataField[]? P { get; init; }

        public static ScoredColumns Find(ParquetTableReader table, ScoreField field)
        {
            DataField? expected = table.Optional("score_expected", ColumnKind.Real);
            DataField? argmax = table.Optional("score_argmax", ColumnKind.Integer);
            DataField[]? p = null;
            if ((field == ScoreField.Expected ? expected : argmax) == null)
            {
                string chosen = field == ScoreField.Expected ? "score_expected" : "score_argmax";
                if (Enumerable.Range(1, 5).Any(k => table.Optional($"p{k}", ColumnKind.Real) == null))
                    throw new InvalidDataException($"{table.Name}: column '{chosen}' missing, and no p1..p5 columns to compute it from");
                p = Enumerable.Range(1, 5).Select(k => table.Require($"p{k}", ColumnKind.Real)).ToArray();
            }
            return new ScoredColumns
            {
                Id = table.RequireAny(ColumnKind.String, "id", "segment_id"),
                Instruction = table.Require("instruction", ColumnKind.String),
                Output = table.RequireAny(ColumnKind.String, "output", "text"),
                Expected = expected,
                Argmax = argmax,
                P = p,
            };
        }

        /// <summary>The chosen score and the other one (for tie-breaks), per row.</summary>
        public async Task<(double?[] Primary, double?[] Secondary)> ScoresAsync(ParquetTableRowGroup rg, ScoreField field, CancellationToken ct)
        {
            double?[]? e = Expected == null ? null : await rg.ReadRealsAsync(Expected, ct);
            double?[]? a = Argmax == null ? null : (await rg.ReadIntegersAsync(Argmax, ct)).Select(v => (double?)v).ToArray();
            if (P != null)
            {
                var ps = new double?[5][];
                for (int k = 0; k < 5; k++) ps[k] = await rg.ReadRealsAsync(P[k], ct);
                e ??= Enumerable.Range(0, rg.RowCount).Select(i => FromProbabilities(ps, i, expected: true)).ToArray();
                a ??= Enumerable.Range(0, rg.RowCount).Select(i => FromProbabilities(ps, i, expected: false)).ToArray();
            }
            double?[] none = new double?[rg.RowCount];
            return field == ScoreField.Expected ? (e!, a ?? none) : (a!, e ?? none);
        }

        /// <summary>E[score] = Σ k·p_k / Σ p_k, or the k with the largest p_k (the lower k on a tie); null when any p is missing.</summary>
        private static double? FromProbabilities(double?[][] ps, int i, bool expected)
        {
            double sum = 0, weighted = 0, best = double.NegativeInfinity;
            int arg = 0;
            for (int k = 0; k < 5; k++)
            {
                if (ps[k][i] is not double v || double.IsNaN(v)) return null;
                sum += v;
                weighted += (k + 1) * v;
                if (v > best)
                {
                    best = v;
                    arg = k + 1;
                }
            }
            if (sum <= 0) return null;
            return expected ? weighted / sum : arg;
        }
    }
}
