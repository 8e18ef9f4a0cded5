using CommandLine;
using Humpback.Data.World;

namespace Humpback.Cli.Verbs;

[Verb("world", HelpText = "Write the built-in world (pre-training text, oasst1-layout seed, C4-layout web corpus with hidden labels, eval set).")]
public sealed class WorldVerb : ICommand
{
    [Option("out", Required = true, HelpText = "Folder to write the world into.")] public string Out { get; set; } = "";
    [Option("size", Default = "mini", HelpText = "mini | smoke.")] public string Size { get; set; } = "mini";
    [Option("seed", Default = 1234)] public int Seed { get; set; } = 1234;

    public Task<int> RunAsync(CancellationToken cancellationToken)
    {
        WorldSize size = Size.ToLowerInvariant() switch
        {
            "mini" => WorldSize.Mini,
            "smoke" => WorldSize.Smoke,
            _ => throw new UsageException($"--size must be mini or smoke (got '{Size}')"),
        };
        WorldFiles f = WorldGenerator.Generate(Out, Seed, size);
        Console.WriteLine($"world written to {f.Dir}: {Path.GetFileName(f.Pretrain)}, oasst1/, c4/, {Path.GetFileName(f.Labels)}, {Path.GetFileName(f.Eval)}");
        return Task.FromResult(CliHost.ExitOk);
    }
}
