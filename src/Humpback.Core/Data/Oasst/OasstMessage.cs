namespace Humpback.Data;

/// <summary>The fields of an oasst1 message that the seed step uses (the published files have more: user_id,
/// created_date, review_count, synthetic, model_name, detoxify, emojis, labels, …, all ignored).</summary>
/// <param name="ParentId">null for the root (the first prompt of a conversation tree)</param>
/// <param name="Role">"prompter" or "assistant"</param>
/// <param name="Rank">the reviewers' rank among sibling replies, 0 = best; null when not ranked</param>
/// <param name="ReviewResult">false when reviewers rejected the message; null when not reviewed</param>
/// <param name="Where">"file:row N" or "file:line N", for messages</param>
public sealed record OasstMessage(
    string MessageId,
    string? ParentId,
    string MessageTreeId,
    string Role,
    string? Lang,
    string Text,
    int? Rank,
    bool Deleted,
    bool? ReviewResult,
    string Where);
