using System.Text;
using DreamBooth.Data;
using DreamBooth.Tests.Data.Corpus;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Data;

/// <summary>
/// Loading a training-image directory: scan order and filtering, caption files, skipping unusable images with a
/// warning, one-line errors naming the flag and path, resize geometry, augmentation variants and their determinism.
/// Every test also checks that loading wrote or changed nothing in the directory.
/// </summary>
public class ImageSetTests : IDisposable
{
    private const string Prompt = "a photo of sks dog";
    private readonly TempImageDir _dir = new();
    private readonly List<string> _warnings = [];

    public void Dispose() => _dir.Dispose();

    private void Png(string name, int w, int h) => _dir.Write(name, SkiaEncode.Png(w, h, SkiaEncode.Noise));

    private ImageSet Load(AugmentationOptions? augmentation = null, ImageFolderSpec? spec = null, long seed = 0)
    {
        var before = _dir.Snapshot();
        using var g = new Generator((ulong)seed);
        var set = ImageSet.Load(spec ?? ImageFolderSpec.Instance(_dir.Path, Prompt), augmentation ?? new AugmentationOptions(32), g, warn: _warnings.Add);
        _dir.Snapshot().Should().Equal(before, "loading must not write or change files");
        return set;
    }

    private string LoadFails(string fragment, ImageFolderSpec? spec = null)
    {
        var before = _dir.Snapshot();
        using var g = new Generator(0);
        var act = () => ImageSet.Load(spec ?? ImageFolderSpec.Instance(_dir.Path, Prompt), new AugmentationOptions(32), g, warn: _warnings.Add);
        var message = act.Should().Throw<DreamBoothException>().Which.Message;
        message.Should().Contain(fragment).And.NotContainAny("\n", "\r");
        _dir.Snapshot().Should().Equal(before);
        return message;
    }

    // ---- scanning ----

    [Fact]
    public void Images_are_found_non_recursively_case_insensitively_in_ordinal_name_order()
    {
        foreach (var name in new[] { "b.png", "A.png", "a.PNG", "10.jpg", "2.JPEG", "x.webp", "y.bmp", "z.gif" })
            _dir.Write(name, SkiaEncode.Png(40, 40, SkiaEncode.Noise)); // content decides the format: all PNG here
        _dir.Write(".hidden.png", SkiaEncode.Png(40, 40, SkiaEncode.Noise));
        _dir.Write("._b.png", [0, 5, 22, 7]);                       // macOS resource fork: not an image
        _dir.WriteText("notes.md", "not an image");
        Directory.CreateDirectory(Path.Combine(_dir.Path, "nested.png"));
        Directory.CreateDirectory(Path.Combine(_dir.Path, "sub"));
        File.WriteAllBytes(Path.Combine(_dir.Path, "sub", "deep.png"), SkiaEncode.Png(40, 40, SkiaEncode.Noise));

        var set = Load();
        set.Images.Select(i => Path.GetFileName(i.Path)).Should().Equal("10.jpg", "2.JPEG", "A.png", "a.PNG", "b.png", "x.webp", "y.bmp", "z.gif");
        set.Skipped.Should().BeEmpty();
    }

    [Fact]
    public void Missing_directory() =>
        LoadFails($"--instance-data-dir {Path.Combine(_dir.Path, "nope")}: directory not found", ImageFolderSpec.Instance(Path.Combine(_dir.Path, "nope"), Prompt));

    [Fact]
    public void A_file_instead_of_a_directory()
    {
        var file = _dir.Write("photo.png", SkiaEncode.Png(8, 8, SkiaEncode.Noise));
        LoadFails($"--instance-data-dir {file}: is a file, not a directory", ImageFolderSpec.Instance(file, Prompt));
    }

    [Fact]
    public void Empty_directory() => LoadFails($"--instance-data-dir {_dir.Path}: the directory has no files");

    [Fact]
    public void Directory_with_only_hidden_files_says_they_are_skipped()
    {
        _dir.Write(".DS_Store", [1, 2, 3]);
        LoadFails("only hidden files (names starting with '.'), which are skipped");
    }

    [Fact]
    public void Directory_of_non_images()
    {
        _dir.WriteText("readme.md", "hello");
        _dir.WriteText("data.csv", "a,b");
        _dir.WriteText("caption.txt", "a dog");
        LoadFails($"--instance-data-dir {_dir.Path}: no images among its 3 file(s)");
    }

