namespace DreamBooth.TinyWorld;

/// <summary>
/// One subject instance: everything that stays the same when the same dog is photographed elsewhere (its identity).
/// <see cref="Variant"/> picks one of two body builds per class (e.g. a dog's long or short legs) and
/// <see cref="Detail"/> seeds the instance's fine detail (spot layout, stripe phase, small proportion changes).
/// Use <see cref="Canonical"/> values: a plain body carries <c>PatternColor == Color</c>, no marking carries
/// <c>MarkingColor == Color</c>.
/// </summary>
public sealed record SubjectAppearance(
    SubjectClass Class,
    WorldColor Color,
    Pattern Pattern,
    WorldColor PatternColor,
    Marking Marking,
    WorldColor MarkingColor,
    int Variant,
    uint Detail)
{
    /// <summary>Number of body builds per class.</summary>
    public const int VariantCount = 2;

    /// <summary>The same appearance with meaningless fields normalised (see the type's remarks).</summary>
    public SubjectAppearance Canonical => this with
    {
        PatternColor = Pattern == Pattern.Plain ? Color : PatternColor,
        MarkingColor = Marking == Marking.None ? Color : MarkingColor,
    };
}

/// <summary>
/// Where and how the subject stands in the 64×64 frame: <see cref="Pose"/> in [0,1) drives legs, head, tail, wings or
/// tilt; <see cref="Scale"/> ≈ 0.8–1.05; <see cref="X"/> the horizontal centre and <see cref="Ground"/> the ground line
/// (pixels); <see cref="Mirror"/> faces the subject left.
/// </summary>
public sealed record Placement(float Pose, float Scale, float X, float Ground, bool Mirror)
{
    /// <summary>A centred, right-facing, mid-pose placement.</summary>
    public static Placement Default { get; } = new(0.5f, 0.95f, 32f, 53f, false);
}

/// <summary>
/// A complete scene: subject, context, rendition and placement, plus <see cref="BackgroundSeed"/> for the background's
/// random elements (clouds, stars, buildings). <see cref="SceneRenderer.Render(SceneSpec)"/> turns it into pixels;
/// <see cref="Captioner"/> into text.
/// </summary>
public sealed record SceneSpec(
    SubjectAppearance Subject,
    WorldContext Context,
    RenderStyle Style,
    Placement Placement,
    uint BackgroundSeed);
