using Humpback.Pipeline;

namespace Humpback.Data;

/// <summary>Options of the seed step (defaults follow Li et al. 2023: 3,200 English first turns, rank-0 replies).</summary>
public sealed record OasstSeedOptions
{
    public int Count { get; init; } = 3200;
    public long Seed { get; init; } = 1;
    public string Lang { get; init; } = "en";
}

/// <summary>Builds the seed pairs from oasst1: the first turn of each conversation tree.
/// <para>A root is a message with no parent; it is eligible when its role is "prompter", its lang is the
/// requested one, it is not deleted, its review_result is not false and its text is not blank. A reply is a
/// direct child of an eligible root with role "assistant", rank 0 (unranked replies are not taken), the same
/// lang, not deleted, review_result not false, text not blank. Each eligible root with an eligible reply gives
/// one pair (instruction = root text, output = reply text; if several replies have rank 0, the smallest
/// message_id wins). Messages seen twice (same message_id in two inputs) are read once.</para>
/// <para>Sampling: pairs are ordered by <see cref="StableHash.Keyed"/>(message_tree_id, seed), then tree id, and
/// the first <see cref="OasstSeedOptions.Count"/> kept in that order, so the sample depends only on the eligible
/// trees and the seed, not on file or row order.</para></summary>
public static class OasstSeed
{
    public const string Source = "oasst1";

