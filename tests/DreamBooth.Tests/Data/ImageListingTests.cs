using DreamBooth.Data;
using DreamBooth.IO;
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
        // Every extension the decoder names a format for is listed (a Windows download "photo.jfif" was skipped silently).
        foreach (var e in new[] { ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".gif" })
            ImageFormats.FromExtension("x" + e).Should().NotBeNull(e);
        foreach (var e in new[] { ".jpe", ".jfif", ".dib" }) ImageIO.IsImagePath("photo" + e).Should().BeTrue(e);
    }

    [Fact]
    public void Unsupported_image_formats_are_skipped_with_a_message_not_silently()
    {
        using var dir = new TempDir();
        Png(Path.Combine(dir.Path, "01.png"));
        File.WriteAllBytes(Path.Combine(dir.Path, "02.TIFF"), [0x49, 0x49, 0x2A, 0x00]);
        File.WriteAllBytes(Path.Combine(dir.Path, "03.heic"), [0]);
        var warnings = new List<string>();

        ImageIO.ListImages(dir.Path, warnings.Add).Select(Path.GetFileName).Should().Equal("01.png");
        warnings.Should().Equal(
            $"skipping {Path.Combine(dir.Path, "02.TIFF")}: TIFF images are not supported; convert it to JPEG, PNG, WebP, BMP or GIF",
            $"skipping {Path.Combine(dir.Path, "03.heic")}: HEIF images are not supported; convert it to JPEG, PNG, WebP, BMP or GIF");
        ImageDirectory.Scan(dir.Path, "--instance-data-dir").Unsupported.Select(Path.GetFileName).Should().Equal("02.TIFF", "03.heic");

        using (var hidden = new TempDir())
        {
            Png(Path.Combine(hidden.Path, "._a.png"));
            var onlyHidden = () => ImageDirectory.Scan(hidden.Path, "--instance-data-dir");
            onlyHidden.Should().Throw<DreamBoothException>().WithMessage("*only hidden files (names starting with '.'), which are skipped");
        }

        File.Delete(Path.Combine(dir.Path, "01.png"));
        var act = () => ImageDirectory.Scan(dir.Path, "--instance-data-dir");
        act.Should().Throw<DreamBoothException>().WithMessage("*no images among its 2 file(s)*; TIFF is not supported)");
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
        ImageIO.LooksWhole(Path.Combine(dir.Path, "0.png")).Should().BeTrue();
    }

    [Fact]
    public void Class_image_generation_removes_a_killed_runs_half_written_image()
    {
        using var dir = new TempDir();
        var stale = Path.Combine(dir.Path, $".00000-abc.png.{int.MaxValue - 7}.0123456789abcdef{AtomicFile.TempSuffix}");
        File.WriteAllBytes(stale, [1, 2, 3]);
        ClassImageGenerator.Generate(dir.Path, "a photo of dog", 1, 1, 9, () => new DreamBooth.Tests.Training.TrainerTestKit.FakeSampler(8));
        File.Exists(stale).Should().BeFalse();
        ClassImageGenerator.CountImages(dir.Path).Should().Be(1);
    }

    [Fact]
    public void A_jpeg_named_png_is_listed_without_a_prompt_and_decoded_as_training_does()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "photo.png");
        File.WriteAllBytes(path, Corpus.SkiaEncode.Jpeg(8, 8, Corpus.SkiaEncode.Noise));
        PromptedImages.Read(dir.Path, requirePrompts: false).Should().ContainSingle().Which.Prompt.Should().BeNull();
        using var image = ImageIO.Load(path);
        image.shape.Should().Equal(3, 8, 8);
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

/// <summary>The metrics see a photo as training does: transparency on white, the centre square of a non-square photo.</summary>
public class EvaluationViewTests
{
    [Fact]
    public void Transparent_pixels_load_as_white_as_in_training()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "a.png");
        // Left half opaque red, right half fully transparent with black colour values underneath.
        File.WriteAllBytes(path, Corpus.SkiaEncode.Png(4, 2, (x, y) => x < 2 ? new SkiaSharp.SKColor(255, 0, 0, 255) : new SkiaSharp.SKColor(0, 0, 0, 0)));
        using var image = ImageIO.Load(path);
        image[.., .., ..2].mean().item<float>().Should().BeApproximately(1 / 3f, 1e-3f); // red: (1, 0, 0)
        image[.., .., 2..].min().item<float>().Should().Be(1f, "transparent is white, not the black stored under it");
    }

    [Fact]
    public void A_non_square_photo_is_seen_as_its_centre_square_not_stretched()
    {
        using var probe = Probe.Load(Probe.DefaultDirectory);
        using var scope = NewDisposeScope();
        var photo = ImageIO.Load(ImageIO.ListImages(DreamBooth.IO.ShippedModels.Samples())[0]);
        long h = photo.shape[1], w = photo.shape[2];
        using var g = new TorchSharp.torch.Generator(7);
        var wide = cat([rand(new long[] { 3, h, w / 2 }, generator: g), photo, rand(new long[] { 3, h, w / 2 }, generator: g)], 2);
        var report = DreamBoothEvaluator.Evaluate(probe, [photo], [(wide, "a photo of sks dog on the grass")]);
        report.SubjectFidelity!.Value.Should().BeApproximately(1.0, 1e-4, "the centre square of the wide image is the photo itself");
        // An odd margin (7 columns) is split as training's centre crop does: round(3.5) = 4 on the left, half to even.
        var odd = cat([rand(new long[] { 3, h, 4 }, generator: g), photo, rand(new long[] { 3, h, 3 }, generator: g)], 2);
        DreamBoothEvaluator.Evaluate(probe, [photo], [(odd, "a photo of sks dog on the grass")]).SubjectFidelity!.Value.Should().BeApproximately(1.0, 1e-4);
    }
}
