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

    /// <summary>A roofline plot on log-log axes: the attainable rate min(peak, bandwidth × intensity) as a line and each
    /// measured kernel as a point at (FLOP per byte moved, achieved GFLOP/s). Points without FLOPs (pure copies) have
    /// no place on it and are left out.</summary>
    public static void Roofline(string path, string title, double peakGflops, double bandwidthGBs,
        IReadOnlyList<(string Name, double Intensity, double Gflops)> points, int width = 1400, int height = 650)
    {
        var plotted = points.Where(p => p.Intensity > 0 && p.Gflops > 0 && double.IsFinite(p.Intensity) && double.IsFinite(p.Gflops)).ToList();
        double ridge = peakGflops / bandwidthGBs;
        double xMin = Math.Min(ridge, plotted.Count == 0 ? ridge : plotted.Min(p => p.Intensity)) / 4;
        double xMax = Math.Max(ridge, plotted.Count == 0 ? ridge : plotted.Max(p => p.Intensity)) * 4;
        var plt = new Plot();
        // ScottPlot draws linear axes: plot log10 values and label the ticks with powers of ten.
        double[] lx = Enumerable.Range(0, 200).Select(i => Math.Log10(xMin) + (Math.Log10(xMax) - Math.Log10(xMin)) * i / 199).ToArray();
        double[] ly = lx.Select(x => Math.Log10(Math.Min(peakGflops, bandwidthGBs * Math.Pow(10, x)))).ToArray();
        var roof = plt.Add.Scatter(lx, ly);
        roof.MarkerSize = 0;
        roof.LineWidth = 2;
        roof.Color = Colors.Black;
        roof.LegendText = $"roof: {peakGflops:F0} GFLOP/s, {bandwidthGBs:F0} GB/s";
        var palette = new ScottPlot.Palettes.Category10();
        MarkerShape[] shapes = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond, MarkerShape.FilledTriangleDown];
        for (int i = 0; i < plotted.Count; i++)
        {
            var (name, intensity, gflops) = plotted[i];
            var m = plt.Add.Marker(Math.Log10(intensity), Math.Log10(gflops));
            m.MarkerShape = shapes[i / 10 % shapes.Length];
            m.MarkerSize = 11;
            m.Color = palette.GetColor(i % 10);
            m.LegendText = $"{name} ({gflops:F0} GFLOP/s, {100 * gflops / Math.Min(peakGflops, bandwidthGBs * intensity):F0}%)";
        }
        double yMin = Math.Min(plotted.Count == 0 ? peakGflops : plotted.Min(p => p.Gflops), bandwidthGBs * xMin) / 2;
        Tick[] Decades(double lo, double hi) => Enumerable.Range((int)Math.Floor(Math.Log10(lo)), (int)Math.Ceiling(Math.Log10(hi)) - (int)Math.Floor(Math.Log10(lo)) + 1)
            .Select(e => new Tick(e, Math.Pow(10, e).ToString(e < 0 ? "0.###" : "#,0", System.Globalization.CultureInfo.InvariantCulture))).ToArray();
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(Decades(xMin, xMax));
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(Decades(yMin, peakGflops * 2));
        plt.Axes.SetLimits(Math.Log10(xMin), Math.Log10(xMax), Math.Log10(yMin), Math.Log10(peakGflops * 2));
        plt.ShowLegend(Edge.Right);
        plt.Title(title);
        plt.XLabel("arithmetic intensity (FLOP per byte moved)");
        plt.YLabel("achieved GFLOP/s");
        plt.SavePng(path, width, height);
    }
}
