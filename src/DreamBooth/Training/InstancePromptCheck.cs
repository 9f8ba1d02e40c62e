using DreamBooth.Tokenization;

namespace DreamBooth.Training;

/// <summary>
/// The "does the instance prompt contain the identifier" check (a warning, not an error: captions may legitimately
/// differ). With <c>--identifier</c> the prompt must contain that word; without it, a class prompt tells: the instance
/// prompt should have a word the class prompt lacks ("a photo of sks dog" vs "a photo of dog" → "sks"). The identifier
/// should also be a single token of the tokenizer, as the paper recommends rare single-token identifiers.
/// </summary>
public static class InstancePromptCheck
{
    /// <summary>The warnings for <paramref name="instancePrompts"/> (the instance prompt and any caption prompts).</summary>
    public static IReadOnlyList<string> Warnings(IEnumerable<string> instancePrompts, string? classPrompt, string? identifier, ClipTokenizer? tokenizer)
    {
        var warnings = new List<string>();
        var prompts = instancePrompts.Distinct(StringComparer.Ordinal).ToList();
        if (identifier is not null)
        {
            var id = Normalize(identifier);
            var missing = prompts.Where(p => !Words(p).Contains(id)).ToList();
            if (missing.Count > 0)
                warnings.Add($"instance prompt '{missing[0]}' does not contain the identifier '{identifier}'{(missing.Count > 1 ? $" ({missing.Count} prompts lack it)" : "")}");
            if (tokenizer is not null && tokenizer.Tokenize(identifier).Count is var n and > 1)
                warnings.Add($"--identifier '{identifier}' is {n} tokens for this tokenizer; the paper recommends a rare single-token identifier");
        }
        else if (classPrompt is not null)
        {
            var classWords = Words(classPrompt);
            var missing = prompts.Where(p => Words(p).All(classWords.Contains)).ToList();
            if (missing.Count > 0)
                warnings.Add($"instance prompt '{missing[0]}' has no identifier: every word of it is also in the class prompt '{classPrompt}' (use e.g. 'a photo of sks {classWords.LastOrDefault() ?? "dog"}', or name it with --identifier)");
        }
        return warnings;
    }

    private static string Normalize(string word) => word.Trim().ToLowerInvariant();

    // Lower-cased words, punctuation at either end removed (keeps "[v]" style placeholders intact).
    private static HashSet<string> Words(string prompt) =>
        prompt.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .Select(w => w.ToLowerInvariant().Trim(',', '.', ';', ':', '!', '?', '"', '\'', '(', ')'))
            .Where(w => w.Length > 0).ToHashSet(StringComparer.Ordinal);
}
