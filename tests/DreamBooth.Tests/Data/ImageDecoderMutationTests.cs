using DreamBooth.Data;
using DreamBooth.Tests.Data.Corpus;
using FluentAssertions;
using SkiaSharp;
using Xunit;

namespace DreamBooth.Tests.Data;

/// <summary>
/// A bounded property test (issue 7): valid files of every supported kind, mutated (cut, bytes flipped, spans
/// overwritten or repeated) with a fixed seed; the only allowed outcomes are a consistent decode or a one-line
/// <see cref="DreamBoothException"/> naming the input. Anything else (another exception type, a hang) fails.
/// </summary>
public class ImageDecoderMutationTests
{
    private const int MutationsPerFile = 60;

    public static TheoryData<string> Seeds() => new(SeedFiles().Keys);

    private static Dictionary<string, byte[]> SeedFiles()
    {
        var palette = new (byte, byte, byte)[] { (255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9) };
        return new()
        {
            ["rgb.png"] = SkiaEncode.Png(16, 12, SkiaEncode.Noise),
            ["palette.png"] = PngBuilder.Build(3, 1, 2, PngBuilder.Palette, [0b0001_1000], ("PLTE", [1, 2, 3, 4, 5, 6, 7, 8, 9]), ("tRNS", [255, 0, 128])),
            ["grey16.png"] = PngBuilder.Build(2, 2, 16, PngBuilder.Grey, PngBuilder.Samples16([1, 2000, 40000, 65535])),
            ["exif.png"] = PngBuilder.Build(1, 1, 8, PngBuilder.Rgb, [1, 2, 3], ("eXIf", ExifBlock.Tiff(6))),
            ["photo.jpg"] = ExifBlock.InsertIntoJpeg(SkiaEncode.Jpeg(24, 16, SkiaEncode.Noise), 6),
            ["cmyk.jpg"] = JpegBuilder.FlatBlocks(2, 2, 4, (c, x, y) => (byte)(c * 60 + x * 20 + y)),
            ["lossless.webp"] = SkiaEncode.Webp(12, 8, SkiaEncode.Noise),
            ["lossy.webp"] = SkiaEncode.Webp(12, 8, SkiaEncode.Noise, quality: 70),
            ["anim.webp"] = WebpBuilder.Animated(4, 4, SkiaEncode.Webp(4, 4, (_, _) => SKColors.Red), SkiaEncode.Webp(4, 4, (_, _) => SKColors.Blue)),
            ["anim.gif"] = GifBuilder.Build(6, 4, palette, new GifBuilder.Frame(0, 0, 6, 4, new byte[24]), new GifBuilder.Frame(1, 1, 2, 2, [1, 2, 3, 1], 3)),
            ["image.bmp"] = BmpBuilder.Build(5, 3, (x, y) => ((byte)x, (byte)y, 7)),
        };
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Mutated_files_decode_or_fail_with_one_line(string seedName)
    {
        var seed = SeedFiles()[seedName];
        ImageDecoder.Decode(seed, seedName).Image.Width.Should().BeGreaterThan(0, "the seed itself is valid");
        var random = new Random(seedName.Length * 7919 + seed.Length); // fixed per file: failures reproduce
        var options = ImageDecodeOptions.Default with { MaxPixels = 1 << 22 };
        for (var i = 0; i < MutationsPerFile; i++)
        {
            var mutated = Mutate(seed, random);
            var name = $"{seedName}#{i}";
            try
            {
                var image = ImageDecoder.Decode(mutated, name, options);
                (image.Image.Width, image.Image.Height).Should().Be((image.Info.Width, image.Info.Height));
            }
            catch (DreamBoothException e)
            {
                e.Message.Should().StartWith(name + ": ").And.NotContainAny("\n", "\r");
            }
        }
    }

    private static byte[] Mutate(byte[] seed, Random random)
    {
        var b = (byte[])seed.Clone();
        switch (random.Next(4))
        {
            case 0: // cut
                return b[..random.Next(b.Length)];
            case 1: // flip a few bytes (headers included)
                for (var k = random.Next(1, 9); k > 0; k--) b[random.Next(b.Length)] ^= (byte)random.Next(1, 256);
                return b;
            case 2: // overwrite a span with noise
            {
                var start = random.Next(b.Length);
                var len = Math.Min(b.Length - start, random.Next(1, 32));
                random.NextBytes(b.AsSpan(start, len));
                return b;
            }
            default: // repeat a span
            {
                var start = random.Next(b.Length);
                var len = Math.Min(b.Length - start, random.Next(1, 64));
                return [.. b[..(start + len)], .. b[start..]];
            }
        }
    }
}
