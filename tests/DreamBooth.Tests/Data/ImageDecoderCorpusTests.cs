using DreamBooth.Data;
using DreamBooth.Tests.Data.Corpus;
using FluentAssertions;
using SkiaSharp;
using Xunit;

namespace DreamBooth.Tests.Data;

/// <summary>
/// The image part of the bad-input corpus (issue 7 item 3) and the format coverage of the trainer's data (issue 4 item 1):
/// every file is generated here, written to a temp directory, decoded, and the outcome asserted — the exact pixels (or
/// a one-line <see cref="DreamBoothException"/> that starts with the file's path) — and that the directory is unchanged.
/// </summary>
public class ImageDecoderCorpusTests : IDisposable
{
    private static readonly SKColor Red = new(220, 20, 30), Green = new(20, 200, 40), Blue = new(30, 40, 210), Yellow = new(230, 220, 20);
    private readonly TempImageDir _dir = new();
    private readonly List<string> _warnings = [];

    public void Dispose() => _dir.Dispose();

    private DecodedImage DecodeOk(string name, byte[] bytes, ImageDecodeOptions? options = null)
    {
        var path = _dir.Write(name, bytes);
        var before = _dir.Snapshot();
        var image = ImageDecoder.Decode(path, options, _warnings.Add);
        _dir.Snapshot().Should().Equal(before, "decoding must not write or change files");
        image.Info.Path.Should().Be(path);
        image.Image.Width.Should().Be(image.Info.Width);
        image.Image.Height.Should().Be(image.Info.Height);
        return image;
    }

    private string DecodeFails(string name, byte[] bytes, string expectedFragment, ImageDecodeOptions? options = null)
    {
        var path = _dir.Write(name, bytes);
        return FailsAt(path, expectedFragment, options);
    }

    private string FailsAt(string path, string expectedFragment, ImageDecodeOptions? options = null)
    {
        var before = _dir.Snapshot();
        var act = () => ImageDecoder.Decode(path, options, _warnings.Add);
        var message = act.Should().Throw<DreamBoothException>().Which.Message;
        message.Should().StartWith(path + ": ").And.Contain(expectedFragment).And.NotContainAny("\n", "\r");
        _dir.Snapshot().Should().Equal(before, "a failed decode must not write or change files");
        return message;
    }

    private static void ShouldBe(RgbImage image, int x, int y, SKColor c, int tolerance = 0)
    {
        var (r, g, b) = image[x, y];
        new[] { r, g, b }.Select((v, i) => Math.Abs(v - new[] { c.Red, c.Green, c.Blue }[i])).Max()
            .Should().BeLessThanOrEqualTo(tolerance, $"pixel ({x},{y}) = ({r},{g},{b}), expected ({c.Red},{c.Green},{c.Blue})");
    }

    private static SKColor Quadrants(int x, int y, int w, int h) =>
        (x < w / 2, y < h / 2) switch { (true, true) => Red, (false, true) => Green, (true, false) => Blue, _ => Yellow };

    // ---- formats that decode ----

    [Fact]
    public void Png_rgb_decodes_exactly()
    {
        var img = DecodeOk("rgb.png", SkiaEncode.Png(7, 5, (x, y) => new SKColor((byte)(x * 30), (byte)(y * 50), 77)));
        img.Info.Format.Should().Be(ImageFormat.Png);
        img.Info.FrameCount.Should().Be(1);
        img.Info.HadTransparency.Should().BeFalse();
        for (var y = 0; y < 5; y++)
            for (var x = 0; x < 7; x++)
                img.Image[x, y].Should().Be(((byte)(x * 30), (byte)(y * 50), (byte)77));
        _warnings.Should().BeEmpty();
    }

