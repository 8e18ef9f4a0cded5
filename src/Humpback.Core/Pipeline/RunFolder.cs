using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Humpback.IO;

namespace Humpback.Pipeline;

/// <summary>What one stage recorded in the run's manifest.</summary>
public sealed class StageRecord
{
    public string Status { get; set; } = "pending"; // pending | running | done | failed
    public string ConfigHash { get; set; } = "";
    public Dictionary<string, string> InputHashes { get; set; } = [];
    public List<string> Outputs { get; set; } = [];
    public Dictionary<string, JsonNode?> Metrics { get; set; } = [];
    public JsonNode? Config { get; set; }
    public DateTime? Started { get; set; }
    public DateTime? Finished { get; set; }
    public double Seconds { get; set; }
    public string? Error { get; set; }
}

public sealed class Manifest
{
    public string Preset { get; set; } = "";
    public DateTime Created { get; set; } = DateTime.UtcNow;
    public Dictionary<string, StageRecord> Stages { get; set; } = [];
}

/// <summary>One stage of a run: named, with a JSON config, input files, and outputs inside the run folder.</summary>
public interface IStage
{
    string Name { get; }
    /// <summary>The stage's settings; a change re-runs the stage (and, through its outputs, every stage after it).</summary>
    object Config { get; }
    /// <summary>Files the stage reads (absolute or run-relative); their content hashes are part of the stage's identity.</summary>
    IReadOnlyList<string> Inputs { get; }
    /// <summary>Files or folders the stage writes, relative to the run folder.</summary>
    IReadOnlyList<string> Outputs { get; }
    /// <summary>Does the work; <paramref name="resume"/> is true when an interrupted attempt with the same identity
    /// left partial work behind. Returns metrics for the manifest.</summary>
    Dictionary<string, JsonNode?> Run(RunFolder run, bool resume, CancellationToken ct);
}

/// <summary>
/// A run folder: every stage's outputs plus <c>manifest.json</c> (config, input hashes, outputs, metrics, timings).
/// Re-running skips a stage whose config, inputs and outputs are unchanged; an interrupted stage resumes; a changed
/// stage re-runs, and its new outputs change the input hashes of the stages after it, which re-run too.
/// </summary>
public sealed class RunFolder
{
    public const string ManifestFile = "manifest.json";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public RunFolder(string dir, string preset)
    {
        Dir = Path.GetFullPath(dir);
        Directory.CreateDirectory(Dir);
        string path = Path.Combine(Dir, ManifestFile);
        if (File.Exists(path))
        {
            try
            {
                Manifest = JsonSerializer.Deserialize<Manifest>(File.ReadAllText(path)) ?? new Manifest();
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}: not a valid run manifest ({e.Message}); move it away to start a new run", e);
            }
        }
        else
        {
            Manifest = new Manifest();
        }
        Manifest.Preset = preset;
    }

    public string Dir { get; }
    public Manifest Manifest { get; }

    public string PathOf(string relative) => Path.IsPathRooted(relative) ? relative : Path.Combine(Dir, relative);

    public void Save() => AtomicFile.WriteAllText(Path.Combine(Dir, ManifestFile), JsonSerializer.Serialize(Manifest, Json));

    /// <summary>Runs a stage unless an identical finished one is recorded. Returns true when it ran.</summary>
    public bool RunStage(IStage stage, TextWriter log, CancellationToken ct)
    {
        JsonNode? config = JsonSerializer.SerializeToNode(stage.Config, stage.Config.GetType());
        string configHash = Sha256(config?.ToJsonString() ?? "null");
        var inputs = new Dictionary<string, string>();
        foreach (string input in stage.Inputs)
        {
            string p = PathOf(input);
            if (!File.Exists(p) && !Directory.Exists(p))
                throw new FileNotFoundException($"stage {stage.Name}: input {p} does not exist", p);
            inputs[input] = HashPath(p);
        }
        Manifest.Stages.TryGetValue(stage.Name, out StageRecord? rec);
        bool same = rec != null && rec.ConfigHash == configHash && DictEqual(rec.InputHashes, inputs);
        if (same && rec!.Status == "done" && stage.Outputs.All(o => File.Exists(PathOf(o)) || Directory.Exists(PathOf(o))))
        {
            log.WriteLine($"[{stage.Name}] up to date ({rec.Seconds:F1} s when it ran), skipped");
            return false;
        }
        bool resume = same && rec!.Status is "running" or "failed";
        rec = new StageRecord
        {
            Status = "running", ConfigHash = configHash, InputHashes = inputs, Config = config, Started = DateTime.UtcNow,
            Outputs = [.. stage.Outputs],
        };
        Manifest.Stages[stage.Name] = rec;
        Save();
        log.WriteLine(resume ? $"[{stage.Name}] resuming an interrupted run" : $"[{stage.Name}] running");
        var clock = Stopwatch.StartNew();
        try
        {
            rec.Metrics = stage.Run(this, resume, ct);
            rec.Status = "done";
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            rec.Status = "failed";
            rec.Error = e.Message;
            throw;
        }
        finally
        {
            rec.Seconds = clock.Elapsed.TotalSeconds;
            rec.Finished = DateTime.UtcNow;
            Save();
        }
        log.WriteLine($"[{stage.Name}] done in {rec.Seconds:F1} s");
        return true;
    }

    private static bool DictEqual(Dictionary<string, string> a, Dictionary<string, string> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out string? v) && v == kv.Value);

    public static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>Content hash of a file, or of a folder's files (names and contents). Files over 256 MiB are hashed by
    /// size plus their first and last 16 MiB, which keeps re-runs over multi-GB inputs fast.</summary>
    public static string HashPath(string path)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        if (Directory.Exists(path))
        {
            foreach (string f in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                string rel = Path.GetRelativePath(path, f);
                if (rel.Split(Path.DirectorySeparatorChar).Any(part => part.StartsWith('.'))) continue; // temporary files
                sha.AppendData(Encoding.UTF8.GetBytes(rel));
                sha.AppendData(Convert.FromHexString(HashFile(f)));
            }
        }
        else
        {
            sha.AppendData(Convert.FromHexString(HashFile(path)));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static string HashFile(string path)
    {
        const long big = 256L << 20, part = 16L << 20;
        using var fs = File.OpenRead(path);
        if (fs.Length <= big) return Convert.ToHexStringLower(SHA256.HashData(fs));
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(BitConverter.GetBytes(fs.Length));
        var buf = new byte[part];
        fs.ReadExactly(buf);
        sha.AppendData(buf);
        fs.Seek(-part, SeekOrigin.End);
        fs.ReadExactly(buf);
        sha.AppendData(buf);
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
