using DreamBooth.TinyWorld;

namespace DreamBooth.Evaluation;

/// <summary>One classification head of the probe: its name, label names, and the ground truth of a scene (−1 = not applicable).</summary>
public sealed record ProbeTask(string Name, IReadOnlyList<string> Labels, Func<SceneSpec, int> Target);

/// <summary>The probe's heads: what a tiny-world image shows, read back from pixels.</summary>
public static class ProbeTasks
{
    public const string Class = "class", Color = "color", Pattern = "pattern", PatternColor = "pattern_color",
        Marking = "marking", MarkingColor = "marking_color", Context = "context", Style = "style", Variant = "variant";

    /// <summary>All heads, in the order of the network's outputs.</summary>
    public static IReadOnlyList<ProbeTask> All { get; } = new ProbeTask[]
    {
        new(Class, Names<SubjectClass>(), s => (int)s.Subject.Class),
        new(Color, Names<WorldColor>(), s => (int)s.Subject.Color),
        new(Pattern, Names<TinyWorld.Pattern>(), s => (int)s.Subject.Pattern),
        new(PatternColor, Names<WorldColor>(), s => s.Subject.Pattern == TinyWorld.Pattern.Plain ? -1 : (int)s.Subject.PatternColor),
        new(Marking, Names<TinyWorld.Marking>(), s => (int)s.Subject.Marking),
        new(MarkingColor, Names<WorldColor>(), s => s.Subject.Marking == TinyWorld.Marking.None ? -1 : (int)s.Subject.MarkingColor),
        new(Context, Names<WorldContext>(), s => (int)s.Context),
        new(Style, Names<RenderStyle>(), s => (int)s.Style),
        new(Variant, Enumerable.Range(0, SubjectAppearance.VariantCount).Select(i => i.ToString()).ToArray(), s => s.Subject.Variant),
    };

    /// <summary>The head named <paramref name="name"/>.</summary>
    public static ProbeTask Get(string name) => All.FirstOrDefault(t => t.Name == name) ?? throw new ArgumentException($"no probe head '{name}'");

    private static string[] Names<T>() where T : struct, Enum => Enum.GetValues<T>().Select(v => WorldLabels.Name(v)).ToArray();
}
