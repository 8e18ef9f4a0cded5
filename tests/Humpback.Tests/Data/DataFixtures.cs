using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Parquet;
using Parquet.Schema;

namespace Humpback.Tests.Data;

/// <summary>A temporary folder removed at dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "hb-data-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }
    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>An oasst1 message with every column of the published files (a few of which we ignore).</summary>
public sealed record OasstRow(
    string MessageId, string? ParentId, string TreeId, string Role, string Lang, string Text,
    int? Rank = null, bool Deleted = false, bool? ReviewResult = true)
{
    public string UserId => "user-" + MessageId;
    public string CreatedDate => "2023-02-05T14:23:50.983374+00:00";
    public int ReviewCount => 3;
    public bool Synthetic => false;
    public string? ModelName => null;
    public double Toxicity => 0.0012;
}

public static class OasstFixtures
{
    /// <summary>Ten trees covering every rule; the seed pairs are exactly T1, T7 and T10 (reply a10a).</summary>
    public static List<OasstRow> Trees() =>
    [
        // T1: the good case, with a rank-1 sibling and a second turn that must not be taken.
        new("p1", null, "T1", "prompter", "en", "What is the capital of France?"),
        new("a1", "p1", "T1", "assistant", "en", "The capital of France is Paris.", Rank: 0),
        new("a1b", "p1", "T1", "assistant", "en", "Paris, I think.", Rank: 1),
        new("p1c", "a1", "T1", "prompter", "en", "And of Spain?"),
        new("a1d", "p1c", "T1", "assistant", "en", "Madrid.", Rank: 0),
        // T2: German root.
        new("p2", null, "T2", "prompter", "de", "Was ist die Hauptstadt von Frankreich?"),
        new("a2", "p2", "T2", "assistant", "de", "Paris.", Rank: 0),
        // T3: rank-0 reply deleted, the other has rank 1.
        new("p3", null, "T3", "prompter", "en", "Name a prime number."),
        new("a3", "p3", "T3", "assistant", "en", "Seven.", Rank: 0, Deleted: true),
        new("a3b", "p3", "T3", "assistant", "en", "Nine.", Rank: 1),
        // T4: deleted root.
        new("p4", null, "T4", "prompter", "en", "Deleted question", Deleted: true),
        new("a4", "p4", "T4", "assistant", "en", "Answer to a deleted question.", Rank: 0),
        // T5: rank-0 reply rejected by review; an unranked reply.
        new("p5", null, "T5", "prompter", "en", "Tell me a joke."),
        new("a5", "p5", "T5", "assistant", "en", "A rejected joke.", Rank: 0, ReviewResult: false),
        new("a5b", "p5", "T5", "assistant", "en", "An unranked joke.", Rank: null),
        // T6: root rejected by review.
        new("p6", null, "T6", "prompter", "en", "Spam spam spam", ReviewResult: false),
        new("a6", "p6", "T6", "assistant", "en", "Reply to spam.", Rank: 0),
        // T7: unreviewed root (review_result null) is fine.
        new("p7", null, "T7", "prompter", "en", "How do I boil an egg?", ReviewResult: null),
        new("a7", "p7", "T7", "assistant", "en", "Put it in boiling water for nine minutes.", Rank: 0),
        // T8: the rank-0 reply is in Spanish.
        new("p8", null, "T8", "prompter", "en", "Say hello."),
        new("a8", "p8", "T8", "assistant", "es", "Hola.", Rank: 0),
        // T9: no replies at all.
        new("p9", null, "T9", "prompter", "en", "Is anyone there?"),
        // T10: two rank-0 replies: the smaller message_id ("a10a") wins.
        new("p10", null, "T10", "prompter", "en", "Write a haiku about rain."),
        new("a10b", "p10", "T10", "assistant", "en", "Second haiku.", Rank: 0),
        new("a10a", "p10", "T10", "assistant", "en", "Rain on the tin roof.", Rank: 0),
    ];

