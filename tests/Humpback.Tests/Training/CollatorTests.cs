using Humpback.Prompts;
using Humpback.Training;
using Xunit;

namespace Humpback.Tests.Training;

/// <summary>A character-level tokenizer: one id per char (code point mod 200 + 10), BOS 1, EOS 2, and the Llama-3
/// special tokens as single ids, so tests can reason about exact positions.</summary>
internal sealed class CharTokenizer : ITextTokenizer
{
    private static readonly string[] Specials = [ChatFormat.BeginOfText, ChatFormat.EndOfTurn, ChatFormat.StartHeader, ChatFormat.EndHeader];
    public int VocabSize => 256;
    public int BosId => 1;
    public int EosId => 2;

    public int[] Encode(string text)
    {
        var ids = new List<int>();
        for (int i = 0; i < text.Length;)
        {
            int s = Array.FindIndex(Specials, sp => string.CompareOrdinal(text, i, sp, 0, sp.Length) == 0);
            if (s >= 0)
            {
                ids.Add(3 + s);
                i += Specials[s].Length;
                continue;
            }
            ids.Add(10 + text[i] % 200);
            i++;
        }
        return [.. ids];
    }
}

public class CollatorTests
{
    [Fact]
    public void SftLossCoversOnlyTheResponseAndItsEndMarker()
    {
        var c = new Collator(new CharTokenizer(), ChatFormatKind.Plain, Objective.Sft, 512, OverlongPolicy.Truncate);
        TokenizedExample t = c.Tokenize(0, new TrainingExample("a", null, "hi", "yo"))!;
        string prompt = ChatFormat.Prompt(ChatFormatKind.Plain, null, "hi");
        // BOS + prompt + "yo" + EOS
        Assert.Equal(1 + prompt.Length + 2 + 1, t.Tokens.Length);
        int firstLoss = Array.IndexOf(t.LossOnNext, true);
        Assert.Equal(prompt.Length, firstLoss); // predicting 'y' from the last prompt token
        Assert.Equal(3, t.LossOnNext.Count(x => x)); // 'y', 'o', EOS
        Assert.Equal(2, t.Tokens[^1]);
    }

    [Fact]
    public void Llama3FormatEndsTheAnswerWithEndOfTurn()
    {
        var c = new Collator(new CharTokenizer(), ChatFormatKind.Llama3, Objective.Sft, 512, OverlongPolicy.Truncate);
        TokenizedExample t = c.Tokenize(0, new TrainingExample("a", "sys", "hi", "yo"))!;
        Assert.Equal(3, t.Tokens[0]); // <|begin_of_text|>
        Assert.Equal(4, t.Tokens[^1]); // <|eot_id|>
        Assert.Equal(3, t.LossOnNext.Count(x => x));
    }

    [Fact]
    public void PackingKeepsExamplesApartAndRestartsPositions()
    {
        var c = new Collator(new CharTokenizer(), ChatFormatKind.Plain, Objective.Lm, 16, OverlongPolicy.Truncate);
        var a = c.Tokenize(0, new TrainingExample("a", null, "", "abcd"))!; // 6 tokens
        var b = c.Tokenize(1, new TrainingExample("b", null, "", "efgh"))!; // 6 tokens
        var d = c.Tokenize(2, new TrainingExample("d", null, "", "ijklmn"))!; // 8 tokens: does not fit row 0
        var batch = c.Pack([a, b, d]);
        Assert.Equal(2, batch.B);
        Assert.Equal(12, batch.T);
        Assert.Equal([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5], batch.Positions[..12]);
        Assert.NotEqual(batch.Segments[5], batch.Segments[6]);
        Assert.Equal(-1, batch.Targets[5]); // EOS of example a predicts nothing across the boundary
        Assert.Equal(-1, batch.Targets[12 + 7]); // last token of d
        Assert.True(batch.Segments[12 + 8] < 0); // padding
        Assert.Equal(-1, batch.Targets[12 + 8]);
    }

    [Fact]
    public void OverlongExamplesAreTruncatedOrSkippedAndCounted()
    {
        var ex = new TrainingExample("a", null, "q", new string('x', 100));
        var trunc = new Collator(new CharTokenizer(), ChatFormatKind.Plain, Objective.Sft, 40, OverlongPolicy.Truncate);
        Assert.Equal(40, trunc.Tokenize(0, ex)!.Tokens.Length);
        Assert.Equal(1, trunc.Stats.Truncated);
        var skip = new Collator(new CharTokenizer(), ChatFormatKind.Plain, Objective.Sft, 40, OverlongPolicy.Skip);
        Assert.Null(skip.Tokenize(0, ex));
        Assert.Equal(1, skip.Stats.Skipped);
    }

    [Fact]
    public void SchedulesHitTheirEndpoints()
    {
        var lin = new LrSchedule(ScheduleKind.Linear, 1e-5f, 9e-6f, 0, 11);
        Assert.Equal(1e-5f, lin.At(0), 9);
        Assert.Equal(9e-6f, lin.At(10), 9);
        var warm = new LrSchedule(ScheduleKind.Cosine, 1f, 0f, 4, 20);
        Assert.Equal(0.25f, warm.At(0), 6);
        Assert.Equal(1f, warm.At(4), 6);
        Assert.Equal(0f, warm.At(19), 6);
        Assert.Equal(0.5f, new LrSchedule(ScheduleKind.Constant, 0.5f, 0f, 0, 9).At(7));
    }
}

public class TrainingDataTests
{
    [Fact]
    public async Task ParquetTrainingSetsAndJsonlReadTheSameExamples()
    {
        string dir = Directory.CreateTempSubdirectory("hb-td").FullName;
        try
        {
            string pq = Path.Combine(dir, "set.parquet");
            var rows = new List<Humpback.Data.TrainingExample>
            {
                new("s1", "Answer in the style of an AI Assistant.", "What is 2 plus 2?", "2 plus 2 is 4.", "seed"),
                new("a1", "Answer with knowledge from web search.", "What is a zorp?", "A zorp is blue.", "augmented"),
            };
            await Humpback.Data.TrainingSetFile.WriteAsync(pq, rows);
            string jl = Path.Combine(dir, "set.jsonl");
            File.WriteAllLines(jl, rows.Select(r => System.Text.Json.JsonSerializer.Serialize(new { id = r.Id, system = r.System, instruction = r.Instruction, output = r.Output })));
            var a = TrainingData.Load(pq, Objective.Sft);
            var b = TrainingData.Load(jl, Objective.Sft);
            Assert.Equal(a, b);
            Assert.Equal("What is a zorp?", a[1].Instruction);
            Assert.Equal("Answer with knowledge from web search.", a[1].System);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void MalformedJsonlNamesTheLine()
    {
        string f = Path.GetTempFileName();
        try
        {
            File.WriteAllText(f, "{\"instruction\":\"a\",\"output\":\"b\"}\n{not json\n");
            var e = Assert.Throws<InvalidDataException>(() => TrainingData.Load(f, Objective.Sft));
            Assert.Contains("line 2", e.Message, StringComparison.Ordinal);
            File.WriteAllText(f, "{\"instruction\":\"a\"}\n");
            e = Assert.Throws<InvalidDataException>(() => TrainingData.Load(f, Objective.Sft));
            Assert.Contains("'output'", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(f);
        }
    }
}
