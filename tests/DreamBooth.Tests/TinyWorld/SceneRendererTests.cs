using DreamBooth.TinyWorld;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.TinyWorld;

public class SceneRendererTests
{
    private static readonly SceneSpec Base = new(
        new SubjectAppearance(SubjectClass.Dog, WorldColor.Red, Pattern.Plain, WorldColor.Red, Marking.None, WorldColor.Red, 0, 42u),
        WorldContext.Grass, RenderStyle.Photo, Placement.Default, 7u);

    /// <summary>Mean absolute pixel difference (0–1 scale).</summary>
    private static double Diff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Average();

    [Fact]
    public void Same_spec_gives_the_same_pixels_and_values_in_range()
    {
        var a = SceneRenderer.Render(Base);
        var b = SceneRenderer.Render(Base with { });
        a.Should().HaveCount(3 * 64 * 64).And.Equal(b);
        a.Should().OnlyContain(v => v >= 0f && v <= 1f);
    }

    [Fact]
    public void Dataset_items_are_deterministic_by_seed_and_index()
    {
        var d1 = new TinyWorldDataset(seed: 11);
        var d2 = new TinyWorldDataset(seed: 11);
        var (img1, cap1) = d1.GetItem(123456789);
        var (img2, cap2) = d2.GetItem(123456789);
        cap1.Should().Be(cap2);
        img1.shape.Should().Equal(3, 64, 64);
        img1.allclose(img2, 0, 0).Should().BeTrue();
        ((double)img1.min().item<float>()).Should().BeGreaterThanOrEqualTo(-1);
        ((double)img1.max().item<float>()).Should().BeLessThanOrEqualTo(1);
        var (batch, caps) = d1.GetBatch(123456788, 3, parallelism: 2);
        batch.shape.Should().Equal(3, 3, 64, 64);
        caps[1].Should().Be(cap1);
        batch[1].allclose(img1, 0, 0).Should().BeTrue();
        d1.Example(5).Should().NotBe(d1.Example(6));
        new TinyWorldDataset(seed: 12).Example(5).Scene.Should().NotBe(d1.Example(5).Scene);
    }

    [Fact]
    public void Every_class_renders_and_differs()
    {
        var renders = Enum.GetValues<SubjectClass>().Select(c => SceneRenderer.Render(Base with { Subject = Base.Subject with { Class = c } })).ToList();
        AllPairsDiffer(renders, 0.01);
    }

    [Fact]
    public void Every_colour_pattern_marking_and_build_renders_and_differs()
    {
        AllPairsDiffer(Enum.GetValues<WorldColor>().Select(c => SceneRenderer.Render(Base with { Subject = Base.Subject with { Color = c } })).ToList(), 0.005);
        AllPairsDiffer(Enum.GetValues<Pattern>().Select(p => SceneRenderer.Render(Base with { Subject = (Base.Subject with { Pattern = p, PatternColor = WorldColor.White }).Canonical() })).ToList(), 0.003);
        AllPairsDiffer(Enum.GetValues<Marking>().Select(m => SceneRenderer.Render(Base with { Subject = (Base.Subject with { Marking = m, MarkingColor = WorldColor.White }).Canonical() })).ToList(), 0.001);
        foreach (var c in Enum.GetValues<SubjectClass>())
        {
            var s = Base with { Subject = Base.Subject with { Class = c } };
            Diff(SceneRenderer.Render(s), SceneRenderer.Render(s with { Subject = s.Subject with { Variant = 1 } })).Should().BeGreaterThan(0.002, $"{c} builds differ");
        }
    }

    [Fact]
    public void Every_context_and_style_renders_and_differs()
    {
        AllPairsDiffer(Enum.GetValues<WorldContext>().Select(c => SceneRenderer.Render(Base with { Context = c })).ToList(), 0.05);
        AllPairsDiffer(Enum.GetValues<RenderStyle>().Select(s => SceneRenderer.Render(Base with { Style = s })).ToList(), 0.05);
        // A pencil sketch has no colour.
        var sketch = SceneRenderer.Render(Base with { Style = RenderStyle.PencilSketch });
        double chroma = Enumerable.Range(0, 64 * 64).Average(i => Math.Abs(sketch[i] - sketch[2 * 4096 + i]));
        chroma.Should().BeLessThan(0.06);
    }

    [Fact]
    public void Placement_moves_mirrors_and_scales_the_subject()
    {
        var a = SceneRenderer.Render(Base);
        Diff(a, SceneRenderer.Render(Base with { Placement = Base.Placement with { Mirror = true } })).Should().BeGreaterThan(0.01);
        Diff(a, SceneRenderer.Render(Base with { Placement = Base.Placement with { X = 28 } })).Should().BeGreaterThan(0.01);
        Diff(a, SceneRenderer.Render(Base with { Placement = Base.Placement with { Scale = 0.8f } })).Should().BeGreaterThan(0.01);
        Diff(a, SceneRenderer.Render(Base with { Placement = Base.Placement with { Pose = 0.1f } })).Should().BeGreaterThan(0.002);
    }

    private static void AllPairsDiffer(List<float[]> renders, double threshold)
    {
        for (int i = 0; i < renders.Count; i++)
            for (int j = i + 1; j < renders.Count; j++)
                Diff(renders[i], renders[j]).Should().BeGreaterThan(threshold, $"renders {i} and {j} must differ");
    }
}
