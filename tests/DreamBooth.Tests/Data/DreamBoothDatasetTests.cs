using DreamBooth.Data;
using DreamBooth.Tests.Data.Corpus;
using FluentAssertions;
using TorchSharp;
using Xunit;

namespace DreamBooth.Tests.Data;

/// <summary>Instance and class images paired like diffusers' DreamBoothDataset.</summary>
public class DreamBoothDatasetTests : IDisposable
{
    private readonly TempImageDir _instances = new();
    private readonly TempImageDir _classes = new();

    public void Dispose()
    {
        _instances.Dispose();
        _classes.Dispose();
    }

    [Fact]
    public void Length_is_the_larger_set_and_examples_cycle_both_sets()
    {
        for (var i = 0; i < 3; i++) _instances.Write($"{i}.png", SkiaEncode.Png(40, 40, SkiaEncode.Noise));
        for (var i = 0; i < 5; i++) _classes.Write($"{i}.png", SkiaEncode.Png(40, 40, SkiaEncode.Noise));
        using var g = new torch.Generator(0);
        var data = DreamBoothDataset.Load(
            ImageFolderSpec.Instance(_instances.Path, "a photo of sks dog"),
            ImageFolderSpec.Class(_classes.Path, "a photo of dog", maxImages: 4),
            new AugmentationOptions(32), g);
        data.Instances.Count.Should().Be(3);
        data.Classes!.Count.Should().Be(4);
        data.Length.Should().Be(4);
        Enumerable.Range(0, 5).Select(i => data[i]).Should().Equal((0, 0), (1, 1), (2, 2), (0, 3), (1, 0));
        data.Classes.Images.Should().OnlyContain(i => i.Prompt == "a photo of dog");
    }

    [Fact]
    public void Without_class_images_examples_are_the_instance_images()
    {
        _instances.Write("a.png", SkiaEncode.Png(40, 40, SkiaEncode.Noise));
        using var g = new torch.Generator(0);
        var data = DreamBoothDataset.Load(ImageFolderSpec.Instance(_instances.Path, "sks"), null, new AugmentationOptions(32), g);
        data.Classes.Should().BeNull();
        data.Length.Should().Be(1);
        data[3].Should().Be((0, (int?)null));
    }
}
