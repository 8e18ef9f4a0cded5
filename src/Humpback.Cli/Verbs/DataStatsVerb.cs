using CommandLine;
using Humpback.Data;

namespace Humpback.Cli.Verbs;

[Verb("data stats", HelpText = "Row count, schema and column summaries (string length percentiles, numeric ranges) of a Parquet file.")]
public sealed class DataStatsVerb : ICommand
{
    [Value(0, Required = true, MetaName = "parquet", HelpText = "The Parquet file.")]
    public string Path { get; set; } = "";

    [Option("json", HelpText = "Print JSON.")]
    public bool Json { get; set; }

    [Option("head", Default = 0, HelpText = "Also print the first N rows as JSON lines.")]
    public int Head { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken) => DataVerbs.RunAsync(async () =>
    {
        SetSummary summary = await SetStats.ComputeAsync(Path, cancellationToken);
        Console.Write(Json ? summary.ToJson() : summary.ToText());
        if (Head > 0) await PrintHeadAsync(cancellationToken);
        return CliHost.ExitOk;
    });

    private async Task PrintHeadAsync(CancellationToken ct)
    {
        await using ParquetTableReader t = await ParquetTableReader.OpenAsync(Path, ct);
        var fields = t.Schema.GetDataFields();
        int printed = 0;
        for (int g = 0; g < t.RowGroupCount && printed < Head; g++)
        {
            ParquetTableRowGroup rg = t.OpenRowGroup(g);
            var cols = new List<(string Name, object?[] Values)>();
            foreach (var f in fields)
            {
                Type clr = Nullable.GetUnderlyingType(f.ClrType) ?? f.ClrType;
                object?[] values;
                if (clr == typeof(string) || clr == typeof(ReadOnlyMemory<char>) || clr == typeof(byte[])) values = await rg.ReadStringsAsync(f, ct);
                else if (clr == typeof(long) || clr == typeof(int) || clr == typeof(short)) values = (await rg.ReadIntegersAsync(f, ct)).Cast<object?>().ToArray();
                else if (clr == typeof(double) || clr == typeof(float)) values = (await rg.ReadRealsAsync(f, ct)).Cast<object?>().ToArray();
                else if (clr == typeof(bool)) values = (await rg.ReadBooleansAsync(f, ct)).Cast<object?>().ToArray();
                else continue;
                cols.Add((f.Name, values));
            }
            for (int i = 0; i < rg.RowCount && printed < Head; i++, printed++)
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(cols.ToDictionary(c => c.Name, c => c.Values[i])));
        }
    }
}
