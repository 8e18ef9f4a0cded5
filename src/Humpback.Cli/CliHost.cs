using System.Reflection;
using CommandLine;
using CommandLine.Text;
using Humpback.Native;

namespace Humpback.Cli;

/// <summary>A verb: options bound by CommandLineParser, then run.</summary>
public interface ICommand
{
    Task<int> RunAsync(CancellationToken cancellationToken);
}

/// <summary>Thrown for a bad argument or input that the user can fix; printed without a stack trace, exit 2.</summary>
public sealed class UsageException : Exception
{
    public UsageException() { }
    public UsageException(string message) : base(message) { }
    public UsageException(string message, Exception inner) : base(message, inner) { }
}

public static class CliHost
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;
    public const int ExitCancelled = 130;

    /// <summary>Parses <paramref name="args"/> against every [Verb] type of <paramref name="assembly"/> and runs it.</summary>
    public static async Task<int> RunAsync(string[] args, Assembly assembly, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        Type[] verbs = assembly.GetTypes()
            .Where(t => t.GetCustomAttribute<VerbAttribute>() != null && typeof(ICommand).IsAssignableFrom(t) && !t.IsAbstract)
            .OrderBy(t => t.GetCustomAttribute<VerbAttribute>()!.Name, StringComparer.Ordinal)
            .ToArray();

        args = JoinVerbGroup(args, verbs);
        if (TryGroupHelp(args, verbs, stdout, stderr) is int groupCode) return groupCode;

        using var parser = new Parser(s =>
        {
            s.HelpWriter = null;
            s.CaseInsensitiveEnumValues = true;
            s.AutoVersion = true;
        });
        ParserResult<object> result = parser.ParseArguments(args, verbs);
        if (result is NotParsed<object> notParsed)
        {
            bool helpRequested = notParsed.Errors.Any(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.HelpVerbRequestedError or ErrorType.VersionRequestedError);
            var help = HelpText.AutoBuild(result, h =>
            {
                h.Heading = "humpback — instruction backtranslation (Humpback) engine";
                h.Copyright = "";
                h.AddDashesToOption = true;
                h.MaximumDisplayWidth = 110;
                return HelpText.DefaultParsingErrorsHandler(result, h);
            }, e => e, verbsIndex: true);
            (helpRequested ? stdout : stderr).WriteLine(help);
            return helpRequested ? ExitOk : ExitUsage;
        }

        var command = (ICommand)((Parsed<object>)result).Value;
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
            stderr.WriteLine("humpback: cancelling (finished work is kept; re-run to resume)...");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return await command.RunAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("humpback: cancelled");
            return ExitCancelled;
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"humpback: {e.Message}");
            return ExitUsage;
        }
        catch (NativeLibraryMissingException e)
        {
            stderr.WriteLine($"humpback: {e.Message}");
            return ExitFailure;
        }
        catch (Exception e) when (e is HumpbackNativeException or InvalidDataException or IOException or FormatException
                                      or ArgumentException or InvalidOperationException or NotSupportedException
                                      or UnauthorizedAccessException or InsufficientMemoryException)
        {
            stderr.WriteLine($"humpback: error: {e.Message}");
            if (Environment.GetEnvironmentVariable("HUMPBACK_DEBUG") == "1") stderr.WriteLine(e);
            return ExitFailure;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Verbs named with two words ("data seed") are typed as two arguments: join them into the one
    /// token that CommandLineParser matches against verb names.</summary>
    internal static string[] JoinVerbGroup(string[] args, Type[] verbs)
    {
        if (args.Length < 2) return args;
        string joined = args[0] + " " + args[1];
        return verbs.Any(v => v.GetCustomAttribute<VerbAttribute>()!.Name == joined) ? [joined, .. args[2..]] : args;
    }

    /// <summary>"humpback data" (or "data --help") lists the group's verbs (exit 0); "humpback data nope" is a usage error.</summary>
    private static int? TryGroupHelp(string[] args, Type[] verbs, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0) return null;
        var group = verbs.Select(v => v.GetCustomAttribute<VerbAttribute>()!)
                         .Where(v => v.Name.StartsWith(args[0] + " ", StringComparison.Ordinal)).ToList();
        if (group.Count == 0) return null;
        bool help = args.Length == 1 || args[1] is "--help" or "-h" or "help";
        TextWriter w = help ? stdout : stderr;
        if (!help) w.WriteLine($"humpback: unknown verb '{args[0]} {args[1]}'");
        w.WriteLine($"usage: humpback {args[0]} <verb> [options]   (humpback {args[0]} <verb> --help for the options)");
        int width = group.Max(v => v.Name.Length);
        foreach (VerbAttribute v in group) w.WriteLine($"  {v.Name.PadRight(width)}  {v.HelpText}");
        return help ? ExitOk : ExitUsage;
    }
}
