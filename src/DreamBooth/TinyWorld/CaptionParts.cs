namespace DreamBooth.TinyWorld;

/// <summary>
/// The labels a caption names (null = not mentioned) and their text in the world's grammar:
/// <code>
/// caption  := [prefix] article ["plain"] [colour] [pattern-adjective] noun [with-list] [context]
///           | [prefix] identifier noun [context]                     (DreamBooth prompts: "a photo of sks dog")
/// prefix   := "a photo of" | "a painting of" | "a pencil sketch of"
/// article  := "a" | "an" (before a vowel)
/// with-list:= "with" (colour pattern-noun ["and a" marking] | "a" marking)
/// context  := "on the grass" | "on the beach" | "in the snow" | "at night" | "in the city" | "in the desert"
/// </code>
/// e.g. "a photo of a red dog", "a painting of a blue cat with white stripes and a star in the snow".
/// A pattern is named either as an adjective ("a red striped dog", "a plain red dog") or, with its colour, in the with-list.
/// </summary>
public sealed record CaptionParts
{
    /// <summary>The rendition prefix; null for a caption without one (a photo by convention).</summary>
    public RenderStyle? Style { get; init; }
    public SubjectClass? Class { get; init; }
    /// <summary>A DreamBooth identifier token placed before the class noun ("sks"), replacing the article.</summary>
    public string? Identifier { get; init; }
    public WorldColor? Color { get; init; }
    public Pattern? Pattern { get; init; }
    /// <summary>The pattern's colour; when set, the pattern is named in the with-list ("with white stripes").</summary>
    public WorldColor? PatternColor { get; init; }
    public Marking? Marking { get; init; }
    public WorldContext? Context { get; init; }

    /// <summary>The caption text.</summary>
    public override string ToString()
    {
        var words = new List<string>();
        if (Style is { } style) words.Add(WorldLabels.Prefix(style));
        string noun = Class is { } c ? WorldLabels.Noun(c) : throw new InvalidOperationException("a caption needs a class noun");
        if (Identifier is not null)
        {
            words.Add(Identifier);
            words.Add(noun);
        }
        else
        {
            var phrase = new List<string>();
            bool patternInWithList = Pattern is { } p0 && p0 != TinyWorld.Pattern.Plain && PatternColor is not null;
            if (Pattern == TinyWorld.Pattern.Plain) phrase.Add(WorldLabels.Adjective(TinyWorld.Pattern.Plain));
            if (Color is { } color) phrase.Add(WorldLabels.Word(color));
            if (Pattern is { } p && p != TinyWorld.Pattern.Plain && !patternInWithList) phrase.Add(WorldLabels.Adjective(p));
            phrase.Add(noun);
            words.Add(IsVowel(phrase[0][0]) ? "an" : "a");
            words.AddRange(phrase);
            var with = new List<string>();
            if (patternInWithList) with.Add($"{WorldLabels.Word(PatternColor!.Value)} {WorldLabels.PluralNoun(Pattern!.Value)}");
            if (Marking is { } m && m != TinyWorld.Marking.None) with.Add($"a {WorldLabels.Noun(m)}");
            if (with.Count > 0) words.Add("with " + string.Join(" and ", with));
        }
        if (Context is { } ctx) words.Add(WorldLabels.Phrase(ctx));
        return string.Join(" ", words);
    }

    private static bool IsVowel(char ch) => "aeiou".Contains(ch);
}
