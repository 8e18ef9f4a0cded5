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
    private static ReproduceConfig Smoke => ReproduceConfig.Smoke with { Threads = 1 };

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
        foreach (string stage in new[] { "world", "pretrain", "train-myx", "augment", "train-m0", "curate", "select", "train-m1", "train-m1-uncurated", "report" })
            Assert.Contains(stage, first.Manifest.Stages.Keys);
        string report = File.ReadAllText(Path.Combine(run, "report.json"));
        using (var doc = JsonDocument.Parse(report))
        {
            Assert.True(doc.RootElement.GetProperty("accuracy").GetArrayLength() > 0);
            Assert.True(doc.RootElement.GetProperty("curation").GetArrayLength() > 0);
        }

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
    }
}
