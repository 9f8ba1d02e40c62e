namespace DreamBooth.TinyWorld;

/// <summary>
/// Captions for scenes. <see cref="Caption"/> names the class always and each attribute at random, so that short
/// captions such as "a photo of a dog" are in the pretraining distribution as well as fully specified ones:
/// prefix for photos 85 % ("a dog on the grass" otherwise; paintings and sketches always say so), colour 70 %,
/// pattern 65 % (plain 15 %; half of the named patterns with their colour: "with white spots"), marking 50 %,
/// context 85 %.
/// </summary>
public static class Captioner
{
    /// <summary>A random caption of <paramref name="scene"/> (attributes dropped at random).</summary>
    public static CaptionParts Caption(SceneSpec scene, ref WorldRandom rng)
    {
        var a = scene.Subject;
        var parts = new CaptionParts
        {
            Class = a.Class,
            Style = scene.Style != RenderStyle.Photo || rng.Chance(0.85) ? scene.Style : null,
            Color = rng.Chance(0.70) ? a.Color : null,
            Context = rng.Chance(0.85) ? scene.Context : null,
        };
        if (a.Pattern == Pattern.Plain ? rng.Chance(0.15) : rng.Chance(0.65))
            parts = parts with { Pattern = a.Pattern, PatternColor = a.Pattern != Pattern.Plain && rng.Chance(0.5) ? a.PatternColor : null };
        if (a.Marking != Marking.None && rng.Chance(0.5)) parts = parts with { Marking = a.Marking };
        return parts;
    }

    /// <summary>The caption naming everything captions can name (class, colour, pattern with colour, marking, context, style).</summary>
    public static CaptionParts Describe(SceneSpec scene)
    {
        var a = scene.Subject;
        return new CaptionParts
        {
            Class = a.Class,
            Style = scene.Style,
            Color = a.Color,
            Pattern = a.Pattern,
            PatternColor = a.Pattern == Pattern.Plain ? null : a.PatternColor,
            Marking = a.Marking == Marking.None ? null : a.Marking,
            Context = scene.Context,
        };
    }

    /// <summary>Every word any caption can contain (the class nouns, attribute words and grammar words), sorted.</summary>
    public static IReadOnlyList<string> Words { get; } = BuildWords();

    private static IReadOnlyList<string> BuildWords()
    {
        var words = new SortedSet<string>(StringComparer.Ordinal) { "a", "an", "of", "with", "and" };
        foreach (var s in Enum.GetValues<RenderStyle>()) words.UnionWith(WorldLabels.Prefix(s).Split(' '));
        foreach (var c in Enum.GetValues<SubjectClass>()) words.Add(WorldLabels.Noun(c));
        foreach (var c in Enum.GetValues<WorldColor>()) words.Add(WorldLabels.Word(c));
        foreach (var p in Enum.GetValues<Pattern>())
        {
            words.Add(WorldLabels.Adjective(p));
            if (p != Pattern.Plain) words.Add(WorldLabels.PluralNoun(p));
        }
        foreach (var m in Enum.GetValues<Marking>()) if (m != Marking.None) words.Add(WorldLabels.Noun(m));
        foreach (var c in Enum.GetValues<WorldContext>()) words.UnionWith(WorldLabels.Phrase(c).Split(' '));
        return words.ToList();
    }
}
