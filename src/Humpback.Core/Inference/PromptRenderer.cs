using System.Text;
using System.Text.RegularExpressions;

namespace Humpback.Inference;

/// <summary>Turns a <see cref="PromptTemplate"/> into tokens for one model: the shared prefix (everything before the
/// first placeholder, decoded once per run) and each row's tokens (the rest, with the row's values).
///
/// Control-token spellings of the template (e.g. &lt;|eot_id|&gt;) become their ids; everything else — template text
/// and row values together — is tokenized as plain text in runs between control tokens, so a row's text is tokenized
/// as it would be in one piece and can never smuggle in a control token. The one seam is the prefix / row boundary at
/// the first placeholder: the template puts a newline or a control token there, where Llama-3's pre-tokenizer splits
/// anyway.</summary>
public sealed partial class PromptRenderer
{
    private enum PartKind { Text, Control, Value }

    private readonly record struct Part(PartKind Kind, string Text, int Token = -1);

    private readonly LlamaModel _model;
    private readonly Part[] _rowParts;

    public PromptRenderer(LlamaModel model, PromptTemplate template, ChatFormat format)
    {
        _model = model;
        Template = template;
        Format = format;
        Text = Wrap(template, format);
        var parts = new List<Part>();
        foreach (string piece in SplitPattern().Split(Text))
        {
            if (piece.Length == 0) continue;
            Match ph = PromptTemplate.PlaceholderPattern().Match(piece);
            if (ph.Success && ph.Length == piece.Length) parts.Add(new Part(PartKind.Value, ph.Groups[1].Value));
            else if (ControlPattern().IsMatch(piece) && ControlPattern().Match(piece).Length == piece.Length)
                parts.Add(new Part(PartKind.Control, piece, ControlToken(model, piece, format)));
            else parts.Add(new Part(PartKind.Text, piece));
        }
        int first = parts.FindIndex(p => p.Kind == PartKind.Value);
        var prefix = new List<int>();
        if (format != ChatFormat.Llama3 && model.AddBos && model.Bos is int bos) prefix.Add(bos);
        prefix.AddRange(Tokenize(parts.Take(first), null));
        PrefixTokens = prefix.ToArray();
        _rowParts = parts.Skip(first).ToArray();
    }

    public PromptTemplate Template { get; }
    public ChatFormat Format { get; }

    /// <summary>The formatted template with its placeholders still in it (for display and checks).</summary>
    public string Text { get; }

    /// <summary>Tokens shared by every row (BOS, headers, instructions up to the first placeholder).</summary>
    public int[] PrefixTokens { get; }

    /// <summary>The row's tokens after the prefix. Every placeholder needs a value.</summary>
    public int[] RowTokens(IReadOnlyDictionary<string, string> values) => Tokenize(_rowParts, values).ToArray();

    /// <summary>The full prompt text for <paramref name="values"/> (what the tokens spell).</summary>
    public string Render(IReadOnlyDictionary<string, string> values) =>
        PromptTemplate.PlaceholderPattern().Replace(Text, m => values[m.Groups[1].Value]);

    private List<int> Tokenize(IEnumerable<Part> parts, IReadOnlyDictionary<string, string>? values)
    {
        var tokens = new List<int>();
        var run = new StringBuilder();
        void Flush()
        {
            if (run.Length == 0) return;
            tokens.AddRange(_model.Tokenize(run.ToString(), addBos: false, parseSpecial: false));
            run.Clear();
        }
        foreach (Part p in parts)
        {
            switch (p.Kind)
            {
                case PartKind.Text:
                    run.Append(p.Text);
                    break;
                case PartKind.Value:
                    if (values == null || !values.TryGetValue(p.Text, out string? v))
                        throw new ArgumentException($"no value for placeholder {{{p.Text}}}");
                    run.Append(v);
                    break;
                default:
                    Flush();
                    tokens.Add(p.Token);
                    break;
            }
        }
        Flush();
        return tokens;
    }

    /// <summary>The template in the chat format, with placeholders left in the user message.</summary>
    public static string Wrap(PromptTemplate t, ChatFormat format) => format switch
    {
        ChatFormat.Llama3 =>
            "<|begin_of_text|>" +
            (t.System is string sys ? $"<|start_header_id|>system<|end_header_id|>\n\n{sys}<|eot_id|>" : "") +
            $"<|start_header_id|>user<|end_header_id|>\n\n{t.User}<|eot_id|>" +
            $"<|start_header_id|>assistant<|end_header_id|>\n\n{t.AssistantPrefill}",
        ChatFormat.Plain =>
            (t.System is string sys2 ? sys2 + "\n\n" : "") + $"### Instruction:\n{t.User}\n\n### Response:\n{t.AssistantPrefill}",
        _ => (t.System is string sys3 ? sys3 + "\n\n" : "") + t.User + t.AssistantPrefill,
    };

    private static int ControlToken(LlamaModel model, string spelling, ChatFormat format) =>
        model.SingleToken(spelling, parseSpecial: true)
        ?? throw new ArgumentException(
            $"the model {Path.GetFileName(model.Path)} has no '{spelling}' token, which the {format.ToString().ToLowerInvariant()} chat format needs; " +
            "use --chat-format plain (or none) for a model without Llama-3 chat tokens");

    [GeneratedRegex(@"(\{(?:" + PromptTemplate.PlaceholderNames + @")\}|<\|[A-Za-z0-9_]+\|>)")]
    private static partial Regex SplitPattern();

    [GeneratedRegex(@"<\|[A-Za-z0-9_]+\|>")]
    private static partial Regex ControlPattern();
}
