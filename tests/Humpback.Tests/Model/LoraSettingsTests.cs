using Humpback.Model;
using Xunit;

namespace Humpback.Tests.Model;

/// <summary>Training's LoRA settings (short target names) and the PEFT config of a saved adapter (module names) are
/// two views of one thing: they must convert both ways and share one list of modules.</summary>
public class LoraSettingsTests
{
    [Fact]
    public void TargetsParseAndConvertToPeftAndBack()
    {
        Assert.Equal(["q", "k", "v", "o", "gate", "up", "down"], LoraSettings.AllTargets);
        Assert.Equal(LoraSettings.AllTargets, LoraSettings.ParseTargets("all"));
        Assert.Equal(["q", "up"], LoraSettings.ParseTargets(" q_proj , up "));
        Assert.Equal("mlp.down_proj", LoraSettings.ModulePath("down"));
        Assert.Equal("self_attn.q_proj", LoraSettings.ModulePath("q_proj"));

        var s = new LoraSettings(8, 16f, ["q", "v", "gate"]);
        LoraConfig peft = s.ToPeftConfig("/models/base");
        Assert.Equal(["q_proj", "v_proj", "gate_proj"], peft.TargetModules);
        Assert.Equal((8, 16f, "/models/base"), (peft.Rank, peft.Alpha, peft.BaseModel));
        peft.Validate();
        LoraSettings back = LoraSettings.FromPeftConfig(peft);
        Assert.Equal(s.Rank, back.Rank);
        Assert.Equal(s.Alpha, back.Alpha);
        Assert.Equal(s.ResolvedTargets, back.ResolvedTargets);
    }

    [Fact]
    public void UnknownTargetsAreNamed()
    {
        var e = Assert.Throws<ArgumentException>(() => new LoraSettings(8, 16f, ["q", "ffn"]).Validate());
        Assert.Contains("'ffn'", e.Message, StringComparison.Ordinal);
        Assert.Contains("gate", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new LoraSettings(0, 16f).Validate());
    }
}
