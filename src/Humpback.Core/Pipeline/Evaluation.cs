using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Humpback.Data;
using Humpback.Data.World;
using Humpback.Inference;
using Humpback.IO;
using Humpback.Prompts;
using Humpback.Training;

using InferenceChat = Humpback.Inference.ChatFormat;
using PromptFormat = Humpback.Prompts.ChatFormat;

namespace Humpback.Pipeline;

/// <summary>
/// `humpback eval` and the last stages of `reproduce`: held-out accuracy per skill (greedy answers through the same
/// LLamaSharp path as every other generation, checked by the world's checkers), curation precision/recall against
/// the hidden labels (the paper's Table 7), perplexity on held-out gold, the pairwise judge when one is configured, and
/// report.md with PNG charts.
/// </summary>
public static class Evaluation
{
    public const string EvalPrompts = "eval/prompts.parquet";
    public const string EvalGold = "eval/gold.jsonl";
    public const string ReportFile = "report.md";
    public const string ReportJson = "report.json";

    public static string Answers(string model) => $"eval/answers-{model}.parquet";
    public static string PerplexityOut(string model) => $"eval/perplexity-{model}.jsonl";
    public static string JudgeOut(JudgePair p) => $"eval/judge-{p.A}-vs-{p.B}.parquet";

    public static IEnumerable<IStage> Stages(ReproduceConfig c, IReadOnlyList<string> models, IProgress<ProgressInfo>? progress, TextWriter log)
    {
        string? evalSource = c.UsesWorld ? $"{Reproduce.WorldDir}/eval.jsonl" : c.HeldOut;
        if (evalSource == null)
        {
            yield return ReportStage(c, models, hasEval: false);
            yield break;
        }
        yield return new Stage("eval-sets", new { system = HumpbackPrompts.InferenceSystem }, [evalSource], [EvalPrompts, EvalGold], (r, _, ct) =>
        {
            var rows = TrainingData.Load(r.PathOf(evalSource), Objective.Sft);
            Directory.CreateDirectory(r.PathOf("eval"));
            PairsFile.WriteAsync(r.PathOf(EvalPrompts), rows.Select(x => new PairRecord(x.Id, x.Instruction, x.Output, "eval")), "eval-prompts/1", ct).GetAwaiter().GetResult();
            AtomicFile.WriteAllText(r.PathOf(EvalGold), string.Concat(rows.Select(x => JsonSerializer.Serialize(new
            {
                id = x.Id, system = HumpbackPrompts.InferenceSystem, instruction = x.Instruction, output = x.Output,
            }) + "\n")));
            return new() { ["questions"] = rows.Count };
        });
        foreach (string m in models)
        {
            yield return new Stage($"eval-answers-{m}", new { max_new_tokens = c.EvalMaxNewTokens, greedy = true }, [Reproduce.Gguf(m), EvalPrompts], [Answers(m)], (r, resume, ct) =>
            {
                var o = new GenerateJobOptions
                {
                    ModelPath = r.PathOf(Reproduce.Gguf(m)), InputPath = r.PathOf(EvalPrompts), OutputPath = r.PathOf(Answers(m)),
                    Template = "forward", System = HumpbackPrompts.InferenceSystem, KeepColumns = ["instruction"],
                    ChatFormat = c.ChatFormat == "plain" ? InferenceChat.Plain : InferenceChat.Llama3,
                    Generation = new GenerationSettings(Temperature: 0f, TopP: 1f, MaxNewTokens: c.EvalMaxNewTokens),
                    EndTokens = c.ChatFormat == "plain" ? [] : ["<|eot_id|>"],
                    Engine = new EngineOptions { ParallelSequences = 32, SequenceContext = 512 },
                    Overwrite = !resume,
                };
                return Reproduce.JobMetrics(GenerateJob.RunAsync(o, progress, ct).GetAwaiter().GetResult());
            });
            yield return new Stage($"eval-perplexity-{m}", new { max_seq_len = 1024 }, [Reproduce.ModelDir(m), EvalGold], [PerplexityOut(m)], (r, _, ct) =>
            {
                var (_, mean) = PerplexityEvaluator.Run(HfModelStore.Instance, new PerplexityOptions
                {
                    ModelDir = r.PathOf(Reproduce.ModelDir(m)), DataPath = r.PathOf(EvalGold), OutPath = r.PathOf(PerplexityOut(m)),
                    Format = PromptFormat.Parse(c.ChatFormat), MaxSeqLen = 1024, Device = c.Device, Threads = c.Threads,
                }, ct);
                return new() { ["mean_nll"] = mean, ["perplexity"] = Math.Exp(mean) };
            });
        }
        if (c.Judge.Model is string judge)
        {
            foreach (JudgePair p in c.JudgedPairs()) yield return JudgeStage(c, judge, p, progress);
        }
        yield return ReportStage(c, models, hasEval: true);
    }

