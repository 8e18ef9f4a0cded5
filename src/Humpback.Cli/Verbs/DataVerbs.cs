using Humpback.Data;

namespace Humpback.Cli.Verbs;

/// <summary>What the data verbs share: printing a step's stats, turning library argument errors into usage errors.</summary>
internal static class DataVerbs
{
    public static void Print(DataStats stats, string? output)
    {
        Console.Write(stats.ToText());
        if (output != null) Console.WriteLine($"stats saved to {DataStats.PathBeside(output)}");
    }

    /// <summary>Runs <paramref name="body"/>, reporting bad arguments and missing inputs as usage errors (exit 2).</summary>
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (FileNotFoundException e)
        {
            throw new UsageException(e.Message, e);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            throw new UsageException(e.Message, e);
        }
    }
}
