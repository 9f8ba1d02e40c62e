namespace DreamBooth.TinyWorld;

/// <summary>
/// The demo subject: one dog whose appearance the base model never sees — a purple body with yellow spots (a
/// colour pair absent from pretraining, for every class and pattern) and a white heart on its side (the heart marking
/// is reserved: no pretraining scene carries it). <c>samples/</c> holds <see cref="PhotoCount"/> photos of it on the
/// grass, made by <see cref="Photos"/> with <see cref="PhotoSeed"/>.
/// </summary>
public static class DemoSubject
{
    /// <summary>The class noun of the subject ("dog").</summary>
    public static string ClassNoun => WorldLabels.Noun(Appearance.Class);

    /// <summary>The context of the subject photos.</summary>
    public const WorldContext Context = WorldContext.Grass;

    /// <summary>The seed of the shipped photos.</summary>
    public const long PhotoSeed = 2023;

    /// <summary>The number of shipped photos.</summary>
    public const int PhotoCount = 5;

    /// <summary>The marking no pretraining scene carries.</summary>
    public const Marking ReservedMarking = Marking.Heart;

    /// <summary>The instance.</summary>
    public static SubjectAppearance Appearance { get; } = new(
        SubjectClass.Dog, WorldColor.Purple, Pattern.Spotted, WorldColor.Yellow, ReservedMarking, WorldColor.White, Variant: 0, Detail: 0x5EED_D06u);

    /// <summary>
    /// True when <paramref name="a"/> shares the demo subject's distinctive appearance: the reserved marking, or the
    /// (body colour, pattern colour) pair of a patterned body. Such subjects are excluded from pretraining.
    /// </summary>
    public static bool Resembles(SubjectAppearance a) =>
        a.Marking == ReservedMarking || (a.Pattern != Pattern.Plain && a.Color == Appearance.Color && a.PatternColor == Appearance.PatternColor);

    /// <summary>The subject photos: <paramref name="count"/> photos in <see cref="Context"/> with varied pose, size, position and facing.</summary>
    public static IReadOnlyList<SceneSpec> Photos(long seed = PhotoSeed, int count = PhotoCount)
    {
        var list = new List<SceneSpec>(count);
        for (int i = 0; i < count; i++)
        {
            var rng = WorldRandom.For(seed, i, stream: 0xD0C);
            var scene = SceneSampler.SampleSceneOf(ref rng, Appearance, Context, RenderStyle.Photo);
            // Alternate facing so the photos show both sides, as a photographer would.
            list.Add(scene with { Placement = scene.Placement with { Mirror = i % 2 == 1 } });
        }
        return list;
    }

    /// <summary>
    /// True when every image [3, H, W] in [0, 1] is one of the shipped photos (<see cref="Photos"/> with the default seed
    /// and count, within 8-bit rounding): only then do ground-truth renders of the subject mean anything for a run.
    /// </summary>
    public static bool AreItsPhotos(IReadOnlyList<TorchSharp.torch.Tensor> images)
    {
        if (images.Count == 0) return false;
        using var scope = TorchSharp.torch.NewDisposeScope();
        var shipped = Photos().Select(SceneRenderer.RenderTensor).ToList();
        return images.All(image => shipped.Any(s => s.shape.SequenceEqual(image.shape) && s.sub(image).abs().max().item<float>() <= 1.01f / 255));
    }

    /// <summary>The subject in another context and style (ground truth for tests and metric sanity checks).</summary>
    public static SceneSpec In(WorldContext context, RenderStyle style, ref WorldRandom rng) =>
        SceneSampler.SampleSceneOf(ref rng, Appearance, context, style);
}