    [Fact]
    public void Class_directory_errors_name_the_class_flag() =>
        LoadFails($"--class-data-dir {_dir.Path}: the directory has no files", ImageFolderSpec.Class(_dir.Path, "a photo of dog"));

    // ---- unusable images ----

    [Fact]
    public void Corrupt_truncated_and_non_image_files_are_skipped_with_a_warning_naming_them()
    {
        Png("good.png", 40, 40);
        var jpeg = SkiaEncode.Jpeg(64, 64, SkiaEncode.Noise);
        var cut = _dir.Write("cut.jpg", jpeg[..(jpeg.Length / 2)]);
        var empty = _dir.Write("empty.png", []);
        var text = _dir.WriteText("text.gif", "GIF? no.");
        var bomb = _dir.Write("bomb.png", PngBuilder.Assemble(PngBuilder.Ihdr(100_000, 100_000, 8, PngBuilder.Rgb), PngBuilder.Compress(new byte[10])));

        var set = Load();
        set.Images.Select(i => Path.GetFileName(i.Path)).Should().Equal("good.png");
        set.Skipped.Should().HaveCount(4);
        _warnings.Should().HaveCount(4);
        _warnings.Should().ContainMatch($"skipping {bomb}: *refused before decoding*");
        _warnings.Should().ContainMatch($"skipping {cut}: truncated JPEG file*");
        _warnings.Should().ContainMatch($"skipping {empty}: empty file*");
        _warnings.Should().ContainMatch($"skipping {text}: not an image*");
    }

    [Fact]
    public void No_usable_image_is_an_error_naming_the_flag_the_directory_and_a_culprit()
    {
        var empty = _dir.Write("a.png", []);
        _dir.WriteText("b.jpg", "plain text");
        var message = LoadFails($"--instance-data-dir {_dir.Path}: none of its 2 image file(s) could be used; first problem: {empty}: empty file");
        _warnings.Should().HaveCount(2);
        message.Should().NotBeNull();
    }

    // ---- captions ----

    [Fact]
    public void Caption_file_replaces_the_prompt_for_its_image_only()
    {
        Png("a.png", 40, 40);
        Png("b.png", 40, 40);
        Png("C.jpg", 40, 40);
        _dir.Write("a.txt", [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("  a photo of sks dog on the beach, «été» \n")]);
        _dir.WriteText("C.TXT", "sks dog asleep");

        var set = Load();
        set.Images.Select(i => (Path.GetFileName(i.Path), i.Prompt)).Should().Equal(
            ("C.jpg", "sks dog asleep"), ("a.png", "a photo of sks dog on the beach, «été»"), ("b.png", Prompt));
        set.Images[1].CaptionPath.Should().Be(Path.Combine(_dir.Path, "a.txt"));
        set.Images[2].CaptionPath.Should().BeNull();
    }

    [Fact]
    public void Captions_can_be_turned_off()
    {
        Png("a.png", 40, 40);
        _dir.WriteText("a.txt", "ignored");
        Load(spec: ImageFolderSpec.Instance(_dir.Path, Prompt) with { UseCaptions = false }).Images[0].Prompt.Should().Be(Prompt);
    }

    [Fact]
    public void Empty_caption_is_an_error_not_a_silent_fallback()
    {
        Png("a.png", 40, 40);
        var caption = _dir.WriteText("a.txt", " \n\t ");
        LoadFails($"{caption}: caption file is empty");
    }

    [Fact]
    public void Caption_that_is_not_utf8_is_an_error()
    {
        Png("a.png", 40, 40);
        var caption = _dir.Write("a.txt", [0x61, 0xFF, 0xFE, 0x62]);
        LoadFails($"{caption}: caption file is not valid UTF-8");
    }

    [Fact]
    public void Two_caption_files_for_one_image_is_an_error()
    {
        Png("a.png", 40, 40);
        _dir.WriteText("a.txt", "one");
        _dir.WriteText("a.TXT", "two");
        LoadFails("a.png: more than one caption file (a.TXT, a.txt)");
    }

    [Fact]
    public void Huge_caption_file_is_refused()
    {
        Png("a.png", 40, 40);
        var caption = _dir.WriteText("a.txt", new string('x', CaptionFile.MaxBytes + 1));
        LoadFails($"{caption}: caption file is {CaptionFile.MaxBytes + 1} bytes");
    }

