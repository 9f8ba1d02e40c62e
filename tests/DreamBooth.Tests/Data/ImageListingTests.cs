using DreamBooth.Data;
using DreamBooth.Evaluation;
using DreamBooth.Tests.IO;
using DreamBooth.Training;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Data;

/// <summary>Every command lists an image folder the way training does: the same extensions, hidden files skipped.</summary>
public class ImageListingTests
{
    private static void Png(string path) => ImageIO.SavePng(path, rand(3, 8, 8));

    [Fact]
    public void Evaluation_listings_skip_hidden_files_and_take_every_training_format()
    {
        using var dir = new TempDir();
        Png(Path.Combine(dir.Path, "01.png"));
        File.WriteAllBytes(Path.Combine(dir.Path, "._01.png"), [0, 5, 22, 7]); // a macOS AppleDouble file
        Png(Path.Combine(dir.Path, ".hidden.png"));
        File.WriteAllBytes(Path.Combine(dir.Path, "anim.GIF"), [0x47, 0x49, 0x46]);
        File.WriteAllText(Path.Combine(dir.Path, "notes.txt"), "x");

        ImageIO.ListImages(dir.Path).Select(Path.GetFileName).Should().Equal("01.png", "anim.GIF");
        ImageFormats.Extensions.Should().OnlyContain(e => ImageIO.IsImagePath("x" + e) && ImageIO.IsImagePath("x" + e.ToUpperInvariant()));
    }

    [Fact]
    public void A_folder_of_hidden_images_only_says_hidden_files_are_skipped()
    {
        using var dir = new TempDir();
        Png(Path.Combine(dir.Path, ".x.png"));
        var act = () => PromptedImages.Read(dir.Path, requirePrompts: false);
        act.Should().Throw<DreamBoothException>().WithMessage($"{dir.Path}: no images (*.gif, any case; hidden files skipped)");
    }

    [Fact]
    public void A_truncated_class_image_does_not_count_so_the_set_is_topped_up_past_it()
    {
        using var dir = new TempDir();
        Png(Path.Combine(dir.Path, "0.png"));
        Png(Path.Combine(dir.Path, "1.png"));
        var whole = File.ReadAllBytes(Path.Combine(dir.Path, "1.png"));
        File.WriteAllBytes(Path.Combine(dir.Path, "1.png"), whole[..(whole.Length / 2)]); // header intact, data cut short
        File.WriteAllBytes(Path.Combine(dir.Path, "2.png"), []);

        ClassImageGenerator.CountImages(dir.Path).Should().Be(1);
        ImageIO.Decodes(Path.Combine(dir.Path, "0.png")).Should().BeTrue();
    }

    [Fact]
    public void An_empty_png_is_named_empty_by_the_text_reader_too()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "x.png");
        File.WriteAllBytes(path, []);
        var act = () => PngText.Read(path);
        act.Should().Throw<DreamBoothException>().WithMessage("*x.png: empty file (0 bytes)");
    }
}
