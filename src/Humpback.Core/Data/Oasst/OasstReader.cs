using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Unicode;

namespace Humpback.Data;

/// <summary>Reads oasst1 messages from the published layouts:
/// <list type="bullet">
/// <item>Parquet (<c>data/train-00000-of-00001-*.parquet</c>): one row per message with the real columns;
/// the columns used must exist with compatible types, otherwise an <see cref="InvalidDataException"/> names
/// the file and column.</item>
/// <item>Trees JSON lines (<c>2023-04-12_oasst_ready.trees.jsonl.gz</c>): one tree per line,
/// <c>{message_tree_id, tree_state, prompt: {message_id, text, role, lang, …, replies: [...]}}</c>.</item>
/// <item>Messages JSON lines (<c>*.messages.jsonl.gz</c>): one message per line.</item>
/// </list>
/// Bad JSON lines (malformed, not UTF-8, a required field missing or of the wrong type) are counted in
/// <see cref="DataStats"/> and skipped.</summary>
public static class OasstReader
{
    public const string SkippedMalformedJson = "skipped_malformed_json";
    public const string SkippedInvalidUtf8 = "skipped_invalid_utf8";
    public const string SkippedMissingField = "skipped_missing_field";
    public const string SkippedNullValue = "skipped_null_value";

    public static async IAsyncEnumerable<OasstMessage> ReadAsync(string path, DataStats stats,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (InputFiles.Detect(path) == InputFormat.Parquet)
        {
            await foreach (OasstMessage m in ReadParquetAsync(path, stats, cancellationToken)) yield return m;
            yield break;
        }
        var buffer = new List<OasstMessage>();
        foreach (OasstMessage m in ReadJsonLines(path, stats, buffer, cancellationToken)) yield return m;
    }

    private static async IAsyncEnumerable<OasstMessage> ReadParquetAsync(string path, DataStats stats,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using ParquetTableReader table = await ParquetTableReader.OpenAsync(path, cancellationToken);
        var messageId = table.Require("message_id", ColumnKind.String);
        var parentId = table.Require("parent_id", ColumnKind.String);
        var treeId = table.Require("message_tree_id", ColumnKind.String);
        var text = table.Require("text", ColumnKind.String);
        var role = table.Require("role", ColumnKind.String);
        var lang = table.Require("lang", ColumnKind.String);
        var rank = table.Require("rank", ColumnKind.Integer);
        var deleted = table.Require("deleted", ColumnKind.Boolean);
        var review = table.Require("review_result", ColumnKind.Boolean);
        for (int g = 0; g < table.RowGroupCount; g++)
        {
            ParquetTableRowGroup rg = table.OpenRowGroup(g);
            string?[] ids = await rg.ReadStringsAsync(messageId, cancellationToken);
            string?[] parents = await rg.ReadStringsAsync(parentId, cancellationToken);
            string?[] trees = await rg.ReadStringsAsync(treeId, cancellationToken);
            string?[] texts = await rg.ReadStringsAsync(text, cancellationToken);
            string?[] roles = await rg.ReadStringsAsync(role, cancellationToken);
            string?[] langs = await rg.ReadStringsAsync(lang, cancellationToken);
            long?[] ranks = await rg.ReadIntegersAsync(rank, cancellationToken);
            bool?[] dels = await rg.ReadBooleansAsync(deleted, cancellationToken);
            bool?[] reviews = await rg.ReadBooleansAsync(review, cancellationToken);
            for (int i = 0; i < rg.RowCount; i++)
            {
                string where = $"{table.Name}:row {rg.RowOf(i)}";
                string? missing = ids[i] == null ? "message_id" : trees[i] == null ? "message_tree_id" : texts[i] == null ? "text" : roles[i] == null ? "role" : null;
                if (missing != null)
                {
                    stats.Skip(SkippedNullValue, $"{where}, column '{missing}'");
                    continue;
                }
                yield return new OasstMessage(ids[i]!, parents[i], trees[i]!, roles[i]!, langs[i], texts[i]!,
                    ranks[i] is long r ? checked((int)r) : null, dels[i] ?? false, reviews[i], where);
            }
        }
    }