    /// <summary>`humpback judge` on two models' eval answers: one resumable stage per pair.</summary>
    private static IStage JudgeStage(ReproduceConfig c, string judge, JudgePair p, IProgress<ProgressInfo>? progress)
    {
        string format = c.Judge.ChatFormat ?? c.ChatFormat;
        var config = new { judge = Path.GetFileName(judge), chat_format = format, tie_margin = c.Judge.TieMargin, ctx = c.Judge.ContextPerSequence, version = 1 };
        return new Stage($"eval-judge-{p.A}-vs-{p.B}", config, [Answers(p.A), Answers(p.B), judge], [JudgeOut(p)], (r, resume, ct) =>
        {
            var o = new JudgeJobOptions
            {
                ModelPath = r.PathOf(judge), AnswersA = r.PathOf(Answers(p.A)), AnswersB = r.PathOf(Answers(p.B)), OutputPath = r.PathOf(JudgeOut(p)),
                NameA = p.A, NameB = p.B, TieMargin = c.Judge.TieMargin,
                ChatFormat = format switch { "plain" => InferenceChat.Plain, "none" => InferenceChat.None, _ => InferenceChat.Llama3 },
                Engine = new EngineOptions { ParallelSequences = c.Judge.Parallel, SequenceContext = c.Judge.ContextPerSequence },
                Overwrite = !resume,
            };
            JudgeResult res = JudgeJob.RunAsync(o, progress, ct).GetAwaiter().GetResult();
            Dictionary<string, JsonNode?> m = Reproduce.JobMetrics(res.Statistics);
            m["judged"] = res.Summary.Judged;
            m["wins_a"] = res.Summary.WinsA;
            m["wins_b"] = res.Summary.WinsB;
            m["ties"] = res.Summary.Ties;
            m["win_rate_a"] = res.Summary.WinRateA;
            m["skipped"] = res.Summary.Skipped;
            return m;
        });
    }

    private static IStage ReportStage(ReproduceConfig c, IReadOnlyList<string> models, bool hasEval)
    {
        var inputs = new List<string> { Reproduce.Scored, Reproduce.Candidates };
        if (hasEval) inputs.AddRange(models.SelectMany(m => new[] { Answers(m), PerplexityOut(m) }));
        if (c.UsesWorld) inputs.Add($"{Reproduce.WorldDir}/c4-labels.jsonl");
        bool judged = hasEval && c.Judge.Model != null;
        if (judged) inputs.AddRange(c.JudgedPairs().Select(JudgeOut));
        object? judge = judged ? new { model = Path.GetFileName(c.Judge.Model), pairs = c.JudgedPairs().Select(p => p.ToString()) } : null;
        return new Stage("report", new { models, select = c.Select, judge, version = 1 }, inputs, [ReportFile, ReportJson], (r, _, _) =>
        {
            Report rep = Build(r, c, models, hasEval);
            rep.Write(r);
            return new()
            {
                ["m1_beats_m0_on_web_skills"] = rep.M1BeatsM0OnWeb, ["m1_beats_uncurated"] = rep.M1BeatsUncurated,
                ["precision_above_base_rate"] = rep.PrecisionAboveBase,
            };
        });
    }

    // ------------------------------------------------------------------ the report

    public sealed record SkillScore(string Model, string Skill, bool InSeed, int Correct, int Total)
    {
        public double Accuracy => Total == 0 ? 0 : (double)Correct / Total;
    }

    public sealed record CurationPoint(string Rule, int Selected, int SelectedGood, int Good, int All)
    {
        public double Precision => Selected == 0 ? 0 : (double)SelectedGood / Selected;
        public double Recall => Good == 0 ? 0 : (double)SelectedGood / Good;
        public double BaseRate => All == 0 ? 0 : (double)Good / All;
    }

