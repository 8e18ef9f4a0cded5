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
                object?[] values;
                if (t.Optional(f.Name, ColumnKind.String) is { } sf) values = await rg.ReadStringsAsync(sf, ct);
                else if (t.Optional(f.Name, ColumnKind.Integer) is { } inf) values = (await rg.ReadIntegersAsync(inf, ct)).Cast<object?>().ToArray();
                else if (t.Optional(f.Name, ColumnKind.Real) is { } rf) values = (await rg.ReadRealsAsync(rf, ct)).Cast<object?>().ToArray();
                else if (t.Optional(f.Name, ColumnKind.Boolean) is { } bf) values = (await rg.ReadBooleansAsync(bf, ct)).Cast<object?>().ToArray();
                else continue;
                cols.Add((f.Name, values));
            }
            for (int i = 0; i < rg.RowCount && printed < Head; i++, printed++)
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(cols.ToDictionary(c => c.Name, c => c.Values[i])));
        }
    }
}
