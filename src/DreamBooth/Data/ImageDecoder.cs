using SkiaSharp;

namespace DreamBooth.Data;

/// <summary>
/// Decodes JPEG, PNG, WebP, BMP and GIF files (via SkiaSharp) into upright 8-bit RGB, the way diffusers'
/// train_dreambooth.py prepares an image with PIL (<c>exif_transpose</c>, then <c>convert("RGB")</c>), but defensively:
/// <list type="bullet">
/// <item>the content decides the format (a .png holding a JPEG decodes, with a note); other formats are refused by name;</item>
/// <item>file size and header dimensions are checked against <see cref="ImageDecodeOptions"/> before any pixel memory is
/// allocated (decompression bombs);</item>
/// <item>grey, grey+alpha, palette (+ tRNS), 16-bit and CMYK images all become 8-bit RGB; transparency is composited onto
/// white by default (PIL drops it, see <see cref="AlphaMode"/>); no colour management, like PIL (ICC profiles ignored);</item>
/// <item>animated GIF/WebP: the first frame, with a note;</item>
/// <item>truncated or corrupt data is an error, never a half-grey image (Skia would hand back the partial rows).</item>
/// </list>
/// Every failure is a <see cref="DreamBoothException"/> with one line that starts with the file name.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Reads and decodes the image file at <paramref name="path"/>. Notes are also reported through <paramref name="warn"/>.</summary>
    public static DecodedImage Decode(string path, ImageDecodeOptions? options = null, Action<string>? warn = null)
    {
        options ??= ImageDecodeOptions.Default;
        options.Validate();
        return Decode(ReadFile(path, options), path, options, warn);
    }

    /// <summary>
    /// Decodes an image held in memory. <paramref name="name"/> names it in messages; its extension, if it has one of
    /// ours, is compared with the content. The file-size limit applies to <paramref name="bytes"/> as well.
    /// </summary>
    public static DecodedImage Decode(byte[] bytes, string name, ImageDecodeOptions? options = null, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        options ??= ImageDecodeOptions.Default;
        options.Validate();
        if (bytes.Length == 0) throw Fail(name, "empty file (0 bytes)");
        if (bytes.LongLength > options.MaxFileBytes)
            throw Fail(name, $"{bytes.LongLength} bytes, more than the limit of {options.MaxFileBytes} bytes per image");

        var format = ImageSignature.Detect(bytes) ?? throw NotAnImage(name, bytes);
        var notes = new List<string>();
        var promised = ImageFormats.FromExtension(name);
        if (promised is { } p && p != format)
            notes.Add($"{name}: the extension says {p.Name()} but the content is {format.Name()}; decoded as {format.Name()}");

        // libwebp reports a cut file as invalid, not incomplete; the RIFF header says how long the file should be.
        if (format == ImageFormat.WebP && !ImageCompleteness.ReachesEnd(format, bytes))
            throw Fail(name, $"truncated WebP file ({bytes.Length} of {8L + BitConverter.ToUInt32(bytes, 4)} bytes)");

        using var codec = SKCodec.Create(new SKMemoryStream(bytes), out var created);
        if (codec is null)
            throw Fail(name, created == SKCodecResult.IncompleteInput && !ImageCompleteness.ReachesEnd(format, bytes)
                ? $"truncated {format.Name()} file (the header is incomplete)"
                : $"corrupt {format.Name()} file (its header cannot be read)");
        if (FromSkia(codec.EncodedFormat) != format)
            throw Fail(name, $"unsupported image content ({codec.EncodedFormat}); use {ImageFormats.Supported}");

        int width = codec.Info.Width, height = codec.Info.Height;
        CheckDimensions(name, width, height, options);
        var orientation = Orientation(codec, format, bytes);
        var frames = Math.Max(1, codec.FrameCount);
        if (frames > 1)
            notes.Add($"{name}: animated {format.Name()} with {frames} frames; only the first frame is used");

        var rgba = DecodeFirstFrame(codec, name, format, width, height, bytes);
        var stored = ToRgb(rgba, width, height, options.Alpha, out var hadTransparency);
        var upright = ExifOrientation.Apply(stored, orientation);

        foreach (var note in notes) warn?.Invoke(note);
        return new DecodedImage(upright, new DecodedImageInfo(name, format, width, height, orientation, frames, hadTransparency, notes));
    }

    private static byte[] ReadFile(string path, ImageDecodeOptions options)
    {
        try
        {
            if (Directory.Exists(path)) throw Fail(path, "is a directory, not an image file");
            var file = new FileInfo(path);
            if (!file.Exists) throw Fail(path, "file not found");
            if (file.Length == 0) throw Fail(path, "empty file (0 bytes)");
            if (file.Length > options.MaxFileBytes)
                throw Fail(path, $"{file.Length} bytes, more than the limit of {options.MaxFileBytes} bytes per image");
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.SecurityException)
        {
            throw Fail(path, $"cannot read the file: {OneLine(e.Message)}", e);
        }
    }

    private static void CheckDimensions(string name, int width, int height, ImageDecodeOptions options)
    {
        if (width <= 0 || height <= 0) throw Fail(name, $"image has no pixels ({width}x{height})");
        if (width > options.MaxSide || height > options.MaxSide)
            throw Fail(name, $"image is {width}x{height}, a side exceeds the limit of {options.MaxSide} px (refused before decoding)");
        var pixels = (long)width * height;
        if (pixels > options.MaxPixels)
            throw Fail(name, $"image is {width}x{height} = {pixels} pixels, more than the limit of {options.MaxPixels} (refused before decoding)");
    }

    /// <summary>EXIF orientation from Skia (JPEG, WebP), or from a PNG's eXIf chunk, which Skia does not read; 1 if none.</summary>
    private static int Orientation(SKCodec codec, ImageFormat format, byte[] bytes)
    {
        var fromSkia = (int)codec.EncodedOrigin;
        if (fromSkia is >= 2 and <= 8) return fromSkia;
        if (format == ImageFormat.Png && ExifTiff.ReadOrientation(PngChunks.Find(bytes, "eXIf"u8)) is { } fromPng) return fromPng;
        return ExifOrientation.Upright;
    }

    private static unsafe byte[] DecodeFirstFrame(SKCodec codec, string name, ImageFormat format, int width, int height, byte[] bytes)
    {
        // Unpremultiplied RGBA with no colour space: Skia then does no colour management (as PIL), and grey, palette,
        // 16-bit and CMYK sources are converted to 8-bit RGBA by Skia's swizzlers.
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[info.BytesSize64];
        var frameOptions = new SKCodecOptions(0) { ZeroInitialized = SKZeroInitialized.Yes };
        SKCodecResult result;
        fixed (byte* p = rgba)
            result = codec.GetPixels(info, (IntPtr)p, info.RowBytes, frameOptions);
        // Skia's codes do not separate a cut file from a damaged one reliably; the file's end marker does.
        return result switch
        {
            SKCodecResult.Success => rgba,
            SKCodecResult.IncompleteInput or SKCodecResult.ErrorInInput or SKCodecResult.InvalidInput =>
                throw Fail(name, ImageCompleteness.ReachesEnd(format, bytes)
                    ? $"corrupt {format.Name()} image data"
                    : $"truncated {format.Name()} file (the image data ends early)"),
            _ => throw Fail(name, $"cannot decode this {format.Name()} file ({result})"),
        };
    }

    /// <summary>RGBA (unpremultiplied) → RGB, compositing onto white or dropping alpha.</summary>
    private static RgbImage ToRgb(byte[] rgba, int width, int height, AlphaMode mode, out bool hadTransparency)
    {
        var rgb = new byte[3L * width * height];
        var transparent = false;
        for (long s = 0, d = 0; s < rgba.LongLength; s += 4, d += 3)
        {
            int a = rgba[s + 3];
            if (a == 255 || mode == AlphaMode.Discard)
            {
                transparent |= a != 255;
                rgb[d] = rgba[s]; rgb[d + 1] = rgba[s + 1]; rgb[d + 2] = rgba[s + 2];
                continue;
            }
            transparent = true;
            // c·α + 255·(1 − α), in integers, rounded to nearest (255 is odd: no ties).
            var white = 255 * (255 - a) + 127;
            rgb[d] = (byte)((rgba[s] * a + white) / 255);
            rgb[d + 1] = (byte)((rgba[s + 1] * a + white) / 255);
            rgb[d + 2] = (byte)((rgba[s + 2] * a + white) / 255);
        }
        hadTransparency = transparent;
        return new RgbImage(width, height, rgb);
    }

    private static ImageFormat? FromSkia(SKEncodedImageFormat format) => format switch
    {
        SKEncodedImageFormat.Jpeg => ImageFormat.Jpeg,
        SKEncodedImageFormat.Png => ImageFormat.Png,
        SKEncodedImageFormat.Webp => ImageFormat.WebP,
        SKEncodedImageFormat.Bmp => ImageFormat.Bmp,
        SKEncodedImageFormat.Gif => ImageFormat.Gif,
        _ => null,
    };

    private static DreamBoothException NotAnImage(string name, byte[] bytes)
    {
        var known = ImageSignature.KnownUnsupported(bytes);
        return known is not null
            ? Fail(name, ImageFormats.NotSupported(known))
            : Fail(name, $"not an image (the content is not {ImageFormats.Supported})");
    }

    private static DreamBoothException Fail(string name, string what, Exception? inner = null) =>
        inner is null ? new DreamBoothException($"{name}: {what}") : new DreamBoothException($"{name}: {what}", inner);

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
