using System.Text.RegularExpressions;
using DreamBooth.TinyWorld;

namespace DreamBooth.Evaluation;

/// <summary>
/// Maps a free-form prompt to the world's labels: the class noun (singular or plural), a DreamBooth identifier (an
/// unknown word right before the class noun: "a photo of sks dog", "a sks dog"), colours, pattern, marking, context
/// and rendition. Lenient by design (any word order, case, punctuation); a prompt without a rendition word is a photo.
/// </summary>
public static partial class PromptLabels
{
    private static readonly HashSet<string> WorldWords = new(Captioner.Words, StringComparer.Ordinal);

    [GeneratedRegex("[a-z]+")]
    private static partial Regex WordPattern();

    /// <summary>The labels <paramref name="prompt"/> names (null = not named; <see cref="CaptionParts.Style"/> defaults to photo).</summary>
    public static CaptionParts Parse(string prompt)
    {
        var words = WordPattern().Matches(prompt.ToLowerInvariant()).Select(m => m.Value).ToList();
        var parts = new CaptionParts { Style = ParseStyle(words) };

        int nounAt = -1;
        for (int i = 0; i < words.Count && nounAt < 0; i++)
            foreach (var c in Enum.GetValues<SubjectClass>())
                if (words[i] == WorldLabels.Noun(c) || words[i] == WorldLabels.Noun(c) + "s") { parts = parts with { Class = c }; nounAt = i; break; }
        if (nounAt > 0 && !WorldWords.Contains(words[nounAt - 1]) && !IsColor(words[nounAt - 1], out _) && !IsPatternAdjective(words[nounAt - 1], out _))
            parts = parts with { Identifier = words[nounAt - 1] };

        for (int i = 0; i < words.Count; i++)
        {
            if (IsColor(words[i], out var color))
            {
                if (i + 1 < words.Count && IsPatternNoun(words[i + 1], out var pattern))
                    parts = parts with { PatternColor = color, Pattern = pattern };
                else parts = parts with { Color = parts.Color ?? color };
            }
            else if (IsPatternAdjective(words[i], out var adjective)) parts = parts with { Pattern = parts.Pattern ?? adjective };
            else if (IsPatternNoun(words[i], out var noun)) parts = parts with { Pattern = parts.Pattern ?? noun };
        }
        foreach (var m in Enum.GetValues<Marking>())
            if (m != Marking.None && words.Contains(WorldLabels.Noun(m))) parts = parts with { Marking = m };
        foreach (var ctx in Enum.GetValues<WorldContext>())
            if (words.Contains(WorldLabels.KeyWord(ctx)) || ContextSynonyms(ctx).Any(words.Contains)) { parts = parts with { Context = ctx }; break; }
        return parts;
    }

    /// <summary>The rendition a prompt asks for; photo when it names none.</summary>
    public static RenderStyle ExpectedStyle(CaptionParts parts) => parts.Style ?? RenderStyle.Photo;

    private static RenderStyle? ParseStyle(List<string> words)
    {
        if (words.Contains("sketch") || words.Contains("pencil") || words.Contains("drawing")) return RenderStyle.PencilSketch;
        if (words.Contains("painting") || words.Contains("painted")) return RenderStyle.Painting;
        if (words.Contains("photo") || words.Contains("photograph")) return RenderStyle.Photo;
        return null;
    }

    private static IEnumerable<string> ContextSynonyms(WorldContext c) => c switch
    {
        WorldContext.Grass => new[] { "grassy", "meadow", "lawn" },
        WorldContext.Beach => new[] { "seaside", "shore" },
        WorldContext.Snow => new[] { "snowy", "winter" },
        WorldContext.Night => new[] { "nighttime", "moonlight" },
        WorldContext.City => new[] { "street", "urban" },
        WorldContext.Desert => new[] { "dunes" },
        _ => Array.Empty<string>(),
    };

    private static bool IsColor(string w, out WorldColor color)
    {
        foreach (var c in Enum.GetValues<WorldColor>())
            if (WorldLabels.Word(c) == w) { color = c; return true; }
        color = default;
        return false;
    }

    private static bool IsPatternAdjective(string w, out Pattern pattern)
    {
        foreach (var p in Enum.GetValues<Pattern>())
            if (WorldLabels.Adjective(p) == w) { pattern = p; return true; }
        pattern = default;
        return false;
    }

    private static bool IsPatternNoun(string w, out Pattern pattern)
    {
        foreach (var p in Enum.GetValues<Pattern>())
            if (p != Pattern.Plain && WorldLabels.PluralNoun(p) == w) { pattern = p; return true; }
        pattern = default;
        return false;
    }
}
