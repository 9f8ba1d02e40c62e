namespace DreamBooth.Tokenization;

/// <summary>
/// One prompt encoded for the CLIP text encoder, like transformers'
/// <c>tokenizer(prompt, padding="max_length", max_length=model_max_length, truncation=True)</c>.
/// </summary>
/// <param name="Prompt">The text as given.</param>
/// <param name="InputIds">bos, the first (max − 2) token ids, eos, then pad ids up to the model's max length.</param>
/// <param name="AttentionMask">1 for bos…eos, 0 for padding; same length as <paramref name="InputIds"/>.</param>
/// <param name="UntruncatedIds">bos, every token id of the prompt, eos: what the ids would be without a length limit.</param>
public sealed record TokenizedPrompt(string Prompt, int[] InputIds, int[] AttentionMask, int[] UntruncatedIds)
{
    /// <summary>Length of <see cref="UntruncatedIds"/> (bos and eos included).</summary>
    public int UntruncatedCount => UntruncatedIds.Length;

    /// <summary>How many prompt tokens truncation removed (0 when the prompt fits).</summary>
    public int DroppedTokens { get; init; }

    /// <summary>Whether truncation removed tokens.</summary>
    public bool Truncated => DroppedTokens > 0;

    /// <summary>The warning reported for a truncated prompt (how many tokens, and the text dropped), or null.</summary>
    public string? TruncationWarning { get; init; }
}