    [Fact]
    public void Without_a_prompt_every_image_needs_a_caption()
    {
        Png("a.png", 40, 40);
        Png("b.png", 40, 40);
        _dir.WriteText("a.txt", "sks dog");
        LoadFails("b.png: no caption file (b.txt) and no --instance-prompt given", ImageFolderSpec.Instance(_dir.Path, null));
    }

    // ---- limits on the number of images ----

    [Fact]
    public void Max_images_takes_the_first_usable_ones_in_order()
    {
        foreach (var n in new[] { "1.png", "3.png", "4.png", "5.png" }) Png(n, 40, 40);
        _dir.Write("2.png", [1, 2, 3]);
        var set = Load(spec: ImageFolderSpec.Class(_dir.Path, "a photo of dog", maxImages: 3));
        set.Images.Select(i => Path.GetFileName(i.Path)).Should().Equal("1.png", "3.png", "4.png");
        set.Images.Should().OnlyContain(i => i.Prompt == "a photo of dog");
        set.Skipped.Should().ContainSingle().Which.Should().Contain("2.png");
    }

    // ---- geometry ----

    [Fact]
    public void Shorter_side_is_resized_to_the_resolution_and_small_images_are_upscaled_with_a_warning()
    {
        Png("landscape.png", 300, 200);
        Png("portrait.png", 50, 80);
        Png("square.png", 64, 64);
        var set = Load(new AugmentationOptions(64) { CenterCrop = true });
        var byName = set.Images.ToDictionary(i => Path.GetFileName(i.Path));
        (byName["landscape.png"].Resized.Width, byName["landscape.png"].Resized.Height).Should().Be((96, 64));
        (byName["portrait.png"].Resized.Width, byName["portrait.png"].Resized.Height).Should().Be((64, 102));
        (byName["square.png"].Resized.Width, byName["square.png"].Resized.Height).Should().Be((64, 64));
        byName["landscape.png"].Upscaled.Should().BeFalse();
        byName["portrait.png"].Upscaled.Should().BeTrue();
        byName["square.png"].Upscaled.Should().BeFalse();
        _warnings.Should().ContainSingle().Which.Should()
            .Be($"{Path.Combine(_dir.Path, "portrait.png")}: 50x80 is smaller than the resolution 64; upscaled to 64x102, expect a blurry result");
        byName["landscape.png"].Variants.Should().Equal(new AugmentationVariant(16, 0, false));
        byName["portrait.png"].Variants.Should().Equal(new AugmentationVariant(0, 19, false));
        foreach (var image in set.Images)
        {
            using var px = image.PixelValues(0);
            px.shape.Should().Equal(3, 64, 64);
            px.min().item<float>().Should().BeGreaterThanOrEqualTo(-1f);
            px.max().item<float>().Should().BeLessThanOrEqualTo(1f);
        }
    }

    [Fact]
    public void Exif_rotated_image_is_resized_upright()
    {
        _dir.Write("rotated.jpg", ExifBlock.InsertIntoJpeg(SkiaEncode.Jpeg(96, 64, SkiaEncode.Noise), 6));
        var image = Load(new AugmentationOptions(32)).Images.Single();
        (image.Info.Width, image.Info.Height).Should().Be((64, 96));
        (image.Resized.Width, image.Resized.Height).Should().Be((32, 48));
    }

    // ---- augmentation variants ----

    [Fact]
    public void Center_crop_gives_one_variant_and_random_flip_adds_its_mirror()
    {
        Png("a.png", 48, 32);
        Load(new AugmentationOptions(32) { CenterCrop = true }).Images[0].Variants.Should().Equal(new AugmentationVariant(8, 0, false));
        var flipped = Load(new AugmentationOptions(32) { CenterCrop = true, RandomFlip = true });
        flipped.Images[0].Variants.Should().Equal(new AugmentationVariant(8, 0, false), new AugmentationVariant(8, 0, true));
        using var plain = flipped.PixelValues(0, 0);
        using var mirror = flipped.PixelValues(0, 1);
        using var back = mirror.flip(2);
        back.allclose(plain, rtol: 0, atol: 0).Should().BeTrue("variant 1 is the mirror image of variant 0");
    }

