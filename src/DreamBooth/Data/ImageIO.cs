using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;
using DreamBooth.IO;

namespace DreamBooth.Data;

/// <summary>
/// Image files ↔ tensors through SkiaSharp: <see cref="Load"/> gives float32 RGB [3, H, W] in [0, 1];
/// <see cref="SavePng"/> writes such a tensor as an 8-bit RGB PNG, optionally with text metadata, atomically.
/// </summary>
public static class ImageIO
{
    /// <summary>
    /// True when <paramref name="path"/> is an image file a folder scan takes: one of <see cref="ImageFormats.Extensions"/>
    /// (the same list as training's <see cref="ImageDirectory"/>), not hidden (no leading dot: macOS "._name" files, editor
    /// leftovers) and not a temporary file.
    /// </summary>
    public static bool IsImagePath(string path) =>
        ImageFormats.HasImageExtension(path) && !Path.GetFileName(path).StartsWith('.') && !path.EndsWith(AtomicFile.TempSuffix, StringComparison.Ordinal);

    /// <summary>What a folder without images lacks, for errors: the extensions looked for and the files skipped.</summary>
    public static string NoImages => $"no images ({string.Join(", ", ImageFormats.Extensions)}, any case; hidden files skipped)";

    /// <summary>
    /// The image files directly inside <paramref name="dir"/>, sorted by name (ordinal); files of a format the decoder
    /// cannot read (TIFF, HEIC, ...) are skipped with a message to <paramref name="warn"/>.
    /// </summary>
    public static IReadOnlyList<string> ListImages(string dir, Action<string>? warn = null)
    {
        if (!Directory.Exists(dir)) throw new DreamBoothException($"{dir}: folder not found");
        var (images, unsupported) = Sort(Directory.EnumerateFiles(dir));
        foreach (var f in unsupported) warn?.Invoke(ImageFormats.SkippedUnsupported(f));
        return images;
    }

    /// <summary>
    /// The image files (<see cref="IsImagePath"/>) and the files of an unsupported image format
    /// (<see cref="ImageFormats.UnsupportedFormat"/>, hidden ones left out) among <paramref name="files"/>, each sorted by
    /// file name (ordinal): the one rule of every folder scan.
    /// </summary>
    public static (List<string> Images, List<string> Unsupported) Sort(IEnumerable<string> files)
    {
        var sorted = files.OrderBy(Path.GetFileName, StringComparer.Ordinal).ToList();
        return (sorted.Where(IsImagePath).ToList(),
            sorted.Where(f => !Path.GetFileName(f).StartsWith('.') && ImageFormats.UnsupportedFormat(f) is not null).ToList());
    }

    /// <summary>
    /// True when the file looks like a whole image the decoder reads: a format we decode (by content), a header Skia
    /// accepts and the format's end marker present (a truncated PNG keeps its header but loses its IEND chunk). No pixels
    /// are decoded, so counting hundreds of large class images stays fast; a file corrupt in the middle passes here and
    /// is skipped with a warning by the loader.
    /// </summary>
    public static bool LooksWhole(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
        if (ImageSignature.Detect(bytes) is not { } format || !ImageCompleteness.ReachesEnd(format, bytes)) return false;
        using var codec = SKCodec.Create(new SKMemoryStream(bytes));
        return codec is not null;
    }

    /// <summary>
    /// Decodes an image file to float32 RGB [3, H, W] in [0, 1] through <see cref="ImageDecoder"/> (its size limits, EXIF
    /// orientation and one-line errors), with transparency composited on white as training's loader does, so that the
    /// metrics see a photo as the model was trained on it.
    /// </summary>
    public static Tensor Load(string path)
    {
        if (!File.Exists(path)) throw new DreamBoothException($"{path}: file not found");
        return ImageDecoder.Decode(path).ToTensor();
    }

    /// <summary>Encodes RGB [3, H, W] in [0, 1] (clamped, rounded half to even like numpy) as PNG bytes with text entries.</summary>
    public static byte[] EncodePng(Tensor image, IEnumerable<KeyValuePair<string, string>>? text = null)
    {
        if (image.dim() != 3 || image.shape[0] != 3) throw new DreamBoothException($"image tensor must be [3, H, W], got [{string.Join(", ", image.shape)}]");
        int h = (int)image.shape[1], w = (int)image.shape[2];
        byte[] rgb;
        using (NewDisposeScope())
            rgb = image.detach().cpu().to(ScalarType.Float32).clamp(0, 1).mul(255).round().to(ScalarType.Byte).permute(1, 2, 0).contiguous().data<byte>().ToArray();
        return EncodePng(rgb, w, h, text);
    }

    /// <summary>Encodes interleaved 8-bit RGB pixels (row-major, <paramref name="width"/>×<paramref name="height"/>) as PNG bytes.</summary>
    public static byte[] EncodePng(ReadOnlySpan<byte> rgb, int width, int height, IEnumerable<KeyValuePair<string, string>>? text = null)
    {
        if (rgb.Length != width * height * 3) throw new ArgumentException($"expected {width * height * 3} bytes, got {rgb.Length}", nameof(rgb));
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var px = bitmap.GetPixelSpan();
        unsafe
        {
            var dst = new Span<byte>((void*)bitmap.GetPixels(), px.Length);
            for (int i = 0, n = width * height; i < n; i++)
            {
                dst[4 * i] = rgb[3 * i];
                dst[4 * i + 1] = rgb[3 * i + 1];
                dst[4 * i + 2] = rgb[3 * i + 2];
                dst[4 * i + 3] = 255;
            }
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100) ?? throw new InvalidOperationException("PNG encoding failed");
        var png = data.ToArray();
        return text is null ? png : PngText.Insert(png, text);
    }

    /// <summary>Writes RGB [3, H, W] in [0, 1] as a PNG file atomically, with optional text entries (e.g. "parameters").</summary>
    public static void SavePng(string path, Tensor image, IEnumerable<KeyValuePair<string, string>>? text = null) =>
        AtomicFile.WriteAllBytes(path, EncodePng(image, text));
}