    public sealed class Report
    {
        public List<SkillScore> Skills { get; } = [];
        public List<CurationPoint> Curation { get; } = [];
        public Dictionary<string, double> Perplexity { get; } = [];
        public int[] ScoreHistogram { get; } = new int[5];
        public Dictionary<string, (double[] Step, double[] Loss)> LossCurves { get; } = [];
        public List<(string Stage, double Seconds)> Timings { get; } = [];
        /// <summary>The judge's file name (null: no judge) and one summary per compared pair.</summary>
        public string? JudgeModel { get; set; }
        public List<JudgeSummary> Judge { get; } = [];
        public bool? M1BeatsM0OnWeb { get; set; }
        public bool? M1BeatsUncurated { get; set; }
        public bool? PrecisionAboveBase { get; set; }

        public double WebAccuracy(string model) => Mean(Skills.Where(s => s.Model == model && !s.InSeed));
        public double SeedAccuracy(string model) => Mean(Skills.Where(s => s.Model == model && s.InSeed));

        private static double Mean(IEnumerable<SkillScore> s)
        {
            var list = s.ToList();
            int total = list.Sum(x => x.Total);
            return total == 0 ? double.NaN : (double)list.Sum(x => x.Correct) / total;
        }

        public void Write(RunFolder r)
        {
            string F(double v) => double.IsNaN(v) ? "–" : v.ToString("F3", CultureInfo.InvariantCulture);
            var sb = new StringBuilder();
            sb.AppendLine($"# Humpback run report ({r.Manifest.Preset})").AppendLine();
            sb.AppendLine($"Run folder: `{r.Dir}`, written {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.").AppendLine();
            var models = Skills.Select(s => s.Model).Distinct().ToList();
            if (Skills.Count > 0)
            {
                sb.AppendLine("## Held-out accuracy per skill").AppendLine();
                sb.AppendLine("Greedy answers to held-out questions, checked by each skill's checker. *Web-only* skills are absent from the seed: a model can only learn them from the web corpus through self-augmentation and self-curation.").AppendLine();
                var skills = Skills.Select(s => (s.Skill, s.InSeed)).Distinct().ToList();
                sb.AppendLine("| skill | kind | " + string.Join(" | ", models) + " |");
                sb.AppendLine("|---|---|" + string.Concat(models.Select(_ => "---:|")));
                foreach (var (skill, inSeed) in skills)
                {
                    sb.Append($"| {skill} | {(inSeed ? "seed" : "web-only")} |");
                    foreach (string m in models)
                    {
                        SkillScore? x = Skills.FirstOrDefault(s => s.Model == m && s.Skill == skill);
                        sb.Append(x == null ? " – |" : $" {F(x.Accuracy)} ({x.Correct}/{x.Total}) |");
                    }
                    sb.AppendLine();
                }
                sb.Append("| **all seed skills** | |").AppendJoin("", models.Select(m => $" **{F(SeedAccuracy(m))}** |")).AppendLine();
                sb.Append("| **all web-only skills** | |").AppendJoin("", models.Select(m => $" **{F(WebAccuracy(m))}** |")).AppendLine().AppendLine();
                sb.AppendLine("![accuracy per skill](accuracy.png)").AppendLine();
            }
            if (Curation.Count > 0)
            {
                sb.AppendLine("## Self-curation against the hidden labels (paper, Table 7)").AppendLine();
                sb.AppendLine("| rule | selected | precision | recall | good share of all candidates |").AppendLine("|---|---:|---:|---:|---:|");
                foreach (CurationPoint p in Curation)
                    sb.AppendLine($"| {p.Rule} | {p.Selected} | {F(p.Precision)} | {F(p.Recall)} | {F(p.BaseRate)} |");
                sb.AppendLine().AppendLine("![score histogram](scores.png)").AppendLine();
            }
            if (Perplexity.Count > 0)
            {
                sb.AppendLine("## Perplexity on held-out gold answers").AppendLine();
                sb.AppendLine("| model | perplexity |").AppendLine("|---|---:|");
                foreach (var (m, p) in Perplexity) sb.AppendLine($"| {m} | {F(p)} |");
                sb.AppendLine();
            }
            if (JudgeModel != null)
            {
                sb.AppendLine("## Pairwise judge").AppendLine();
                string margin = Judge.FirstOrDefault()?.TieMargin.ToString("0.###", CultureInfo.InvariantCulture) ?? "–";
                sb.Append($"Judge: `{JudgeModel}` (the paper judged with GPT-4 and Claude). It reads a held-out question and two models' greedy ")
                  .Append("answers labelled A and B; its probabilities of \"A\" and \"B\" after \"The better response is:\" are read. ")
                  .Append("Every pair is judged in both orders: a model wins a question only when both orders prefer it and its mean preference ")
                  .Append($"is at least 0.5 + {margin}, otherwise it is a tie. Win rate = (wins + ties / 2) / judged, for the model of the first column; ")
                  .AppendLine("a first-position preference far from 0.5 means the judge favours a position, which the two orders cancel.").AppendLine();
                sb.AppendLine("| model | vs | judged | wins | ties | losses | win rate | orders disagree | first-position preference | skipped |");
                sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
                foreach (JudgeSummary j in Judge)
                    sb.AppendLine($"| {j.NameA} | {j.NameB} | {j.Judged} | {j.WinsA} | {j.Ties} | {j.WinsB} | {F(j.WinRateA ?? double.NaN)} | {j.OrdersDisagree} | {F(j.FirstPositionPreference ?? double.NaN)} | {j.Skipped} |");
                sb.AppendLine().AppendLine("![pairwise judge](judge.png)").AppendLine();
            }
            sb.AppendLine("## The orderings the method predicts").AppendLine();
            void Check(string what, bool? ok, string numbers) =>
                sb.AppendLine($"- {(ok == null ? "n/a" : ok.Value ? "**yes**" : "**no**")} — {what}: {numbers}");
            Check("M1 beats M0 on the web-only skills", M1BeatsM0OnWeb, $"M1 {F(WebAccuracy("m1"))} vs M0 {F(WebAccuracy("m0"))}");
            Check("M1 beats M1-uncurated (same number of augmented pairs, not curated)", M1BeatsUncurated, $"M1 {F(WebAccuracy("m1"))} vs M1-uncurated {F(WebAccuracy("m1-uncurated"))} on web-only skills");
            CurationPoint? a5 = Curation.FirstOrDefault();
            Check("curation precision is well above the share of good segments", PrecisionAboveBase, a5 == null ? "–" : $"precision {F(a5.Precision)} vs base rate {F(a5.BaseRate)}");
            sb.AppendLine();
            if (LossCurves.Count > 0) sb.AppendLine("## Training loss").AppendLine().AppendLine("![loss curves](loss.png)").AppendLine();
            if (Timings.Count > 0)
            {
                sb.AppendLine("## Stage timings").AppendLine().AppendLine("| stage | seconds |").AppendLine("|---|---:|");
                foreach (var (s, t) in Timings) sb.AppendLine($"| {s} | {t:F1} |");
                sb.AppendLine($"| **total** | **{Timings.Sum(t => t.Seconds):F1}** |");
            }
            AtomicFile.WriteAllText(r.PathOf(ReportFile), sb.ToString());

            if (Skills.Count > 0)
            {
                var skills = Skills.Select(s => s.Skill).Distinct().ToList();
                Charts.GroupedBars(r.PathOf("accuracy.png"), "Held-out accuracy per skill", "accuracy",
                    skills.Select(s => Skills.First(x => x.Skill == s).InSeed ? s : s + " (web)").ToList(),
                    models.Select(m => (m, skills.Select(s => Skills.FirstOrDefault(x => x.Model == m && x.Skill == s)?.Accuracy ?? 0).ToArray())).ToList());
            }
            if (ScoreHistogram.Sum() > 0)
                Charts.Histogram(r.PathOf("scores.png"), "Curation scores (argmax)", ["1", "2", "3", "4", "5"], ScoreHistogram.Select(x => (double)x).ToList());
            if (Judge.Count > 0)
            {
                static double Share(long n, long of) => of == 0 ? 0 : (double)n / of;
                Charts.GroupedBars(r.PathOf("judge.png"), $"Pairwise judge ({JudgeModel})", "share of judged questions",
                    Judge.Select(j => $"{j.NameA} vs {j.NameB}").ToList(),
                    [("wins", Judge.Select(j => Share(j.WinsA, j.Judged)).ToArray()),
                     ("ties", Judge.Select(j => Share(j.Ties, j.Judged)).ToArray()),
                     ("losses", Judge.Select(j => Share(j.WinsB, j.Judged)).ToArray())]);
            }
            if (LossCurves.Count > 0)
                Charts.Lines(r.PathOf("loss.png"), "Training loss", "step", "loss", LossCurves.Select(kv => (kv.Key, kv.Value.Step, kv.Value.Loss)).ToList(), logY: true);

            AtomicFile.WriteAllText(r.PathOf(ReportJson), JsonSerializer.Serialize(new
            {
                accuracy = Skills.Select(s => new { model = s.Model, skill = s.Skill, in_seed = s.InSeed, correct = s.Correct, total = s.Total, accuracy = s.Accuracy }),
                web_accuracy = models.ToDictionary(m => m, m => NaNToNull(WebAccuracy(m))),
                seed_accuracy = models.ToDictionary(m => m, m => NaNToNull(SeedAccuracy(m))),
                curation = Curation.Select(p => new { rule = p.Rule, selected = p.Selected, precision = p.Precision, recall = p.Recall, base_rate = p.BaseRate }),
                perplexity = Perplexity,
                score_histogram = ScoreHistogram,
                m1_beats_m0_on_web_skills = M1BeatsM0OnWeb,
                m1_beats_uncurated = M1BeatsUncurated,
                precision_above_base_rate = PrecisionAboveBase,
                judge = JudgeModel == null ? null : new
                {
                    model = JudgeModel,
                    pairs = Judge.Select(j => new
                    {
                        a = j.NameA, b = j.NameB, judged = j.Judged, wins_a = j.WinsA, ties = j.Ties, wins_b = j.WinsB, win_rate_a = j.WinRateA,
                        mean_preference_a = j.MeanPreferenceA, orders_disagree = j.OrdersDisagree, first_position_preference = j.FirstPositionPreference,
                        tie_margin = j.TieMargin, skipped = j.Skipped, only_in_a = j.OnlyInA, only_in_b = j.OnlyInB, missing_answer = j.MissingAnswer,
                        failed = j.Errors,
                    }),
                },
            }, new JsonSerializerOptions { WriteIndented = true }));
        }

