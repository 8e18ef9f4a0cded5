using CommandLine;
using Humpback.Pipeline;

namespace Humpback.Cli.Verbs;

[Verb("reproduce", HelpText = "Run the whole self-alignment loop as resumable stages in a run folder (--preset mini runs on the built-in world in minutes on a CPU).")]
public sealed class ReproduceVerb : ICommand
{
    [Option("preset", HelpText = "mini (built-in world, CPU) | smoke (tiny, for tests) | nothumpback-m1 (Llama-3.2-3B, oasst1, C4, GPU).")]
    public string? Preset { get; set; }

    [Option("config", HelpText = "A config JSON (write one with --write-config, edit, pass it back).")]
    public string? Config { get; set; }

    [Option("run", HelpText = "Run folder (default: runs/<preset>). Re-running skips finished stages and resumes an interrupted one.")]
    public string? Run { get; set; }

    [Option("write-config", HelpText = "Write the preset's config to this file and exit.")]
    public string? WriteConfig { get; set; }

    [Option("base", HelpText = "Override base_model (an HF folder).")] public string? Base { get; set; }
    [Option("device", HelpText = "Override the training device (cpu, cuda, cuda:N).")] public string? Device { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken)
    {
        if (Preset == null && Config == null) Preset = "mini";
        if (Preset != null && Config != null) throw new UsageException("give --preset or --config, not both");
        ReproduceConfig c;
        try
        {
            c = Config != null ? ReproduceConfig.Load(Config) : ReproduceConfig.FromPreset(Preset!);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        if (Base != null) c = c with { BaseModel = Base };
        if (Device != null) c = c with { Device = Device };
        if (WriteConfig != null)
        {
            IO.AtomicFile.WriteAllText(WriteConfig, c.ToJson());
            Console.WriteLine($"wrote {WriteConfig}");
            return Task.FromResult(CliHost.ExitOk);
        }
        c.Validate(Config ?? $"preset {c.Preset}");
        string runDir = Run ?? Path.Combine("runs", c.Preset);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        RunFolder run = new Reproduce(c, new ConsoleProgress(), Console.Error).Run(runDir, cancellationToken);
        string report = run.PathOf(Evaluation.ReportFile);
        Console.WriteLine($"done in {clock.Elapsed.TotalMinutes:F1} min; report: {report}");
        if (File.Exists(report))
        {
            string text = File.ReadAllText(report);
            foreach (string section in new[] { "## Pairwise judge", "## The orderings" })
            {
                int i = text.IndexOf(section, StringComparison.Ordinal);
                if (i >= 0) Console.WriteLine(text[i..].Split("\n## ")[0]);
            }
        }
        return Task.FromResult(CliHost.ExitOk);
    }
}
