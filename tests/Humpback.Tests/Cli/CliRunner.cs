using Humpback.Cli;

namespace Humpback.Tests.Cli;

/// <summary>Runs the `humpback` CLI in-process with stdout and stderr captured (tests that use it belong to a
/// collection that does not run them in parallel with other Console-redirecting tests).</summary>
internal static class CliRunner
{
    public static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        TextWriter oldOut = Console.Out, oldErr = Console.Error;
        Console.SetOut(o);
        Console.SetError(e);
        try
        {
            int code = await CliHost.RunAsync(args, typeof(CliHost).Assembly, o, e);
            return (code, o.ToString(), e.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }
}
