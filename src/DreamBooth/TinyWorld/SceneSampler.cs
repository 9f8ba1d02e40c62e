namespace DreamBooth.TinyWorld;

/// <summary>
/// Draws random subjects, placements and scenes. The full world (<see cref="SampleScene"/>) covers every label
/// combination; <see cref="PretrainingPolicy"/> filters it for the base model.
/// </summary>
public static class SceneSampler
{
    /// <summary>A random subject instance (optionally of a given class). Half of all subjects are plain, half carry no marking.</summary>
    public static SubjectAppearance SampleAppearance(ref WorldRandom rng, SubjectClass? cls = null)
    {
        var c = cls ?? rng.PickEnum<SubjectClass>();
        var color = rng.PickEnum<WorldColor>();
        var pattern = rng.Chance(0.4) ? Pattern.Plain : (Pattern)(1 + rng.Below(3));
        var patternColor = OtherColor(ref rng, color);
        var marking = rng.Chance(0.5) ? Marking.None : (Marking)(1 + rng.Below(WorldLabels.Count<Marking>() - 1));
        var markingColor = OtherColor(ref rng, color, pattern == Pattern.Plain ? null : patternColor);
        return new SubjectAppearance(c, color, pattern, patternColor, marking, markingColor, rng.Below(SubjectAppearance.VariantCount), rng.NextUInt32()).Canonical;
    }

    /// <summary>A random placement inside the frame.</summary>
    public static Placement SamplePlacement(ref WorldRandom rng) =>
        new(rng.Range(0, 1), rng.Range(0.78f, 1.0f), rng.Range(26, 38), rng.Range(50, 56), rng.Chance(0.5));

    /// <summary>A random rendition: photos 70 %, paintings and pencil sketches 15 % each.</summary>
    public static RenderStyle SampleStyle(ref WorldRandom rng)
    {
        double u = rng.NextDouble();
        return u < 0.70 ? RenderStyle.Photo : u < 0.85 ? RenderStyle.Painting : RenderStyle.PencilSketch;
    }

    /// <summary>A random scene of the full world (no exclusions).</summary>
    public static SceneSpec SampleScene(ref WorldRandom rng) =>
        new(SampleAppearance(ref rng), rng.PickEnum<WorldContext>(), SampleStyle(ref rng), SamplePlacement(ref rng), rng.NextUInt32());

    /// <summary>The same subject in a given context and style, with a fresh placement and background.</summary>
    public static SceneSpec SampleSceneOf(ref WorldRandom rng, SubjectAppearance subject, WorldContext context, RenderStyle style) =>
        new(subject, context, style, SamplePlacement(ref rng), rng.NextUInt32());

    private static WorldColor OtherColor(ref WorldRandom rng, WorldColor a, WorldColor? b = null)
    {
        while (true)
        {
            var c = rng.PickEnum<WorldColor>();
            if (c != a && c != b) return c;
        }
    }
}