    [Fact]
    public void Jpeg_rgb_decodes_close_to_the_source()
    {
        var img = DecodeOk("photo.jpg", SkiaEncode.Jpeg(64, 48, (x, y) => Quadrants(x, y, 64, 48)));
        img.Info.Format.Should().Be(ImageFormat.Jpeg);
        (img.Image.Width, img.Image.Height).Should().Be((64, 48));
        ShouldBe(img.Image, 8, 8, Red, 8); ShouldBe(img.Image, 56, 8, Green, 8);
        ShouldBe(img.Image, 8, 40, Blue, 8); ShouldBe(img.Image, 56, 40, Yellow, 8);
    }

    [Fact]
    public void Webp_lossless_decodes_exactly_and_lossy_closely()
    {
        var lossless = DecodeOk("a.webp", SkiaEncode.Webp(9, 6, (x, y) => new SKColor((byte)(x * 25), (byte)(y * 40), 5)));
        lossless.Info.Format.Should().Be(ImageFormat.WebP);
        lossless.Image[8, 5].Should().Be(((byte)200, (byte)200, (byte)5));
        var lossy = DecodeOk("b.webp", SkiaEncode.Webp(64, 48, (x, y) => Quadrants(x, y, 64, 48), quality: 90));
        ShouldBe(lossy.Image, 8, 8, Red, 12); ShouldBe(lossy.Image, 56, 40, Yellow, 12);
    }

    [Fact]
    public void Bmp_24bit_bottom_up_decodes_exactly()
    {
        var img = DecodeOk("a.bmp", BmpBuilder.Build(5, 3, (x, y) => ((byte)(x * 50), (byte)(y * 100), 9)));
        img.Info.Format.Should().Be(ImageFormat.Bmp);
        img.Image[0, 0].Should().Be(((byte)0, (byte)0, (byte)9));
        img.Image[4, 2].Should().Be(((byte)200, (byte)200, (byte)9));
    }

    [Fact]
    public void Gif_still_decodes_exactly()
    {
        var palette = new (byte, byte, byte)[] { (255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30) };
        var idx = Enumerable.Range(0, 15).Select(i => (byte)(i % 4)).ToArray();
        var img = DecodeOk("still.gif", GifBuilder.Build(5, 3, palette, new GifBuilder.Frame(0, 0, 5, 3, idx)));
        img.Info.Format.Should().Be(ImageFormat.Gif);
        img.Info.FrameCount.Should().Be(1);
        img.Image[0, 0].Should().Be(((byte)255, (byte)0, (byte)0));
        img.Image[3, 0].Should().Be(((byte)10, (byte)20, (byte)30));
        img.Image[4, 2].Should().Be(((byte)0, (byte)0, (byte)255)); // index 14 % 4 = 2
    }

    [Fact]
    public void Animated_gif_gives_the_first_frame_with_a_note()
    {
        var palette = new (byte, byte, byte)[] { (255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 0, 0) };
        var frames = Enumerable.Range(0, 3).Select(i => new GifBuilder.Frame(0, 0, 4, 4, Enumerable.Repeat((byte)i, 16).ToArray())).ToArray();
        var img = DecodeOk("anim.gif", GifBuilder.Build(4, 4, palette, frames));
        img.Info.FrameCount.Should().Be(3);
        img.Image[2, 2].Should().Be(((byte)255, (byte)0, (byte)0));
        img.Info.Notes.Should().ContainSingle().Which.Should().Contain("animated GIF with 3 frames").And.Contain("first frame");
        _warnings.Should().Equal(img.Info.Notes);
    }

    [Fact]
    public void Gif_first_frame_smaller_than_the_canvas_and_transparent_index_become_white()
    {
        var palette = new (byte, byte, byte)[] { (255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 0, 0) };
        // 4x4 frame at (2,2) on an 8x8 canvas; index 3 is transparent.
        var idx = Enumerable.Range(0, 16).Select(i => (byte)(i == 0 ? 3 : 1)).ToArray();
        var img = DecodeOk("partial.gif", GifBuilder.Build(8, 8, palette, new GifBuilder.Frame(2, 2, 4, 4, idx, TransparentIndex: 3)));
        img.Info.HadTransparency.Should().BeTrue();
        img.Image[0, 0].Should().Be(((byte)255, (byte)255, (byte)255), "outside the first frame is transparent");
        img.Image[2, 2].Should().Be(((byte)255, (byte)255, (byte)255), "the transparent index");
        img.Image[3, 3].Should().Be(((byte)0, (byte)255, (byte)0));
    }

