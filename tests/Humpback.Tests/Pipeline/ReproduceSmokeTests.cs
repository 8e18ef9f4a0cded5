using System.Text.Json;
using Humpback.Pipeline;
using Humpback.Tests.Formats;
using Xunit;
using Xunit.Abstractions;

namespace Humpback.Tests.Pipeline;

/// <summary>The smoke variant of the mini run: the whole loop end to end on a tiny world, then the re-run rules.</summary>
[Collection("llama.cpp")]
public class ReproduceSmokeTests(ITestOutputHelper output)
{
    // The run's own seed model as the pairwise judge: it exercises the judge stages and the report's section (a
    // random-ish judge, so the numbers mean nothing; the shape and the bookkeeping are what is checked).
    private static ReproduceConfig Smoke => ReproduceConfig.Smoke with
    {
        Threads = 1, Judge = ReproduceConfig.Smoke.Judge with { Model = Reproduce.Gguf("m0") },
    };

    [Fact]
    public void SmokeRunProducesTheReportAndReRunsSkipOrRepeatExactly()
    {
        using var dir = new TempDir();
        string run = dir["run"];
        var log = new StringWriter();
        RunFolder first = new Reproduce(Smoke, log: log).Run(run);
        output.WriteLine(log.ToString());

        Assert.True(File.Exists(Path.Combine(run, "report.md")));
        Assert.True(File.Exists(Path.Combine(run, "accuracy.png")));
        Assert.All(first.Manifest.Stages.Values, s => Assert.Equal("done", s.Status));
        foreach (string stage in new[] { "world", "pretrain", "train-myx", "augment", "train-m0", "curate", "select", "train-m1", "train-m1-uncurated",
                                         "eval-judge-m1-vs-m0", "eval-judge-m1-vs-m1-uncurated", "report" })
            Assert.Contains(stage, first.Manifest.Stages.Keys);
        string report = File.ReadAllText(Path.Combine(run, "report.json"));
        int questions = File.ReadLines(Path.Combine(run, Evaluation.EvalGold)).Count();
        using (var doc = JsonDocument.Parse(report))
        {
            Assert.True(doc.RootElement.GetProperty("accuracy").GetArrayLength() > 0);
            Assert.True(doc.RootElement.GetProperty("curation").GetArrayLength() > 0);
            JsonElement judge = doc.RootElement.GetProperty("judge");
            Assert.Equal("m0.gguf", judge.GetProperty("model").GetString());
            var pairs = judge.GetProperty("pairs").EnumerateArray().ToList();
            Assert.Equal(["m1 vs m0", "m1 vs m1-uncurated"], pairs.Select(p => $"{p.GetProperty("a").GetString()} vs {p.GetProperty("b").GetString()}"));
            foreach (JsonElement p in pairs)
            {
                long judged = p.GetProperty("judged").GetInt64();
                Assert.Equal(questions, judged + p.GetProperty("skipped").GetInt64());
                Assert.True(judged > 0, "the smoke run's answers should be judged");
                Assert.Equal(judged, p.GetProperty("wins_a").GetInt64() + p.GetProperty("ties").GetInt64() + p.GetProperty("wins_b").GetInt64());
                Assert.InRange(p.GetProperty("win_rate_a").GetDouble(), 0.0, 1.0);
            }
        }
        string md = File.ReadAllText(Path.Combine(run, "report.md"));
        Assert.Contains("## Pairwise judge", md, StringComparison.Ordinal);
        Assert.Contains("| m1 | m1-uncurated |", md, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(run, "judge.png")));
        Assert.True(File.Exists(Path.Combine(run, "eval", "judge-m1-vs-m0.summary.json")));
        Assert.Empty(Directory.GetFiles(Path.Combine(run, "eval"), "judge-pairs-*"));

        // Re-running a finished run skips every stage.
        var log2 = new StringWriter();
        new Reproduce(Smoke, log: log2).Run(run);
        Assert.DoesNotContain("] running", log2.ToString(), StringComparison.Ordinal);

        // Losing a stage's output (a crash mid-stage) re-runs that stage; it reproduces the same bytes, so the stages
        // after it are still up to date and the final results are unchanged.
        string scoredBefore = RunFolder.HashPath(Path.Combine(run, Reproduce.Scored));
        Directory.Delete(Path.Combine(run, Reproduce.ModelDir("m0")), recursive: true);
        var log3 = new StringWriter();
        RunFolder third = new Reproduce(Smoke, log: log3).Run(run);
        output.WriteLine(log3.ToString());
        Assert.Contains("[train-m0] running", log3.ToString(), StringComparison.Ordinal);
        Assert.Contains("[curate] up to date", log3.ToString(), StringComparison.Ordinal);
        Assert.Equal(scoredBefore, RunFolder.HashPath(Path.Combine(run, Reproduce.Scored)));
        Assert.Equal(report, File.ReadAllText(Path.Combine(run, "report.json")));

