using DreamBooth.Data;
using DreamBooth.TinyWorld;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.TinyWorld;

public class SplitTests
{
    private const int Samples = 30_000;

    [Fact]
    public void Held_out_combinations_never_appear_in_the_pretraining_stream_but_do_in_the_full_world()
    {
        var pre = new TinyWorldDataset(seed: 0);
        var full = new TinyWorldDataset(seed: 0, pretraining: false);
        int heldOutInFull = 0;
        int heldOutInPretraining = 0;
        for (int i = 0; i < Samples; i++)
        {
            if (HeldOutSplit.Contains(pre.Example(i).Scene)) heldOutInPretraining++;
            if (HeldOutSplit.Contains(full.Example(i).Scene)) heldOutInFull++;
        }
        heldOutInPretraining.Should().Be(0);
        heldOutInFull.Should().BeGreaterThan(Samples / 400, "about 1 in 288 full-world scenes is held out");
        HeldOutSplit.Combinations.Select(c => c.Class).Distinct().Should().HaveCount(WorldLabels.Count<SubjectClass>());
        HeldOutSplit.Combinations.Select(c => c.Color).Distinct().Should().HaveCount(WorldLabels.Count<WorldColor>());
        HeldOutSplit.Combinations.Select(c => c.Context).Distinct().Should().HaveCount(WorldLabels.Count<WorldContext>());
        HeldOutSplit.Combinations[0].Prompt.Should().Be("a photo of a red dog on the beach");
    }

    [Fact]
    public void The_demo_subjects_appearance_never_occurs_in_pretraining()
    {
        var pre = new TinyWorldDataset(seed: 1);
        int hearts = 0, pairs = 0;
        for (int i = 0; i < Samples; i++)
        {
            var s = pre.Example(i).Scene.Subject;
            if (s.Marking == DemoSubject.ReservedMarking) hearts++;
            if (s.Pattern != Pattern.Plain && s.Color == DemoSubject.Appearance.Color && s.PatternColor == DemoSubject.Appearance.PatternColor) pairs++;
        }
        hearts.Should().Be(0, "the heart marking is reserved for the demo subject");
        pairs.Should().Be(0, "no pretraining subject has the demo subject's colour pair");
        var full = new TinyWorldDataset(seed: 1, pretraining: false);
        Enumerable.Range(0, 2000).Count(i => DemoSubject.Resembles(full.Example(i).Scene.Subject)).Should().BeGreaterThan(50, "the exclusion, not the sampler, keeps them out");
        DemoSubject.Resembles(DemoSubject.Appearance).Should().BeTrue();
        // Its class, colours, pattern and context are all common in pretraining.
        var parts = Enumerable.Range(0, 2000).Select(i => pre.Example(i).Scene).ToList();
        parts.Should().Contain(s => s.Subject.Class == SubjectClass.Dog && s.Subject.Color == WorldColor.Purple);
        parts.Should().Contain(s => s.Subject.Pattern == Pattern.Spotted && s.Subject.PatternColor == WorldColor.Yellow);
        parts.Should().Contain(s => s.Subject.Marking != Marking.None && s.Subject.MarkingColor == WorldColor.White);
    }

    [Fact]
    public void Demo_photos_show_one_instance_in_one_context_with_varied_placement()
    {
        var photos = DemoSubject.Photos();
        photos.Should().HaveCount(DemoSubject.PhotoCount);
        photos.Should().OnlyContain(p => p.Subject == DemoSubject.Appearance && p.Context == DemoSubject.Context && p.Style == RenderStyle.Photo);
        photos.Select(p => p.Placement).Distinct().Should().HaveCount(photos.Count);
        photos.Select(p => p.Placement.Mirror).Distinct().Should().HaveCount(2);
        DemoSubject.Photos().Should().Equal(photos);
    }

    [Fact]
    public void The_shipped_samples_are_recognised_as_the_demo_subject_and_other_photos_are_not()
    {
        var shipped = ImageIO.ListImages(Path.Combine(Golden.RepoRoot, "samples")).Select(ImageIO.Load).ToList();
        DemoSubject.AreItsPhotos(shipped).Should().BeTrue();
        DemoSubject.AreItsPhotos(shipped.Take(2).Reverse().ToList()).Should().BeTrue("any subset in any order");
        using var other = SceneRenderer.RenderTensor(DemoSubject.Photos(seed: 99, count: 1)[0]);
        DemoSubject.AreItsPhotos([shipped[0], other]).Should().BeFalse("another photo of the subject is not one of the shipped ones");
        using var brighter = shipped[0].add(0.02).clamp(0, 1);
        DemoSubject.AreItsPhotos([brighter]).Should().BeFalse();
        DemoSubject.AreItsPhotos([]).Should().BeFalse();
        foreach (var t in shipped) t.Dispose();
    }

    [Fact]
    public void Shipped_samples_are_regenerated_bit_for_bit()
    {
        var shipped = Path.Combine(Golden.RepoRoot, "samples");
        var dir = Path.Combine(Path.GetTempPath(), "tw-samples-" + Guid.NewGuid().ToString("N"));
        try
        {
            var files = SamplePhotos.Write(dir);
            files.Should().HaveCount(DemoSubject.PhotoCount);
            foreach (var f in files.Append(Path.Combine(dir, "README.md")))
                File.ReadAllBytes(f).Should().Equal(File.ReadAllBytes(Path.Combine(shipped, Path.GetFileName(f))), Path.GetFileName(f));
            ImageIO.ListImages(shipped).Should().HaveCount(DemoSubject.PhotoCount);
        }
        finally { Directory.Delete(dir, true); }
    }
}