    [Fact]
    public void Animated_webp_gives_the_first_frame_with_a_note()
    {
        var red = SkiaEncode.Webp(6, 4, (_, _) => Red);
        var blue = SkiaEncode.Webp(6, 4, (_, _) => Blue);
        var img = DecodeOk("anim.webp", WebpBuilder.Animated(6, 4, red, blue));
        img.Info.Format.Should().Be(ImageFormat.WebP);
        img.Info.FrameCount.Should().Be(2);
        ShouldBe(img.Image, 3, 2, Red);
        img.Info.Notes.Should().ContainSingle().Which.Should().Contain("animated WebP with 2 frames");
    }

    [Fact]
    public void Png_rgba_is_composited_onto_white_or_has_its_alpha_dropped_like_PIL()
    {
        // Four pixels: opaque red, transparent red, half-transparent blue, alpha 1 green.
        byte[] samples = [255, 0, 0, 255, 255, 0, 0, 0, 0, 0, 255, 128, 0, 255, 0, 1];
        var png = PngBuilder.Build(4, 1, 8, PngBuilder.Rgba, samples);
        var white = DecodeOk("rgba.png", png);
        white.Info.HadTransparency.Should().BeTrue();
        white.Image[0, 0].Should().Be(((byte)255, (byte)0, (byte)0));
        white.Image[1, 0].Should().Be(((byte)255, (byte)255, (byte)255));
        white.Image[2, 0].Should().Be(((byte)127, (byte)127, (byte)255)); // 255·127/255 white + 255·128/255 blue
        white.Image[3, 0].Should().Be(((byte)254, (byte)255, (byte)254));

        var dropped = ImageDecoder.Decode(Path.Combine(_dir.Path, "rgba.png"), ImageDecodeOptions.Default with { Alpha = AlphaMode.Discard });
        dropped.Image[1, 0].Should().Be(((byte)255, (byte)0, (byte)0));
        dropped.Image[2, 0].Should().Be(((byte)0, (byte)0, (byte)255));
        dropped.Info.HadTransparency.Should().BeTrue();
    }

    [Fact]
    public void Png_grey_8bit_and_1bit_become_rgb()
    {
        var grey = DecodeOk("grey.png", PngBuilder.Build(3, 1, 8, PngBuilder.Grey, [0, 100, 255]));
        grey.Image[1, 0].Should().Be(((byte)100, (byte)100, (byte)100));
        var bits = DecodeOk("bits.png", PngBuilder.Build(8, 1, 1, PngBuilder.Grey, [0b1010_0000]));
        bits.Image[0, 0].Should().Be(((byte)255, (byte)255, (byte)255));
        bits.Image[1, 0].Should().Be(((byte)0, (byte)0, (byte)0));
        bits.Image[2, 0].Should().Be(((byte)255, (byte)255, (byte)255));
    }

    [Fact]
    public void Png_grey_alpha_is_composited()
    {
        var img = DecodeOk("la.png", PngBuilder.Build(2, 1, 8, PngBuilder.GreyAlpha, [50, 255, 0, 0]));
        img.Image[0, 0].Should().Be(((byte)50, (byte)50, (byte)50));
        img.Image[1, 0].Should().Be(((byte)255, (byte)255, (byte)255));
        img.Info.HadTransparency.Should().BeTrue();
    }