    [Fact]
    public void Random_crops_are_distinct_sorted_and_inside_the_image()
    {
        Png("wide.png", 200, 32);
        var variants = Load(new AugmentationOptions(32) { RandomCropsPerImage = 5, RandomFlip = true }).Images[0].Variants;
        variants.Should().HaveCount(10);
        var corners = variants.Where(v => !v.Flip).Select(v => v.CropLeft).ToList();
        corners.Should().OnlyHaveUniqueItems().And.BeInAscendingOrder().And.OnlyContain(x => x >= 0 && x <= 200 - 32);
        variants.Where(v => v.Flip).Select(v => v.CropLeft).Should().Equal(corners);
        variants.Should().OnlyContain(v => v.CropTop == 0);
    }

    [Fact]
    public void Few_possible_corners_are_all_used_and_a_square_image_has_one()
    {
        Png("a.png", 34, 32);
        Png("b.png", 32, 32);
        var set = Load(new AugmentationOptions(32) { RandomCropsPerImage = 4 });
        set.Images[0].Variants.Select(v => v.CropLeft).Should().Equal(0, 1, 2);
        set.Images[1].Variants.Should().Equal(new AugmentationVariant(0, 0, false));
        set.VariantCount.Should().Be(4);
        set.EnumerateVariants().Should().Equal((0, 0), (0, 1), (0, 2), (1, 0));
        using var batch = set.PixelValues(set.EnumerateVariants());
        batch.shape.Should().Equal(4, 3, 32, 32);
    }

    [Fact]
    public void Crops_are_deterministic_given_the_seed_and_change_with_it()
    {
        Png("a.png", 32, 400);
        Png("b.png", 300, 32);
        var options = new AugmentationOptions(32) { RandomCropsPerImage = 3, RandomFlip = true };
        var first = Load(options, seed: 42);
        var again = Load(options, seed: 42);
        var other = Load(options, seed: 43);
        for (var i = 0; i < 2; i++)
        {
            again.Images[i].Variants.Should().Equal(first.Images[i].Variants);
            other.Images[i].Variants.Should().NotEqual(first.Images[i].Variants);
        }
        first.Images[0].Variants.Should().OnlyContain(v => v.CropLeft == 0);
        using var a = first.PixelValues(first.EnumerateVariants());
        using var b = again.PixelValues(again.EnumerateVariants());
        a.allclose(b, rtol: 0, atol: 0).Should().BeTrue();
    }

    [Fact]
    public void Pick_variant_is_uniform_randint_with_one_draw_per_call()
    {
        Png("a.png", 100, 32);
        Png("b.png", 32, 32);
        var set = Load(new AugmentationOptions(32) { RandomCropsPerImage = 4, RandomFlip = true });
        using var g = new Generator(5);
        using var reference = new Generator(5);
        var picks = new List<int>();
        for (var i = 0; i < 40; i++)
        {
            var image = i % 2;
            var count = set.Images[image].Variants.Count;
            using var expected = torch.randint(0L, count, [1L], ScalarType.Int64, generator: reference);
            var pick = set.PickVariant(image, g);
            pick.Should().Be((int)expected.item<long>());
            if (image == 0) picks.Add(pick);
        }
        picks.Distinct().Count().Should().BeGreaterThan(4, "20 draws over 8 variants reach more than half of them");
    }

    [Fact]
    public void A_skipped_image_does_not_need_a_valid_caption()
    {
        Png("good.png", 40, 40);
        _dir.Write("bad.png", [1, 2, 3, 4]);
        _dir.WriteText("bad.txt", "   ");
        Load().Images.Should().ContainSingle();
        _warnings.Should().ContainSingle().Which.Should().Contain("bad.png: not an image");
    }

    [Fact]
    public void Bad_augmentation_options_are_refused()
    {
        Png("a.png", 40, 40);
        using var g = new Generator(0);
        var spec = ImageFolderSpec.Instance(_dir.Path, Prompt);
        FluentActions.Invoking(() => ImageSet.Load(spec, new AugmentationOptions(0), g))
            .Should().Throw<DreamBoothException>().WithMessage("--resolution 0: must be a positive number of pixels");
        FluentActions.Invoking(() => ImageSet.Load(spec, new AugmentationOptions(32) { RandomCropsPerImage = 0 }, g))
            .Should().Throw<DreamBoothException>().WithMessage("--random-crops-per-image 0: must be at least 1");
    }
}
