using ScottPlot;

namespace Humpback.Pipeline;

/// <summary>PNG charts for reports and profiles (ScottPlot, rendered headless).</summary>
public static class Charts
{
    /// <summary>Grouped bars: one group per category, one bar per series (e.g. accuracy per skill per model).</summary>
    public static void GroupedBars(string path, string title, string yLabel, IReadOnlyList<string> categories,
        IReadOnlyList<(string Series, double[] Values)> series, int width = 900, int height = 450)
    {
        var plt = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var bars = new List<Bar>();
        int n = series.Count;
        for (int s = 0; s < n; s++)
        {
            for (int c = 0; c < categories.Count; c++)
            {
                bars.Add(new Bar
                {
                    Position = c * (n + 1) + s,
                    Value = series[s].Values[c],
                    FillColor = palette.GetColor(s),
                });
            }
        }
        plt.Add.Bars(bars);
        var ticks = categories.Select((cat, c) => new Tick(c * (n + 1) + (n - 1) / 2.0, cat)).ToArray();
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        for (int s = 0; s < n; s++) plt.Legend.ManualItems.Add(new LegendItem { LabelText = series[s].Series, FillColor = palette.GetColor(s) });
        plt.ShowLegend();
        plt.Title(title);
        plt.YLabel(yLabel);
        plt.Axes.Margins(bottom: 0);
        plt.SavePng(path, width, height);
    }

    /// <summary>A histogram from bin labels and counts (e.g. curation scores 1–5).</summary>
    public static void Histogram(string path, string title, IReadOnlyList<string> bins, IReadOnlyList<double> counts, int width = 700, int height = 400)
    {
        var plt = new Plot();
        plt.Add.Bars(counts.Select((v, i) => new Bar { Position = i, Value = v }).ToArray());
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(bins.Select((b, i) => new Tick(i, b)).ToArray());
        plt.Title(title);
        plt.YLabel("count");
        plt.Axes.Margins(bottom: 0);
        plt.SavePng(path, width, height);
    }

    /// <summary>Lines: one per series of (x, y) points (e.g. training loss curves).</summary>
    public static void Lines(string path, string title, string xLabel, string yLabel, IReadOnlyList<(string Series, double[] X, double[] Y)> series,
        bool logY = false, int width = 900, int height = 450)
    {
        var plt = new Plot();
        foreach (var (name, x, y) in series)
        {
            var sc = plt.Add.Scatter(x, logY ? y.Select(v => Math.Log10(Math.Max(v, 1e-9))).ToArray() : y);
            sc.LegendText = name;
            sc.MarkerSize = 0;
        }
        plt.ShowLegend();
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(logY ? $"log10 {yLabel}" : yLabel);
        plt.SavePng(path, width, height);
    }
}
