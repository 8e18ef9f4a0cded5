using System.Globalization;
using System.Text.Json;
using CommandLine;
using Humpback.Engine.Profiling;
using Humpback.IO;

namespace Humpback.Cli.Verbs;

// `profile train` and `profile compare` (the training engine's side of the profile verb).
public sealed partial class ProfileVerb
{
    [Value(1, MetaName = "files", HelpText = "compare: two JSON profiles (baseline, candidate).")]
    public IEnumerable<string> Files { get; set; } = [];

    [Option("device", Default = "cpu", HelpText = "cpu, cuda or cuda:N.")]
    public string Device { get; set; } = "cpu";

    [Option("train-mode", Default = "both", HelpText = "train: full | lora | both.")]
    public string TrainMode { get; set; } = "both";

    [Option("dim", Default = 512)] public int Dim { get; set; } = 512;
    [Option("layers", Default = 8)] public int Layers { get; set; } = 8;
    [Option("heads", Default = 8)] public int Heads { get; set; } = 8;
    [Option("kv-heads", Default = 4)] public int KvHeads { get; set; } = 4;
    [Option("ffn", Default = 1408)] public int Ffn { get; set; } = 1408;
    [Option("vocab", Default = 4096)] public int Vocab { get; set; } = 4096;
    [Option("seq", Default = 256, HelpText = "Sequence length T.")] public int Seq { get; set; } = 256;
    [Option("batch", Default = 8, HelpText = "Sequences per step B.")] public int Batch { get; set; } = 8;
    [Option("steps", Default = 3, HelpText = "Timed steps (best is reported).")] public int Steps { get; set; } = 3;
    [Option("recompute", HelpText = "Recompute activations in the backward.")] public bool Recompute { get; set; }
    [Option("precision", Default = "fp32", HelpText = "train: fp32 | bf16 (mixed precision).")] public string Precision { get; set; } = "fp32";


    private int RunTrain()
    {
        var config = TrainProfiler.DefaultConfig with
        {
            HiddenSize = Dim, NumLayers = Layers, NumHeads = Heads, NumKvHeads = KvHeads, IntermediateSize = Ffn, VocabSize = Vocab,
            MaxPositionEmbeddings = Math.Max(2048, Seq),
        };
        try { config.Validate("profile"); } catch (InvalidDataException e) { throw new UsageException(e.Message); }
        Humpback.Model.TrainMode[] modes = TrainMode.ToLowerInvariant() switch
        {
            "full" => [Humpback.Model.TrainMode.Full],
            "lora" => [Humpback.Model.TrainMode.Lora],
            "both" => [Humpback.Model.TrainMode.Full, Humpback.Model.TrainMode.Lora],
            _ => throw new UsageException($"--train-mode must be full, lora or both (got '{TrainMode}')"),
        };
        Engine.DType precision;
        try { precision = Engine.DTypeExtensions.Parse(Precision, "--precision"); } catch (ArgumentException e) { throw new UsageException(e.Message); }
        using var device = Engine.Device.Parse(Device, Threads ?? 0);
        Console.Error.WriteLine("measuring the machine's ceilings (GEMM, memory bandwidth)...");
        // The step's limit is set by the GEMMs it runs: bf16 ones in bf16 mixed precision.
        MachineCeilings ceilings = MachineCeilings.Measure(device, gemmType: precision);
        Console.WriteLine($"ceilings: GEMM ({ceilings.GemmType}) {ceilings.GemmGflops:F1} GFLOP/s (n={ceilings.GemmSize}), memory {ceilings.BandwidthGBs:F1} GB/s ({ceilings.Device})");
        var profiles = new List<TrainProfile>();
        foreach (Humpback.Model.TrainMode m in modes)
        {
            Console.Error.WriteLine($"profiling a {m.ToString().ToLowerInvariant()} training step ({config.ParameterCount / 1e6:F1}M params, B={Batch}, T={Seq})...");
            TrainProfile p = TrainProfiler.Run(device, config, m, Batch, Seq, ceilings, Steps, recompute: Recompute, precision: precision);
            if (!NoCrossCheck)
            {
                // The same step measured a second way: through the Trainer that `humpback train` runs (data, packing,
                // clipping, metrics included). The two must agree within 10% or one of them measures something else.
                Console.Error.WriteLine($"cross-check: the same {m.ToString().ToLowerInvariant()} step through `humpback train`'s Trainer...");
                var t = Humpback.Training.TrainerThroughput.Measure(config, m, Batch, Seq, Steps, Device, Threads ?? 0, recompute: Recompute, precision: precision);
                p = p with { TrainerTokensPerSecond = t.Best };
            }
            profiles.Add(p);
            Console.WriteLine(TrainProfileReport.TrainText(p));
        }
        if (Json != null)
        {
            AtomicFile.WriteAllText(Json, TrainProfileReport.TrainJson(ceilings, profiles));
            Console.WriteLine($"wrote {Json}");
        }
        // Per-op breakdown chart: milliseconds per op, one series per mode.
        string png = System.IO.Path.ChangeExtension(Json ?? "profile-train.json", ".png");
        var ops = profiles.SelectMany(p => p.Ops.Select(o => o.Op)).Distinct().ToList();
        Pipeline.Charts.GroupedBars(png, "Training step: time per op", "ms per step", ops,
            profiles.Select(p => ($"{p.Mode}", ops.Select(op => p.Ops.FirstOrDefault(o => o.Op == op).Seconds * 1000).ToArray())).ToList(), width: 1400);
        Console.WriteLine($"chart: {png}");
        return CliHost.ExitOk;
    }
}