    [Fact]
    public void Png_palette_2bit_with_trns_transparency()
    {
        byte[] plte = [200, 0, 0, 0, 200, 0, 0, 0, 200];
        byte[] trns = [255, 0, 128]; // index 0 opaque, 1 transparent, 2 half
        // 3 pixels, 2 bits each: indices 0, 1, 2 → 00 01 10 00
        var img = DecodeOk("pal.png", PngBuilder.Build(3, 1, 2, PngBuilder.Palette, [0b0001_1000], ("PLTE", plte), ("tRNS", trns)));
        img.Image[0, 0].Should().Be(((byte)200, (byte)0, (byte)0));
        img.Image[1, 0].Should().Be(((byte)255, (byte)255, (byte)255));
        img.Image[2, 0].Should().Be(((byte)127, (byte)127, (byte)227)); // (0·128 + 255·127)/255, (200·128 + 255·127)/255
        img.Info.HadTransparency.Should().BeTrue();
    }

    [Fact]
    public void Png_16bit_rgb_rgba_grey_become_8bit()
    {
        // 0xFFFF → 255, 0x0000 → 0, 0x8080 → 128 whatever the 16→8 rule (truncation or rounding agree on these).
        var rgb = DecodeOk("rgb16.png", PngBuilder.Build(2, 1, 16, PngBuilder.Rgb, PngBuilder.Samples16([0xFFFF, 0x0000, 0x8080, 0x8080, 0xFFFF, 0x0000])));
        rgb.Image[0, 0].Should().Be(((byte)255, (byte)0, (byte)128));
        rgb.Image[1, 0].Should().Be(((byte)128, (byte)255, (byte)0));
        // 16-bit grey: PIL's convert("RGB") clips mode I;16 to 255 (mid-grey turns white); we scale it properly.
        var grey = DecodeOk("grey16.png", PngBuilder.Build(2, 1, 16, PngBuilder.Grey, PngBuilder.Samples16([0x8080, 0x1010])));
        grey.Image[0, 0].Should().Be(((byte)128, (byte)128, (byte)128));
        grey.Image[1, 0].Should().Be(((byte)16, (byte)16, (byte)16));
        var rgba = DecodeOk("rgba16.png", PngBuilder.Build(1, 1, 16, PngBuilder.Rgba, PngBuilder.Samples16([0x0000, 0x0000, 0xFFFF, 0x0000])));
        rgba.Image[0, 0].Should().Be(((byte)255, (byte)255, (byte)255));
        var la = DecodeOk("la16.png", PngBuilder.Build(1, 1, 16, PngBuilder.GreyAlpha, PngBuilder.Samples16([0x4040, 0xFFFF])));
        la.Image[0, 0].Should().Be(((byte)64, (byte)64, (byte)64));
    }

    [Fact]
    public void Jpeg_grey_becomes_rgb()
    {
        var jpeg = JpegBuilder.FlatBlocks(2, 1, 1, (_, bx, _) => bx == 0 ? (byte)40 : (byte)210);
        var img = DecodeOk("grey.jpg", jpeg);
        (img.Image.Width, img.Image.Height).Should().Be((16, 8));
        img.Image[3, 3].Should().Be(((byte)40, (byte)40, (byte)40));
        img.Image[12, 3].Should().Be(((byte)210, (byte)210, (byte)210));
    }

    [Fact]
    public void Jpeg_cmyk_with_adobe_marker_becomes_rgb()
    {
        // Stored (inverted, Adobe) samples per block: C, M, Y, K. 255 = no ink. R = C·K/255, G = M·K/255, B = Y·K/255.
        byte[][] blocks = [[0, 255, 255, 255], [255, 0, 255, 255], [255, 255, 0, 255], [255, 255, 255, 102]];
        var jpeg = JpegBuilder.FlatBlocks(4, 1, 4, (c, bx, _) => blocks[bx][c]);
        var img = DecodeOk("cmyk.jpg", jpeg);
        img.Info.Format.Should().Be(ImageFormat.Jpeg);
        ShouldBe(img.Image, 4, 4, new SKColor(0, 255, 255), 1);    // cyan ink
        ShouldBe(img.Image, 12, 4, new SKColor(255, 0, 255), 1);   // magenta
        ShouldBe(img.Image, 20, 4, new SKColor(255, 255, 0), 1);   // yellow
        ShouldBe(img.Image, 28, 4, new SKColor(102, 102, 102), 1); // 60 % black
    }