    public static async Task<(List<PairRecord> Pairs, DataStats Stats)> BuildAsync(IReadOnlyList<string> inputs, OasstSeedOptions options,
        IProgress<ProgressInfo>? progress = null, CancellationToken cancellationToken = default)
    {
        if (options.Count < 0) throw new ArgumentOutOfRangeException(nameof(options), "count must be >= 0");
        var stats = new DataStats("seed",
            "files", "messages_read", OasstReader.SkippedMalformedJson, OasstReader.SkippedInvalidUtf8, OasstReader.SkippedMissingField,
            OasstReader.SkippedNullValue, "skipped_duplicate_message",
            "roots", "roots_not_prompter", "roots_wrong_lang", "roots_deleted", "roots_review_rejected", "roots_blank_text",
            "eligible_roots", "replies_to_eligible_roots", "replies_not_assistant", "replies_unranked", "replies_rank_above_0",
            "replies_wrong_lang", "replies_deleted", "replies_review_rejected", "replies_blank_text", "extra_rank0_replies",
            "roots_without_eligible_reply", "eligible_pairs", "not_sampled", "pairs_written");
        stats.SetInfo("lang", options.Lang);
        stats.SetInfo("count", options.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        stats.SetInfo("seed", options.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var roots = new Dictionary<string, OasstMessage>(StringComparer.Ordinal);
        // Every non-root message is kept as (parent, verdict) and, when it could be a seed reply, its text;
        // whether its parent is an eligible root is only known once all inputs are read.
        var children = new List<(string Parent, string? Reason, OasstMessage? Message)>();
        for (int f = 0; f < inputs.Count; f++)
        {
            string input = inputs[f];
            stats.Add("files");
            await foreach (OasstMessage m in OasstReader.ReadAsync(input, stats, cancellationToken))
            {
                stats.Add("messages_read");
                if (!seen.Add(m.MessageId))
                {
                    stats.Skip("skipped_duplicate_message", m.Where);
                    continue;
                }
                if (m.ParentId == null)
                {
                    stats.Add("roots");
                    string? reason = m.Role != "prompter" ? "roots_not_prompter"
                        : m.Lang != options.Lang ? "roots_wrong_lang"
                        : m.Deleted ? "roots_deleted"
                        : m.ReviewResult == false ? "roots_review_rejected"
                        : string.IsNullOrWhiteSpace(m.Text) ? "roots_blank_text"
                        : null;
                    if (reason != null) stats.Add(reason);
                    else roots[m.MessageId] = m;
                }
                else
                {
                    string? reason = m.Role != "assistant" ? "replies_not_assistant"
                        : m.Rank is null ? "replies_unranked"
                        : m.Rank != 0 ? "replies_rank_above_0"
                        : m.Lang != options.Lang ? "replies_wrong_lang"
                        : m.Deleted ? "replies_deleted"
                        : m.ReviewResult == false ? "replies_review_rejected"
                        : string.IsNullOrWhiteSpace(m.Text) ? "replies_blank_text"
                        : null;
                    children.Add((m.ParentId, reason, reason == null ? m : null));
                }
            }
            progress?.Report(new ProgressInfo("seed: read oasst1", f + 1, inputs.Count, "files"));
        }
        stats.Add("eligible_roots", roots.Count);

        var best = new Dictionary<string, OasstMessage>(StringComparer.Ordinal);
        foreach (var (parent, reason, message) in children)
        {
            if (!roots.ContainsKey(parent)) continue;
            stats.Add("replies_to_eligible_roots");
            if (reason != null)
            {
                stats.Add(reason);
                continue;
            }
            if (best.TryGetValue(parent, out OasstMessage? other))
            {
                stats.Add("extra_rank0_replies");
                if (string.CompareOrdinal(message!.MessageId, other.MessageId) >= 0) continue;
            }
            best[parent] = message!;
        }

        var pairs = new List<PairRecord>(best.Count);
        foreach (OasstMessage root in roots.Values)
        {
            if (!best.TryGetValue(root.MessageId, out OasstMessage? reply))
            {
                stats.Add("roots_without_eligible_reply");
                continue;
            }
            pairs.Add(new PairRecord($"{Source}/{root.MessageTreeId}", root.Text, reply.Text, Source,
                root.MessageTreeId, root.MessageId, reply.MessageId, root.Lang));
        }
        stats.Add("eligible_pairs", pairs.Count);

        List<PairRecord> sample = Sample(pairs, options.Count, options.Seed, p => p.MessageTreeId ?? p.Id);
        stats.Add("not_sampled", pairs.Count - sample.Count);
        if (sample.Count < options.Count)
            stats.SetInfo("warning", $"asked for {options.Count} pairs, only {sample.Count} are eligible");
        return (sample, stats);
    }

    /// <summary>The first <paramref name="count"/> items ordered by (Keyed(key, seed), key): a deterministic sample
    /// that does not depend on the order of <paramref name="items"/>.</summary>
    public static List<T> Sample<T>(IEnumerable<T> items, int count, long seed, Func<T, string> key) =>
        items.Select(x => (Item: x, Key: key(x)))
             .OrderBy(x => StableHash.Keyed(x.Key, seed))
             .ThenBy(x => x.Key, StringComparer.Ordinal)
             .Take(count)
             .Select(x => x.Item)
             .ToList();

    /// <summary>Runs <see cref="BuildAsync"/> and writes the pairs to <paramref name="output"/> (seed-pairs schema)
    /// and the stats beside it.</summary>
    public static async Task<DataStats> RunAsync(IReadOnlyList<string> inputs, string output, OasstSeedOptions options,
        IProgress<ProgressInfo>? progress = null, CancellationToken cancellationToken = default)
    {
        var (pairs, stats) = await BuildAsync(inputs, options, progress, cancellationToken);
        stats.Add("pairs_written", await PairsFile.WriteAsync(output, pairs, PairsFile.SeedTag, cancellationToken));
        stats.SetInfo("output", output);
        stats.SaveBeside(output);
        return stats;
    }

    /// <summary>The backward-model set: every pair of <paramref name="input"/> reversed (output → instruction).</summary>
    public static async Task<DataStats> WriteBackwardAsync(string input, string output, CancellationToken cancellationToken = default)
    {
        var stats = new DataStats("backward", "pairs_read", "pairs_written");
        var pairs = new List<PairRecord>();
        await foreach (PairRecord p in PairsFile.ReadAsync(input, cancellationToken))
        {
            stats.Add("pairs_read");
            pairs.Add(p.Reversed());
        }
        stats.Add("pairs_written", await PairsFile.WriteAsync(output, pairs, PairsFile.BackwardTag, cancellationToken));
        stats.SetInfo("input", input);
        stats.SetInfo("output", output);
        stats.SaveBeside(output);
        return stats;
    }
}
