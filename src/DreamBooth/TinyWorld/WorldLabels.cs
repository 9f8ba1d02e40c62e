namespace DreamBooth.TinyWorld;

/// <summary>The subject classes of the tiny world; their nouns are <see cref="WorldLabels.Noun(SubjectClass)"/>.</summary>
public enum SubjectClass { Dog, Cat, Bird, Car, Cup, Backpack }

/// <summary>Body, pattern and marking colours.</summary>
public enum WorldColor { Red, Orange, Yellow, Green, Blue, Purple, White, Black }

/// <summary>Coat / surface patterns, drawn in a second colour over the body.</summary>
public enum Pattern { Plain, Striped, Spotted, Checkered }

/// <summary>A symbol on the subject's side. <see cref="Marking.Heart"/> is reserved for the demo subject.</summary>
public enum Marking { None, Star, Diamond, Cross, Heart }

/// <summary>Backgrounds ("contexts" in the paper's sense).</summary>
public enum WorldContext { Grass, Beach, Snow, Night, City, Desert }

/// <summary>Renditions: a photo or an art style.</summary>
public enum RenderStyle { Photo, Painting, PencilSketch }

/// <summary>The words the world's captions use for each label, and their inverse.</summary>
public static class WorldLabels
{
    /// <summary>The class noun: "dog", "cat", ...</summary>
    public static string Noun(SubjectClass c) => c switch
    {
        SubjectClass.Dog => "dog",
        SubjectClass.Cat => "cat",
        SubjectClass.Bird => "bird",
        SubjectClass.Car => "car",
        SubjectClass.Cup => "cup",
        SubjectClass.Backpack => "backpack",
        _ => throw new ArgumentOutOfRangeException(nameof(c)),
    };

    /// <summary>The colour adjective: "red", ...</summary>
    public static string Word(WorldColor c) => c.ToString().ToLowerInvariant();

    /// <summary>The pattern adjective: "plain", "striped", "spotted", "checkered".</summary>
    public static string Adjective(Pattern p) => p.ToString().ToLowerInvariant();

    /// <summary>The pattern as a plural noun after "with white ...": "stripes", "spots", "checks" (none for plain).</summary>
    public static string PluralNoun(Pattern p) => p switch
    {
        Pattern.Striped => "stripes",
        Pattern.Spotted => "spots",
        Pattern.Checkered => "checks",
        _ => throw new ArgumentOutOfRangeException(nameof(p), p, "a plain body has no pattern noun"),
    };

    /// <summary>The marking noun after "with a ...": "star", "diamond", "cross", "heart".</summary>
    public static string Noun(Marking m) => m == Marking.None
        ? throw new ArgumentOutOfRangeException(nameof(m), m, "no noun for no marking")
        : m.ToString().ToLowerInvariant();

    /// <summary>The context phrase at the end of a caption.</summary>
    public static string Phrase(WorldContext c) => c switch
    {
        WorldContext.Grass => "on the grass",
        WorldContext.Beach => "on the beach",
        WorldContext.Snow => "in the snow",
        WorldContext.Night => "at night",
        WorldContext.City => "in the city",
        WorldContext.Desert => "in the desert",
        _ => throw new ArgumentOutOfRangeException(nameof(c)),
    };

    /// <summary>The context's key word (the last word of its phrase).</summary>
    public static string KeyWord(WorldContext c) => Phrase(c)[(Phrase(c).LastIndexOf(' ') + 1)..];

    /// <summary>The rendition prefix: "a photo of", "a painting of", "a pencil sketch of".</summary>
    public static string Prefix(RenderStyle s) => s switch
    {
        RenderStyle.Photo => "a photo of",
        RenderStyle.Painting => "a painting of",
        RenderStyle.PencilSketch => "a pencil sketch of",
        _ => throw new ArgumentOutOfRangeException(nameof(s)),
    };

    /// <summary>Short label names for tables and JSON (snake_case): "pencil_sketch", "grass", ...</summary>
    public static string Name<T>(T value) where T : struct, Enum =>
        string.Concat(value.ToString().Select((ch, i) => char.IsUpper(ch) && i > 0 ? "_" + char.ToLowerInvariant(ch) : char.ToLowerInvariant(ch).ToString()));

    /// <summary>Number of values of a label enum.</summary>
    public static int Count<T>() where T : struct, Enum => Enum.GetValues<T>().Length;
}