    [Theory]
    // Stored image: red top-left, green top-right, blue bottom-left, yellow bottom-right (64x32).
    // Expected upright corners (TL, TR, BL, BR) from the EXIF 2.3 definition of each orientation, written out by hand.
    [InlineData(1, "RGBY")]
    [InlineData(2, "GRYB")]
    [InlineData(3, "YBGR")]
    [InlineData(4, "BYRG")]
    [InlineData(5, "RBGY")]
    [InlineData(6, "BRYG")]
    [InlineData(7, "YGBR")]
    [InlineData(8, "GYRB")]
    public void Jpeg_exif_orientation_is_applied(int orientation, string corners)
    {
        var jpeg = ExifBlock.InsertIntoJpeg(SkiaEncode.Jpeg(64, 32, (x, y) => Quadrants(x, y, 64, 32)), orientation);
        var img = DecodeOk($"o{orientation}.jpg", jpeg);
        img.Info.Orientation.Should().Be(orientation);
        (img.Info.StoredWidth, img.Info.StoredHeight).Should().Be((64, 32));
        var (w, h) = orientation >= 5 ? (32, 64) : (64, 32);
        (img.Image.Width, img.Image.Height).Should().Be((w, h));
        var colour = new Dictionary<char, SKColor> { ['R'] = Red, ['G'] = Green, ['B'] = Blue, ['Y'] = Yellow };
        ShouldBe(img.Image, 4, 4, colour[corners[0]], 10);
        ShouldBe(img.Image, w - 5, 4, colour[corners[1]], 10);
        ShouldBe(img.Image, 4, h - 5, colour[corners[2]], 10);
        ShouldBe(img.Image, w - 5, h - 5, colour[corners[3]], 10);
    }

    [Fact]
    public void Png_exif_orientation_is_applied()
    {
        var rgb = Enumerable.Range(0, 6).SelectMany(i => i % 3 == 0 ? new byte[] { 255, 0, 0 } : [0, 0, 255]).ToArray(); // 3x2, left column red
        var img = DecodeOk("o6.png", PngBuilder.Build(3, 2, 8, PngBuilder.Rgb, rgb, ("eXIf", PngBuilder.ExifOrientation(6))));
        img.Info.Orientation.Should().Be(6);
        (img.Image.Width, img.Image.Height).Should().Be((2, 3));
        img.Image[0, 0].Should().Be(((byte)255, (byte)0, (byte)0), "the stored left column becomes the top row");
        img.Image[1, 0].Should().Be(((byte)255, (byte)0, (byte)0));
        img.Image[0, 1].Should().Be(((byte)0, (byte)0, (byte)255));
    }

    [Fact]
    public void Webp_exif_orientation_is_applied()
    {
        var still = SkiaEncode.Webp(3, 2, (x, _) => x == 0 ? Red : Blue); // left column red
        var img = DecodeOk("o8.webp", WebpBuilder.StillWithExif(3, 2, still, ExifBlock.Tiff(8)));
        img.Info.Orientation.Should().Be(8);
        (img.Image.Width, img.Image.Height).Should().Be((2, 3));
        ShouldBe(img.Image, 0, 2, Red);  // 90° counter-clockwise: the stored left column becomes the bottom row
        ShouldBe(img.Image, 1, 2, Red);
        ShouldBe(img.Image, 0, 0, Blue);
    }

    [Fact]
    public void One_by_one_images_decode()
    {
        DecodeOk("1.png", SkiaEncode.Png(1, 1, (_, _) => Green)).Image[0, 0].Should().Be((Green.Red, Green.Green, Green.Blue));
        var jpg = DecodeOk("1.jpg", SkiaEncode.Jpeg(1, 1, (_, _) => Green));
        (jpg.Image.Width, jpg.Image.Height).Should().Be((1, 1));
        ShouldBe(jpg.Image, 0, 0, Green, 8);
    }

