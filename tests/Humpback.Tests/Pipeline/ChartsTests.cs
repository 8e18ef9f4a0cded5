using Humpback.Pipeline;
using Xunit;

namespace Humpback.Tests.Pipeline;

public class ChartsTests
{
    private static bool IsPng(string path)
    {
        byte[] head = File.ReadAllBytes(path)[..8];
        return head.SequenceEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A });
    }

    [Fact]
    public void ChartsRenderPngFiles()
    {
        string dir = Directory.CreateTempSubdirectory("hb-charts").FullName;
        try
        {
            string a = Path.Combine(dir, "bars.png"), b = Path.Combine(dir, "hist.png"), c = Path.Combine(dir, "lines.png");
            Charts.GroupedBars(a, "accuracy", "accuracy", ["x", "y"], [("M0", [0.1, 0.5]), ("M1", [0.6, 0.7])]);
            Charts.Histogram(b, "scores", ["1", "2", "3", "4", "5"], [3, 1, 0, 2, 9]);
            Charts.Lines(c, "loss", "step", "loss", [("M0", [1, 2, 3], [3, 2, 1])]);
            Assert.True(IsPng(a) && IsPng(b) && IsPng(c));
            Assert.True(new FileInfo(a).Length > 1000);

            // Roofline: a copy kernel (no FLOPs) has no place on log axes and must not break the plot.
            string d = Path.Combine(dir, "roofline.png");
            Charts.Roofline(d, "roofline", 200, 50, [("matmul", 150, 190), ("rmsnorm", 0.5, 20), ("copy", 0, 0)]);
            Assert.True(IsPng(d) && new FileInfo(d).Length > 1000);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
