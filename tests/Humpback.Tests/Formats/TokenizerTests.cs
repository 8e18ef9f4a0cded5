using Humpback.Formats;
using Xunit;
using Xunit.Abstractions;

namespace Humpback.Tests.Formats;

public class TokenizerTests(ITestOutputHelper output)
{
    private static bool OnlyBmp(string s) => !s.Any(char.IsSurrogate);

    [Fact]
    public void MicrosoftMlBpeTokenizerAgreesOnBmpText()
    {
        HumpbackTokenizer tok = TestData.Tokenizer;
        var ml = tok.ToMlTokenizer();
        int n = 0, diff = 0;
        foreach (string s in TestData.Strings(7, 2000).Where(OnlyBmp))
        {
            n++;
            int[] ours = tok.Encode(s, addBos: false, parseSpecial: true);
            int[] theirs = ml.EncodeToIds(s).ToArray();
            if (!ours.SequenceEqual(theirs) && diff++ < 5)
                output.WriteLine($"{System.Text.Json.JsonSerializer.Serialize(s)}\n ours {string.Join(",", ours)}\n ml   {string.Join(",", theirs)}");
        }
        output.WriteLine($"{n} strings, {diff} differ");
        Assert.Equal(0, diff);
    }
}
