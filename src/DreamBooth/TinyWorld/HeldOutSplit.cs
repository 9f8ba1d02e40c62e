namespace DreamBooth.TinyWorld;

/// <summary>A (class, colour, context) combination that never appears in pretraining scenes.</summary>
public sealed record HeldOutCombination(SubjectClass Class, WorldColor Color, WorldContext Context)
{
    /// <summary>The evaluation prompt: "a photo of a red dog on the beach".</summary>
    public string Prompt => Labels.ToString();

    /// <summary>The labels the prompt names.</summary>
    public CaptionParts Labels => new() { Style = RenderStyle.Photo, Class = Class, Color = Color, Context = Context };
}

/// <summary>
/// The held-out split for evaluating the base model's compositional generalisation: twelve (class, colour, context)
/// triples, two per class, covering every colour and every context at least once. No pretraining scene has one of
/// them (in any style, named in the caption or not), while each of its three parts is common in pretraining.
/// </summary>
public static class HeldOutSplit
{
    /// <summary>The held-out triples.</summary>
    public static IReadOnlyList<HeldOutCombination> Combinations { get; } = new HeldOutCombination[]
    {
        new(SubjectClass.Dog, WorldColor.Red, WorldContext.Beach),
        new(SubjectClass.Dog, WorldColor.Green, WorldContext.City),
        new(SubjectClass.Cat, WorldColor.Blue, WorldContext.Desert),
        new(SubjectClass.Cat, WorldColor.Yellow, WorldContext.Snow),
        new(SubjectClass.Bird, WorldColor.Orange, WorldContext.Night),
        new(SubjectClass.Bird, WorldColor.White, WorldContext.Grass),
        new(SubjectClass.Car, WorldColor.Purple, WorldContext.Beach),
        new(SubjectClass.Car, WorldColor.Black, WorldContext.Snow),
        new(SubjectClass.Cup, WorldColor.Green, WorldContext.Night),
        new(SubjectClass.Cup, WorldColor.Red, WorldContext.Desert),
        new(SubjectClass.Backpack, WorldColor.Yellow, WorldContext.City),
        new(SubjectClass.Backpack, WorldColor.Blue, WorldContext.Grass),
    };

    /// <summary>True when the scene's (class, body colour, context) is held out.</summary>
    public static bool Contains(SceneSpec scene) =>
        Combinations.Any(h => h.Class == scene.Subject.Class && h.Color == scene.Subject.Color && h.Context == scene.Context);
}