    [Fact]
    public void Wrong_extension_decodes_by_content_with_a_note()
    {
        var img = DecodeOk("really-a-jpeg.png", SkiaEncode.Jpeg(16, 16, (_, _) => Blue));
        img.Info.Format.Should().Be(ImageFormat.Jpeg);
        img.Info.Notes.Should().ContainSingle().Which.Should().Contain("extension says PNG but the content is JPEG");
        var png = DecodeOk("really-a-png.JPG", SkiaEncode.Png(4, 4, (_, _) => Blue));
        png.Info.Format.Should().Be(ImageFormat.Png);
        png.Info.Notes.Should().ContainSingle().Which.Should().Contain("extension says JPEG but the content is PNG");
        _warnings.Should().HaveCount(2);
    }

    // ---- files that must be refused with one line naming them ----

    [Fact]
    public void Zero_byte_file() => DecodeFails("empty.jpg", [], "empty file (0 bytes)");

    [Fact]
    public void Text_file_named_jpg() => DecodeFails("notes.jpg", "this is not an image\nat all\n"u8.ToArray(), "not an image");

    [Fact]
    public void Random_bytes_named_png() =>
        DecodeFails("noise.png", Enumerable.Range(0, 500).Select(i => (byte)(i * 7919 >> 3)).ToArray(), "not an image");

    [Fact]
    public void Zeros_named_png() => DecodeFails("zeros.png", new byte[64], "not an image");

    [Fact]
    public void Heic_photo_is_refused_by_name() =>
        DecodeFails("iphone.jpg", [0, 0, 0, 24, .."ftypheic"u8, 0, 0, 0, 0, .."mif1heic"u8], "HEIF/HEIC images are not supported");

    [Fact]
    public void Tiff_is_refused_by_name() => DecodeFails("scan.png", [(byte)'I', (byte)'I', 42, 0, 8, 0, 0, 0, 0, 0], "TIFF images are not supported");

    [Fact]
    public void Truncated_png_in_the_pixel_data()
    {
        var png = SkiaEncode.Png(64, 64, SkiaEncode.Noise);
        DecodeFails("cut.png", png[..(png.Length * 6 / 10)], "truncated PNG file");
    }

    [Fact]
    public void Truncated_png_in_the_header()
    {
        var png = SkiaEncode.Png(64, 64, SkiaEncode.Noise);
        DecodeFails("stub.png", png[..30], "truncated PNG file (the header is incomplete)");
    }

    [Fact]
    public void Truncated_jpeg_in_the_scan() // Skia would return the top rows and grey below
    {
        var jpeg = SkiaEncode.Jpeg(64, 64, SkiaEncode.Noise);
        DecodeFails("cut.jpg", jpeg[..(jpeg.Length * 6 / 10)], "truncated JPEG file");
    }

    [Fact]
    public void Jpeg_without_its_end_marker_is_treated_as_truncated()
    {
        var jpeg = SkiaEncode.Jpeg(32, 32, SkiaEncode.Noise);
        DecodeFails("noeoi.jpg", jpeg[..^2], "truncated JPEG file");
    }

    [Fact]
    public void Truncated_gif()
    {
        var palette = new (byte, byte, byte)[] { (255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 0, 0) };
        var gif = GifBuilder.Build(32, 32, palette, new GifBuilder.Frame(0, 0, 32, 32, Enumerable.Range(0, 1024).Select(i => (byte)(i % 4)).ToArray()));
        DecodeFails("cut.gif", gif[..(gif.Length / 2)], "truncated GIF file");
    }

    [Fact]
    public void Truncated_webp()
    {
        var webp = SkiaEncode.Webp(64, 64, SkiaEncode.Noise);
        DecodeFails("cut.webp", webp[..(webp.Length / 2)], "truncated WebP file");
    }