/// <summary>Text and JSON renderings of profiles, and `profile compare`.</summary>
public static class TrainProfileReport
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string TrainText(TrainProfile p)
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"== train step, {p.Mode}: {p.Parameters / 1e6:F1}M params ({p.TrainableParameters / 1e6:F2}M trainable), B={p.Batch}, T={p.SeqLen}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  step {p.StepSeconds * 1000:F0} ms   {p.TokensPerSecond:F0} tokens/s   {p.AchievedGflops:F1} GFLOP/s");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  GEMM-bound limit {p.SgemmBoundSeconds * 1000:F0} ms -> {p.ShareOfSgemmBound * 100:F1}% of the limit (MFU vs the measured GEMM ceiling)");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  phases: forward {p.Phases.Forward * 1000:F0} ms, backward {p.Phases.Backward * 1000:F0} ms, optimizer {p.Phases.Optimizer * 1000:F0} ms");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  memory: {p.DeviceBytes / 1048576.0:F0} MiB planned on the device, peak RSS {p.PeakRssBytes / 1048576.0:F0} MiB");
        if (p.TrainerTokensPerSecond is double tt)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  cross-check: `humpback train` (Trainer) {tt:F0} tokens/s vs {p.TokensPerSecond:F0} here -> ratio {p.CrossCheckRatio:F3} ({(p.CrossCheckAgrees ? "agrees within 10%" : "DISAGREES by more than 10%: a measurement is off, or the machine is busy")})");
        double total = p.Ops.Sum(o => o.Seconds);
        sb.AppendLine("  op                      time ms   share  calls");
        foreach (var (op, s, calls) in p.Ops)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {op,-22} {s * 1000,8:F1} {s / total * 100,6:F1}% {calls,6}");
        return sb.ToString();
    }

    public static string TrainJson(MachineCeilings c, IReadOnlyList<TrainProfile> profiles) => JsonSerializer.Serialize(new
    {
        kind = "train",
        date = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        machine = new { cores = Environment.ProcessorCount, device = c.Device, sgemm_gflops = c.GemmGflops, gemm_type = c.GemmType, bandwidth_gbs = c.BandwidthGBs },
        profiles = profiles.Select(p => new
        {
            name = $"train-{p.Mode}",
            mode = p.Mode, parameters = p.Parameters, trainable = p.TrainableParameters, batch = p.Batch, seq = p.SeqLen,
            step_s = p.StepSeconds, tokens_per_s = p.TokensPerSecond, gflops = p.AchievedGflops,
            sgemm_bound_s = p.SgemmBoundSeconds, share_of_sgemm_bound = p.ShareOfSgemmBound,
            forward_s = p.Phases.Forward, backward_s = p.Phases.Backward, optimizer_s = p.Phases.Optimizer,
            peak_rss_bytes = p.PeakRssBytes, device_bytes = p.DeviceBytes,
            trainer_tokens_per_s = p.TrainerTokensPerSecond, trainer_ratio = p.CrossCheckRatio,
            ops = p.Ops.Select(o => new { op = o.Op, seconds = o.Seconds, calls = o.Calls }),
        }),
    }, Indented);

    /// <summary>Ratios candidate/baseline of every numeric figure of profiles with the same name.</summary>
    public static int Compare(IReadOnlyList<string> files, TextWriter o)
    {
        if (files.Count != 2) throw new UsageException("profile compare takes two JSON files: baseline candidate");
        foreach (string f in files) if (!File.Exists(f)) throw new UsageException($"profile compare: {f} not found");
        using var a = JsonDocument.Parse(File.ReadAllText(files[0]));
        using var b = JsonDocument.Parse(File.ReadAllText(files[1]));
        // train / kernels files list "profiles" by name; score / generate files list "measurements" (one per method
        // and P) and a "summary" object of ratios — all three are compared figure by figure.
        Dictionary<string, JsonElement> Index(JsonDocument d, string file)
        {
            JsonElement root = d.RootElement;
            var index = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            if (root.TryGetProperty("profiles", out var ps))
                foreach (JsonElement p in ps.EnumerateArray()) index[p.GetProperty("name").GetString() ?? "?"] = p;
            if (root.TryGetProperty("measurements", out var ms))
                foreach (JsonElement m in ms.EnumerateArray())
                    index[$"{m.GetProperty("method").GetString()} P={m.GetProperty("parallel").GetInt32()}"] = m;
            if (root.TryGetProperty("summary", out var sm) && sm.ValueKind == JsonValueKind.Object) index["summary"] = sm;
            return index.Count > 0 ? index : throw new InvalidDataException($"{file}: not a profile JSON (no 'profiles' or 'measurements')");
        }
        var ia = Index(a, files[0]);
        var ib = Index(b, files[1]);
        o.WriteLine($"{"profile",-24} {"figure",-40} {"baseline",14} {"candidate",14} {"ratio",8}");
        foreach (var (name, pa) in ia)
        {
            if (!ib.TryGetValue(name, out var pb)) continue;
            foreach (JsonProperty prop in pa.EnumerateObject())
            {
                if (prop.Value.ValueKind != JsonValueKind.Number || !pb.TryGetProperty(prop.Name, out var vb) || vb.ValueKind != JsonValueKind.Number) continue;
                double x = prop.Value.GetDouble(), y = vb.GetDouble();
                string ratio = x != 0 ? (y / x).ToString("F3", CultureInfo.InvariantCulture) : "-";
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-24} {prop.Name,-40} {x,14:G6} {y,14:G6} {ratio,8}"));
            }
        }
        return CliHost.ExitOk;
    }
}