    /// <summary>Writes rows as the published oasst1 Parquet does (same names and types, plus extra columns
    /// including a nested struct, all of which the reader must ignore). <paramref name="skip"/> drops a column,
    /// <paramref name="rankAsString"/> writes rank with the wrong type.</summary>
    public static async Task WriteParquetAsync(string path, IReadOnlyList<OasstRow> rows, string? skip = null, bool rankAsString = false, int rowGroupSize = 7)
    {
        var fields = new List<Field>
        {
            new DataField<string>("message_id"), new DataField<string>("parent_id"), new DataField<string>("user_id"),
            new DataField<string>("created_date"), new DataField<string>("text"), new DataField<string>("role"),
            new DataField<string>("lang"), new DataField<int>("review_count"), new DataField<bool?>("review_result"),
            new DataField<bool>("deleted"), rankAsString ? new DataField<string>("rank") : new DataField<int?>("rank"),
            new DataField<bool>("synthetic"), new DataField<string>("model_name"),
            new StructField("detoxify", new DataField<double?>("toxicity"), new DataField<double?>("insult")),
            new DataField<string>("message_tree_id"), new DataField<string>("tree_state"),
        };
        fields.RemoveAll(f => f.Name == skip);
        var schema = new ParquetSchema(fields);
        await using var fs = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(schema, fs);
        foreach (OasstRow[] chunk in rows.Chunk(rowGroupSize))
        {
            using ParquetRowGroupWriter rg = writer.CreateRowGroup();
            foreach (DataField f in schema.DataFields)
            {
                switch (f.Name)
                {
                    case "message_id": await rg.WriteAsync(f, chunk.Select(r => r.MessageId).ToArray()); break;
                    case "parent_id": await rg.WriteAsync(f, chunk.Select(r => r.ParentId!).ToArray()); break;
                    case "user_id": await rg.WriteAsync(f, chunk.Select(r => r.UserId).ToArray()); break;
                    case "created_date": await rg.WriteAsync(f, chunk.Select(r => r.CreatedDate).ToArray()); break;
                    case "text": await rg.WriteAsync(f, chunk.Select(r => r.Text).ToArray()); break;
                    case "role": await rg.WriteAsync(f, chunk.Select(r => r.Role).ToArray()); break;
                    case "lang": await rg.WriteAsync(f, chunk.Select(r => r.Lang).ToArray()); break;
                    case "review_count": await rg.WriteAsync<int>(f, chunk.Select(r => r.ReviewCount).ToArray().AsMemory()); break;
                    case "review_result": await rg.WriteAsync<bool>(f, chunk.Select(r => r.ReviewResult).ToArray().AsMemory()); break;
                    case "deleted": await rg.WriteAsync<bool>(f, chunk.Select(r => r.Deleted).ToArray().AsMemory()); break;
                    case "rank" when rankAsString: await rg.WriteAsync(f, chunk.Select(r => r.Rank?.ToString()!).ToArray()); break;
                    case "rank": await rg.WriteAsync<int>(f, chunk.Select(r => r.Rank).ToArray().AsMemory()); break;
                    case "synthetic": await rg.WriteAsync<bool>(f, chunk.Select(r => r.Synthetic).ToArray().AsMemory()); break;
                    case "model_name": await rg.WriteAsync(f, chunk.Select(r => r.ModelName!).ToArray()); break;
                    case "toxicity": await rg.WriteAsync<double>(f, chunk.Select(r => (double?)r.Toxicity).ToArray().AsMemory()); break;
                    case "insult": await rg.WriteAsync<double>(f, chunk.Select(_ => (double?)null).ToArray().AsMemory()); break;
                    case "message_tree_id": await rg.WriteAsync(f, chunk.Select(r => r.TreeId).ToArray()); break;
                    case "tree_state": await rg.WriteAsync(f, chunk.Select(_ => "ready_for_export").ToArray()); break;
                    default: throw new InvalidOperationException(f.Name);
                }
            }
        }
    }

    /// <summary>The trees JSON lines layout (2023-04-12_oasst_ready.trees.jsonl.gz): one tree per line.</summary>
    public static string TreeLines(IReadOnlyList<OasstRow> rows)
    {
        var sb = new StringBuilder();
        foreach (var tree in rows.GroupBy(r => r.TreeId))
        {
            OasstRow root = tree.Single(r => r.ParentId == null);
            var obj = new Dictionary<string, object?>
            {
                ["message_tree_id"] = tree.Key,
                ["tree_state"] = "ready_for_export",
                ["prompt"] = ToJsonTree(root, tree.ToList()),
            };
            sb.Append(JsonSerializer.Serialize(obj)).Append('\n');
        }
        return sb.ToString();
    }

    private static Dictionary<string, object?> ToJsonTree(OasstRow m, List<OasstRow> all)
    {
        var d = MessageJson(m);
        var replies = all.Where(r => r.ParentId == m.MessageId).Select(r => ToJsonTree(r, all)).ToList();
        if (replies.Count > 0) d["replies"] = replies;
        return d;
    }

    public static Dictionary<string, object?> MessageJson(OasstRow m) => new()
    {
        ["message_id"] = m.MessageId,
        ["parent_id"] = m.ParentId,
        ["user_id"] = m.UserId,
        ["created_date"] = m.CreatedDate,
        ["text"] = m.Text,
        ["role"] = m.Role,
        ["lang"] = m.Lang,
        ["review_count"] = m.ReviewCount,
        ["review_result"] = m.ReviewResult,
        ["deleted"] = m.Deleted,
        ["rank"] = m.Rank,
        ["synthetic"] = m.Synthetic,
        ["model_name"] = m.ModelName,
        ["detoxify"] = new Dictionary<string, double> { ["toxicity"] = m.Toxicity },
        ["emojis"] = new Dictionary<string, object> { ["name"] = new[] { "+1" }, ["count"] = new[] { 2 } },
        ["labels"] = new Dictionary<string, object> { ["name"] = new[] { "spam" }, ["value"] = new[] { 0.1 }, ["count"] = new[] { 3 } },
    };

    public static void WriteGzip(string path, byte[] bytes)
    {
        using var fs = File.Create(path);
        using var gz = new GZipStream(fs, CompressionLevel.Fastest);
        gz.Write(bytes);
    }
}
