using System.Diagnostics;
using Humpback.Pipeline;

namespace Humpback.Cli;

/// <summary>Renders <see cref="ProgressInfo"/>: a redrawn one-line bar with rate and ETA on a terminal, or a plain
/// line every few seconds when stderr is redirected (CI logs, files).</summary>
public sealed class ConsoleProgress : IProgress<ProgressInfo>
{
    private readonly TextWriter _out;
    private readonly bool _interactive;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TimeSpan _plainInterval;
    private TimeSpan _lastPrint = TimeSpan.FromDays(-1) /* not MinValue: now − MinValue overflows */;
    private string? _lastTask;
    private readonly object _gate = new();

    public ConsoleProgress(TextWriter? output = null, bool? interactive = null, TimeSpan? plainInterval = null)
    {
        _out = output ?? Console.Error;
        _interactive = interactive ?? !Console.IsErrorRedirected;
        _plainInterval = plainInterval ?? TimeSpan.FromSeconds(5);
    }

    public void Report(ProgressInfo value)
    {
        lock (_gate)
        {
            if (value.Task != _lastTask)
            {
                if (_interactive && _lastTask != null) _out.WriteLine();
                _lastTask = value.Task;
                _clock.Restart();
                _lastPrint = TimeSpan.FromDays(-1) /* not MinValue: now − MinValue overflows */;
            }
            TimeSpan now = _clock.Elapsed;
            bool finished = value.Total is long t && value.Done >= t;
            TimeSpan interval = _interactive ? TimeSpan.FromMilliseconds(200) : _plainInterval;
            if (!finished && _lastPrint != TimeSpan.MinValue && now - _lastPrint < interval) return;
            _lastPrint = now;
            string line = Format(value, now);
            if (_interactive)
            {
                _out.Write('\r' + line.PadRight(Math.Max(0, SafeWidth() - 1)));
                if (finished) _out.WriteLine();
            }
            else
            {
                _out.WriteLine(line);
            }
        }
    }

    private static int SafeWidth()
    {
        try { return Math.Clamp(Console.WindowWidth, 40, 200); } catch (IOException) { return 100; }
    }

    internal static string Format(ProgressInfo p, TimeSpan elapsed)
    {
        double rate = elapsed.TotalSeconds > 0 ? p.Done / elapsed.TotalSeconds : 0;
        string bar = "";
        string eta = "";
        if (p.Total is long total && total > 0)
        {
            double frac = Math.Clamp((double)p.Done / total, 0, 1);
            int filled = (int)(frac * 24);
            bar = $"[{new string('#', filled)}{new string('.', 24 - filled)}] {frac * 100,5:0.0}% ";
            if (rate > 0 && p.Done < total) eta = $" eta {TimeSpan.FromSeconds((total - p.Done) / rate):hh\\:mm\\:ss}";
        }
        string metrics = p.Metrics is { Count: > 0 } m ? "  " + string.Join("  ", m.Select(kv => $"{kv.Key} {kv.Value}")) : "";
        string totalText = p.Total is long tt ? $"/{tt}" : "";
        return $"{p.Task}: {bar}{p.Done}{totalText} {p.Unit}  {rate:0.##} {p.Unit}/s{eta}{metrics}";
    }
}