        private static double? NaNToNull(double v) => double.IsNaN(v) ? null : v;
    }

    public static Report Build(RunFolder r, ReproduceConfig c, IReadOnlyList<string> models, bool hasEval)
    {
        var rep = new Report();
        if (hasEval && c.UsesWorld)
        {
            var gold = new Dictionary<string, (string Skill, bool InSeed, string Answer)>();
            foreach (string line in File.ReadLines(r.PathOf($"{Reproduce.WorldDir}/eval.jsonl")))
            {
                using var d = JsonDocument.Parse(line);
                JsonElement e = d.RootElement;
                gold[e.GetProperty("id").GetString()!] = (e.GetProperty("skill").GetString()!, e.GetProperty("in_seed").GetBoolean(), e.GetProperty("answer").GetString()!);
            }
            foreach (string m in models)
            {
                var rows = GenerationRows.Read(r.PathOf(Answers(m)));
                foreach (var g in rows.Where(x => gold.ContainsKey(x.Id)).GroupBy(x => gold[x.Id].Skill))
                {
                    int correct = g.Count(x => x.Generation != null && Skills.Check(x.Generation, gold[x.Id].Answer));
                    rep.Skills.Add(new SkillScore(m, g.Key, gold[g.First().Id].InSeed, correct, g.Count()));
                }
            }
        }
        if (hasEval)
        {
            foreach (string m in models)
            {
                double sum = 0;
                long n = 0;
                foreach (string line in File.ReadLines(r.PathOf(PerplexityOut(m))))
                {
                    using var d = JsonDocument.Parse(line);
                    if (d.RootElement.GetProperty("mean_nll").ValueKind != JsonValueKind.Number) continue;
                    int tokens = d.RootElement.GetProperty("tokens").GetInt32();
                    sum += d.RootElement.GetProperty("mean_nll").GetDouble() * tokens;
                    n += tokens;
                }
                if (n > 0) rep.Perplexity[m] = Math.Exp(sum / n);
            }
        }

        var scores = ScoreRows.Read(r.PathOf(Reproduce.Scored));
        foreach (var s in scores)
            if (s.Argmax is >= 1 and <= 5) rep.ScoreHistogram[s.Argmax.Value - 1]++;
        if (c.UsesWorld)
        {
            var urlOf = CandidatesFile.ReadAllAsync(r.PathOf(Reproduce.Candidates)).GetAwaiter().GetResult().ToDictionary(x => x.SegmentId, x => x.Url ?? "");
            var good = new HashSet<string>();
            foreach (string line in File.ReadLines(r.PathOf($"{Reproduce.WorldDir}/c4-labels.jsonl")))
            {
                using var d = JsonDocument.Parse(line);
                if (d.RootElement.GetProperty("label").GetString() == "good") good.Add(d.RootElement.GetProperty("url").GetString()!);
            }
            bool IsGood(ScoreRow s) => urlOf.TryGetValue(s.Id, out string? u) && good.Contains(u);
            int goodAll = scores.Count(IsGood);
            CurationPoint Point(string rule, Func<ScoreRow, bool> sel)
            {
                var chosen = scores.Where(sel).ToList();
                return new CurationPoint(rule, chosen.Count, chosen.Count(IsGood), goodAll, scores.Count);
            }
            rep.Curation.Add(c.Select.Field == "argmax"
                ? Point($"argmax ≥ {c.Select.MinScore.ToString(CultureInfo.InvariantCulture)} (selected)", s => s.Argmax >= c.Select.MinScore)
                : Point($"E[score] ≥ {c.Select.MinScore.ToString(CultureInfo.InvariantCulture)} (selected)", s => s.Expected >= c.Select.MinScore));
            rep.Curation.Add(Point("E[score] ≥ 4.5", s => s.Expected >= 4.5));
            rep.Curation.Add(Point("argmax = 5 (A5)", s => s.Argmax == 5));
            rep.Curation.Add(Point("argmax ≥ 4 (A4)", s => s.Argmax >= 4));
            CurationPoint a5 = rep.Curation[0];
            // "Well above": at least 0.2 (absolute) over the share of good segments among all scored ones.
            rep.PrecisionAboveBase = a5.Selected > 0 && a5.Precision >= a5.BaseRate + 0.2;
        }
        if (rep.Skills.Count > 0)
        {
            rep.M1BeatsM0OnWeb = rep.WebAccuracy("m1") > rep.WebAccuracy("m0");
            if (models.Contains("m1-uncurated")) rep.M1BeatsUncurated = rep.WebAccuracy("m1") > rep.WebAccuracy("m1-uncurated");
        }
        if (hasEval && c.Judge.Model is string judge)
        {
            rep.JudgeModel = Path.GetFileName(judge);
            foreach (JudgePair p in c.JudgedPairs())
                rep.Judge.Add(JudgeVerdicts.SummarizeFileAsync(r.PathOf(JudgeOut(p))).GetAwaiter().GetResult());
        }
        foreach (string name in new[] { "pretrain" }.Concat(models).Append("myx"))
        {
            string dir = name == "pretrain" ? Reproduce.BaseDir : Reproduce.ModelDir(name);
            string metrics = r.PathOf(Path.Combine(dir, Trainer.MetricsFile));
            if (!File.Exists(metrics)) continue;
            var pts = File.ReadLines(metrics).Select(l => JsonDocument.Parse(l).RootElement).Select(e => (e.GetProperty("step").GetDouble(), e.GetProperty("loss").GetDouble())).ToList();
            rep.LossCurves[name] = (pts.Select(p => p.Item1).ToArray(), pts.Select(p => p.Item2).ToArray());
        }
        foreach (var (name, rec) in r.Manifest.Stages) rep.Timings.Add((name, rec.Seconds));
        return rep;
    }