public sealed partial class ProfileVerb
{
    private int RunKernels()
    {
        using var device = Engine.Device.Parse(Device, Threads ?? 0);
        Console.Error.WriteLine("measuring the machine's ceilings (SGEMM, memory bandwidth)...");
        MachineCeilings ceilings = MachineCeilings.Measure(device);
        // The bf16 rows ([bf16]) are judged against the bf16 GEMM's own ceiling (tensor cores on a GPU).
        MachineCeilings bf16 = MachineCeilings.Measure(device, gemmType: Engine.DType.Bf16);
        Console.WriteLine($"ceilings: SGEMM {ceilings.GemmGflops:F1} GFLOP/s, bf16 GEMM {bf16.GemmGflops:F1} GFLOP/s, memory {ceilings.BandwidthGBs:F1} GB/s ({ceilings.Device})");
        long n = (long)Batch * Seq;
        IReadOnlyList<KernelTiming> rows = KernelProfiler.Run(device, ceilings, n, Dim, Heads, KvHeads, Dim / Heads, Ffn, Vocab, Batch, bf16Ceilings: bf16);
        Console.WriteLine($"{"kernel",-29} {"shape",-32} {"ms",9} {"GFLOP/s",9} {"GB/s",8} {"bound",8} {"roofline",9}");
        foreach (KernelTiming k in rows)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{k.Op,-29} {k.Shape,-32} {k.Seconds * 1000,9:F3} {k.Gflops,9:F1} {k.GBs,8:F1} {k.BoundBy,8} {k.ShareOfRoofline * 100,8:F1}%"));
        if (Json != null)
        {
            AtomicFile.WriteAllText(Json, JsonSerializer.Serialize(new
            {
                kind = "kernels",
                date = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                machine = new { cores = Environment.ProcessorCount, device = ceilings.Device, sgemm_gflops = ceilings.GemmGflops, bf16_gemm_gflops = bf16.GemmGflops, bandwidth_gbs = ceilings.BandwidthGBs },
                profiles = rows.Select(k => new { name = k.Op, shape = k.Shape, seconds = k.Seconds, gflops = k.Gflops, gbs = k.GBs, bound = k.BoundBy, roofline_share = k.ShareOfRoofline }),
            }, new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"wrote {Json}");
        }
        string png = Path.ChangeExtension(Json ?? "profile-kernels.json", ".png");
        Pipeline.Charts.Roofline(png, $"Kernel roofline ({ceilings.Device})", ceilings.GemmGflops, ceilings.BandwidthGBs,
            rows.Select(r => (r.Op, r.Flops / r.Bytes, r.Gflops)).ToList());
        Console.WriteLine($"chart: {png}");
        return CliHost.ExitOk;
    }
}