    private static IEnumerable<OasstMessage> ReadJsonLines(string path, DataStats stats, List<OasstMessage> buffer, CancellationToken cancellationToken)
    {
        string name = Path.GetFileName(path);
        Stream stream = InputFiles.OpenJsonLines(path, out FileStream file);
        using (stream)
        using (file)
        {
            var reader = new LineBlockReader(stream, 1 << 20);
            while (reader.TryRead(out LineBlock block))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var state = (name, stats, buffer);
                block.ForEachLine(ref state, static (ref (string Name, DataStats Stats, List<OasstMessage> Out) s, ReadOnlySpan<byte> line, long n) =>
                    ParseLine(s.Name, line, n, s.Stats, s.Out));
                foreach (OasstMessage m in buffer) yield return m;
                buffer.Clear();
            }
            if (file.Length > 0 && stream is System.IO.Compression.GZipStream && !InputFiles.GzipTrailerMatches(path, reader.BytesRead))
                stats.Skip("gzip_trailer_mismatch", $"{name}: truncated or corrupt gzip (size in trailer differs)");
        }
    }

    private static void ParseLine(string file, ReadOnlySpan<byte> line, long lineNumber, DataStats stats, List<OasstMessage> output)
    {
        if (line.IndexOfAnyExcept(" \t\r"u8) < 0) return;
        string where = $"{file}:line {lineNumber}";
        if (!Utf8.IsValid(line))
        {
            stats.Skip(SkippedInvalidUtf8, where);
            return;
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line.ToArray());
        }
        catch (JsonException)
        {
            stats.Skip(SkippedMalformedJson, where);
            return;
        }
        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                stats.Skip(SkippedMalformedJson, where);
                return;
            }
            int before = output.Count;
            try
            {
                if (root.TryGetProperty("prompt", out JsonElement prompt))
                {
                    // A tree: the prompt is the root message; replies nest under "replies".
                    string treeId = root.TryGetProperty("message_tree_id", out JsonElement t) && t.ValueKind == JsonValueKind.String
                        ? t.GetString()! : RequireString(prompt, "message_id");
                    Flatten(prompt, null, treeId, where, output);
                }
                else
                {
                    string id = RequireString(root, "message_id");
                    string treeId = OptionalString(root, "message_tree_id") ?? id;
                    output.Add(ToMessage(root, OptionalString(root, "parent_id"), treeId, where));
                }
            }
            catch (MissingFieldException e)
            {
                output.RemoveRange(before, output.Count - before);
                stats.Skip(SkippedMissingField, $"{where}, field '{e.Message}'");
            }
        }
    }

    private static void Flatten(JsonElement message, string? parentId, string treeId, string where, List<OasstMessage> output)
    {
        OasstMessage m = ToMessage(message, OptionalString(message, "parent_id") ?? parentId, treeId, where);
        output.Add(m);
        if (message.TryGetProperty("replies", out JsonElement replies) && replies.ValueKind == JsonValueKind.Array)
            foreach (JsonElement reply in replies.EnumerateArray()) Flatten(reply, m.MessageId, treeId, where, output);
    }

    private static OasstMessage ToMessage(JsonElement e, string? parentId, string treeId, string where)
    {
        int? rank = null;
        if (e.TryGetProperty("rank", out JsonElement r) && r.ValueKind != JsonValueKind.Null)
        {
            if (r.ValueKind != JsonValueKind.Number || !r.TryGetDouble(out double d) || d != Math.Floor(d)) throw new MissingFieldException("rank");
            rank = (int)d;
        }
        return new OasstMessage(
            RequireString(e, "message_id"), parentId, treeId, RequireString(e, "role"), OptionalString(e, "lang"),
            RequireString(e, "text"), rank, OptionalBool(e, "deleted") ?? false, OptionalBool(e, "review_result"), where);
    }

    private static string RequireString(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()! : throw new MissingFieldException(name);

    private static string? OptionalString(JsonElement e, string name) =>
        e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static bool? OptionalBool(JsonElement e, string name) =>
        e.TryGetProperty(name, out JsonElement v) ? v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Null => null,
            _ => throw new MissingFieldException(name),
        } : null;

    /// <summary>A required field is absent or has the wrong JSON type; the message is the field name.</summary>
    private sealed class MissingFieldException(string field) : Exception(field);
}
