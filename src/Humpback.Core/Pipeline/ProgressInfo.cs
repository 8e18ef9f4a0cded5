namespace Humpback.Pipeline;

/// <summary>A progress report from long work (training steps, rows scored). The CLI renders it as a bar on a
/// terminal and as plain lines otherwise; the library only reports through <see cref="IProgress{T}"/>.</summary>
/// <param name="Task">what is running, e.g. "train M0" or "curate"</param>
/// <param name="Done">units finished (steps, rows)</param>
/// <param name="Total">units in all, or null when unknown</param>
/// <param name="Unit">"steps", "rows", …</param>
/// <param name="Metrics">short extra figures shown beside the bar, e.g. {"loss": "2.31", "tok/s": "5400"}</param>
public sealed record ProgressInfo(string Task, long Done, long? Total, string Unit, IReadOnlyDictionary<string, string>? Metrics = null);