    [Fact]
    public void Png_with_a_bad_header_checksum()
    {
        var png = SkiaEncode.Png(8, 8, SkiaEncode.Noise);
        png[29] ^= 0xFF; // IHDR CRC
        DecodeFails("crc.png", png, "corrupt PNG file");
    }

    [Fact]
    public void Png_with_garbage_compressed_data()
    {
        var garbage = Enumerable.Range(0, 200).Select(i => (byte)(i * 31 + 7)).ToArray();
        var png = PngBuilder.Assemble(PngBuilder.Ihdr(8, 8, 8, PngBuilder.Rgb), garbage);
        DecodeFails("zlib.png", png, "corrupt PNG");
    }

    [Fact]
    public void Png_with_zero_width() =>
        DecodeFails("zero.png", PngBuilder.Assemble(PngBuilder.Ihdr(0, 8, 8, PngBuilder.Rgb), PngBuilder.Compress([0])), "PNG");

    [Fact]
    public void Gif_with_zero_size_canvas() =>
        DecodeFails("zero.gif", GifBuilder.Build(0, 0, [(0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0)]), "GIF");

    [Fact]
    public void Missing_file() => FailsAt(Path.Combine(_dir.Path, "nope.png"), "file not found");

    [Fact]
    public void Directory_instead_of_a_file()
    {
        var sub = Directory.CreateDirectory(Path.Combine(_dir.Path, "folder.jpg")).FullName;
        FailsAt(sub, "is a directory");
    }

    // ---- decompression bombs and limits: refused from the header, before any pixel memory ----

    private void RefusedCheaply(string name, byte[] bytes, string fragment, ImageDecodeOptions? options = null)
    {
        var path = _dir.Write(name, bytes);
        var before = GC.GetAllocatedBytesForCurrentThread();
        FailsAt(path, fragment, options);
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(4L << 20, "the pixels must never be allocated");
    }

    [Fact]
    public void Png_bomb_claiming_100000_squared_is_refused_before_decoding()
    {
        var body = PngBuilder.Compress(new byte[1000]);
        RefusedCheaply("bomb.png", PngBuilder.Assemble(PngBuilder.Ihdr(100_000, 100_000, 8, PngBuilder.Rgb), body), "100000x100000");
    }

    [Fact]
    public void Jpeg_bomb_is_refused_before_decoding()
    {
        var jpeg = JpegBuilder.WithClaimedSize(SkiaEncode.Jpeg(16, 16, SkiaEncode.Noise), 30_000, 30_000);
        RefusedCheaply("bomb.jpg", jpeg, "30000x30000 = 900000000 pixels, more than the limit of 67108864");
    }

    [Fact]
    public void Gif_bomb_is_refused_before_decoding()
    {
        var palette = new (byte, byte, byte)[] { (255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 0, 0) };
        var gif = GifBuilder.Build(30_000, 30_000, palette, new GifBuilder.Frame(0, 0, 2, 2, [0, 1, 2, 3]));
        RefusedCheaply("bomb.gif", gif, "more than the limit");
    }

    [Fact]
    public void Image_with_a_side_over_the_limit_is_refused()
    {
        RefusedCheaply("wide.png", PngBuilder.Assemble(PngBuilder.Ihdr(40_000, 1, 8, PngBuilder.Grey), PngBuilder.Compress(new byte[100])),
            "40000x1, a side exceeds the limit of 32768 px");
    }

    [Fact]
    public void Limits_are_configurable()
    {
        var png = SkiaEncode.Png(20, 20, SkiaEncode.Noise);
        RefusedCheaply("small.png", png, "20x20 = 400 pixels, more than the limit of 100", ImageDecodeOptions.Default with { MaxPixels = 100 });
        RefusedCheaply("small2.png", png, "a side exceeds the limit of 10 px", ImageDecodeOptions.Default with { MaxSide = 10 });
        RefusedCheaply("small3.png", png, "more than the limit of 50 bytes", ImageDecodeOptions.Default with { MaxFileBytes = 50 });
    }
}