    internal sealed record ScoreRow(string Id, double? Expected, int? Argmax);

    internal static class ScoreRows
    {
        public static List<ScoreRow> Read(string path) => ReadAsync(path).GetAwaiter().GetResult();

        private static async Task<List<ScoreRow>> ReadAsync(string path)
        {
            var list = new List<ScoreRow>();
            await using ParquetTableReader t = await ParquetTableReader.OpenAsync(path);
            var id = t.Require("id", ColumnKind.String);
            var ex = t.Optional("score_expected", ColumnKind.Real);
            var am = t.Optional("score_argmax", ColumnKind.Integer) ?? t.Optional("score", ColumnKind.Integer);
            for (int g = 0; g < t.RowGroupCount; g++)
            {
                ParquetTableRowGroup rg = t.OpenRowGroup(g);
                string?[] ids = await rg.ReadStringsAsync(id);
                double?[]? e = ex == null ? null : await rg.ReadRealsAsync(ex);
                long?[]? a = am == null ? null : await rg.ReadIntegersAsync(am);
                for (int i = 0; i < rg.RowCount; i++)
                    list.Add(new ScoreRow(ids[i] ?? "", e?[i] ?? (a?[i] is long v ? v : null), a?[i] is long w ? (int)w : null));
            }
            return list;
        }
    }
}