        // Changing a stage's config re-runs it and everything after it.
        var changed = Smoke with { Select = Smoke.Select with { MinScore = 4 } };
        var log4 = new StringWriter();
        new Reproduce(changed, log: log4).Run(run);
        Assert.Contains("[select] running", log4.ToString(), StringComparison.Ordinal);
        Assert.Contains("[train-m0] up to date", log4.ToString(), StringComparison.Ordinal);
        Assert.Contains("[report] running", log4.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void PresetsRoundTripThroughJsonAndBadConfigsNameTheField()
    {
        using var dir = new TempDir();
        foreach (string preset in new[] { "mini", "smoke", "nothumpback-m1" })
        {
            ReproduceConfig c = ReproduceConfig.FromPreset(preset);
            File.WriteAllText(dir["c.json"], c.ToJson());
            Assert.Equal(c.ToJson(), ReproduceConfig.Load(dir["c.json"]).ToJson());
        }
        File.WriteAllText(dir["bad.json"], "{\"preset\": \"x\", \"no_such_field\": 1}");
        var e = Assert.Throws<InvalidDataException>(() => ReproduceConfig.Load(dir["bad.json"]));
        Assert.Contains("no_such_field", e.Message, StringComparison.Ordinal);
        var e2 = Assert.Throws<InvalidDataException>(() => (ReproduceConfig.Mini with { ExportType = "q3" }).Validate("cfg"));
        Assert.Contains("export_type", e2.Message, StringComparison.Ordinal);

        // The judge: off by default, written out as "model": null so a user sees where to point it.
        Assert.Null(ReproduceConfig.NotHumpbackM1.Judge.Model);
        Assert.Contains("\"model\": null", ReproduceConfig.NotHumpbackM1.ToJson(), StringComparison.Ordinal);
        File.WriteAllText(dir["j.json"], "{\"preset\": \"x\", \"judge\": {\"model\": \"/j.gguf\", \"pairs\": [{\"a\": \"m2\", \"b\": \"m0\"}]}}");
        ReproduceConfig withPairs = ReproduceConfig.Load(dir["j.json"]);
        Assert.Equal([new JudgePair("m2", "m0")], withPairs.Judge.Pairs);
        var e3 = Assert.Throws<InvalidDataException>(() => (ReproduceConfig.Mini with { Judge = withPairs.Judge }).Validate("cfg"));
        Assert.Contains("judge.pairs", e3.Message, StringComparison.Ordinal);
        Assert.Contains("'m2'", e3.Message, StringComparison.Ordinal);
        Assert.Equal([new JudgePair("m1", "m0"), new JudgePair("m1", "m1-uncurated")], ReproduceConfig.Mini.JudgedPairs());
        Assert.Equal([new JudgePair("m1", "m0"), new JudgePair("m2", "m1")], (ReproduceConfig.Mini with { Ablations = false, M2 = true }).JudgedPairs());
        var e4 = Assert.Throws<InvalidDataException>(() => (ReproduceConfig.NotHumpbackM1 with { Judge = new JudgeConfig { Model = "/j.gguf" } }).Validate("cfg"));
        Assert.Contains("held_out", e4.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AJudgeAddsOneStagePerPairAndMustExistOrBeMadeByTheRun()
    {
        using var dir = new TempDir();
        var run = new RunFolder(dir["run"], "smoke");
        static List<string> Names(ReproduceConfig c, RunFolder r) => new Reproduce(c).Plan(r).Select(s => s.Name).ToList();

        Assert.DoesNotContain(Names(Smoke with { Judge = new JudgeConfig() }, run), n => n.StartsWith("eval-judge", StringComparison.Ordinal));
        var stages = new Reproduce(Smoke).Plan(run);
        IStage judge = stages.Single(s => s.Name == "eval-judge-m1-vs-m0");
        Assert.Equal([Evaluation.Answers("m1"), Evaluation.Answers("m0"), Reproduce.Gguf("m0")], judge.Inputs);
        Assert.Equal(["eval/judge-m1-vs-m0.parquet"], judge.Outputs);
        Assert.True(stages.ToList().FindIndex(s => s.Name == "eval-judge-m1-vs-m1-uncurated") < stages.ToList().FindIndex(s => s.Name == "report"));

        var missing = Assert.Throws<FileNotFoundException>(() => new Reproduce(Smoke with { Judge = Smoke.Judge with { Model = "models/judge.gguf" } }).Plan(run));
        Assert.Contains("judge.model", missing.Message, StringComparison.Ordinal);
        Assert.Contains("judge.gguf", missing.Message, StringComparison.Ordinal);
        File.WriteAllText(dir["judge.gguf"], "not read while planning");
        Assert.Contains("eval-judge-m1-vs-m0", Names(Smoke with { Judge = Smoke.Judge with { Model = dir["judge.gguf"] } }, run));
    }
}
