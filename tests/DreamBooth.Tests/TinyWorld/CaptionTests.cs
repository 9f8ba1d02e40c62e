using DreamBooth.Evaluation;
using DreamBooth.TinyWorld;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.TinyWorld;

public class CaptionTests
{
    [Fact]
    public void Captions_name_the_class_use_only_world_words_and_include_short_forms()
    {
        var dataset = new TinyWorldDataset(seed: 5);
        var shortForms = new HashSet<string>();
        var words = new HashSet<string>(Captioner.Words);
        var bad = new List<string>();
        for (int i = 0; i < 4000; i++)
        {
            var ex = dataset.Example(i);
            var tokens = ex.Text.Split(' ');
            if (!tokens.Contains(WorldLabels.Noun(ex.Scene.Subject.Class)) || !tokens.All(words.Contains)) bad.Add(ex.Text);
            if (ex.Text == $"a photo of a {WorldLabels.Noun(ex.Scene.Subject.Class)}") shortForms.Add(ex.Text);
        }
        bad.Should().BeEmpty("every caption names its class and uses only world words");
        shortForms.Should().Contain("a photo of a dog", "the class prompt is in the pretraining distribution");
    }

    [Theory]
    [InlineData(null, SubjectClass.Dog, WorldColor.Red, null, null, null, null, "a red dog")]
    [InlineData(RenderStyle.Photo, SubjectClass.Cat, null, null, null, null, WorldContext.Beach, "a photo of a cat on the beach")]
    [InlineData(RenderStyle.Painting, SubjectClass.Car, WorldColor.Orange, Pattern.Striped, null, Marking.Star, WorldContext.Night, "a painting of an orange striped car with a star at night")]
    [InlineData(RenderStyle.PencilSketch, SubjectClass.Cup, WorldColor.Blue, Pattern.Spotted, WorldColor.White, Marking.Cross, WorldContext.Snow, "a pencil sketch of a blue cup with white spots and a cross in the snow")]
    [InlineData(RenderStyle.Photo, SubjectClass.Backpack, WorldColor.Green, Pattern.Plain, null, null, WorldContext.City, "a photo of a plain green backpack in the city")]
    public void Grammar(RenderStyle? style, SubjectClass cls, WorldColor? color, Pattern? pattern, WorldColor? patternColor, Marking? marking, WorldContext? context, string expected)
    {
        var parts = new CaptionParts { Style = style, Class = cls, Color = color, Pattern = pattern, PatternColor = patternColor, Marking = marking, Context = context };
        parts.ToString().Should().Be(expected);
        PromptLabels.Parse(expected).Should().Be(parts with { Style = style });
    }

    [Fact]
    public void Identifier_prompts()
    {
        new CaptionParts { Style = RenderStyle.Photo, Class = SubjectClass.Dog, Identifier = "sks", Context = WorldContext.Beach }.ToString()
            .Should().Be("a photo of sks dog on the beach");
        var p = PromptLabels.Parse("A Painting of a SKS Dog, at night!");
        p.Identifier.Should().Be("sks");
        p.Class.Should().Be(SubjectClass.Dog);
        p.Style.Should().Be(RenderStyle.Painting);
        p.Context.Should().Be(WorldContext.Night);
        PromptLabels.Parse("a photo of a dog").Identifier.Should().BeNull();
        PromptLabels.ExpectedStyle(PromptLabels.Parse("sks dog in the desert")).Should().Be(RenderStyle.Photo);
    }

    [Fact]
    public void Full_descriptions_parse_back_to_the_scene_labels()
    {
        var dataset = new TinyWorldDataset(seed: 6, pretraining: false);
        var mismatched = Enumerable.Range(0, 500).Select(i => Captioner.Describe(dataset.Example(i).Scene))
            .Where(parts => PromptLabels.Parse(parts.ToString()) != parts).Select(p => p.ToString()).ToList();
        mismatched.Should().BeEmpty();
    }
}
