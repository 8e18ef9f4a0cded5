using CommandLine;
using Humpback.Engine;

namespace Humpback.Cli.Verbs;

[Verb("doctor", HelpText = "Check the installation: .NET, native library (ABI, BLAS, CPU features), CUDA devices, LLamaSharp.")]
public sealed class DoctorVerb : ICommand
{
    [Option("json", HelpText = "Print the report as JSON.")]
    public bool Json { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken)
    {
        SystemReport report = SystemReport.Collect();
        Console.WriteLine(Json ? report.ToJson() : report.ToText());
        return Task.FromResult(report.RequiredPartsOk ? CliHost.ExitOk : CliHost.ExitFailure);
    }
}
