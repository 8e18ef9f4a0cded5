using System.Text.Json;
using System.Text.Unicode;

namespace Humpback.Data;

/// <summary>One C4 json line: <c>{"text": "...", "timestamp": "2019-04-25T12:57:54Z", "url": "https://..."}</c>.
/// Only text (required) and url are read; other fields are skipped.</summary>
public static class C4Document
{
    public enum ParseResult
    {
        Ok,
        Blank,
        InvalidUtf8,
        Malformed,
        MissingText,
    }

    public static ParseResult TryParse(ReadOnlySpan<byte> line, out string? text, out string? url)
    {
        text = null;
        url = null;
        if (line.IndexOfAnyExcept(" \t\r"u8) < 0) return ParseResult.Blank;
        if (!Utf8.IsValid(line)) return ParseResult.InvalidUtf8;
        try
        {
            var r = new Utf8JsonReader(line);
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject) return ParseResult.Malformed;
            bool textWrongType = false;
            while (r.Read() && r.TokenType != JsonTokenType.EndObject)
            {
                if (r.TokenType != JsonTokenType.PropertyName) return ParseResult.Malformed;
                if (r.ValueTextEquals("text"u8))
                {
                    r.Read();
                    if (r.TokenType == JsonTokenType.String) text = r.GetString();
                    else
                    {
                        textWrongType = true;
                        r.Skip();
                    }
                }
                else if (r.ValueTextEquals("url"u8))
                {
                    r.Read();
                    if (r.TokenType == JsonTokenType.String) url = r.GetString();
                    else r.Skip();
                }
                else
                {
                    r.Read();
                    r.Skip();
                }
            }
            if (r.TokenType != JsonTokenType.EndObject || r.Read()) return ParseResult.Malformed;
            if (text == null || textWrongType) return ParseResult.MissingText;
            return ParseResult.Ok;
        }
        catch (JsonException)
        {
            return ParseResult.Malformed;
        }
    }
}
