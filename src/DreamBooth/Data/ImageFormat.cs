namespace DreamBooth.Data;

/// <summary>The image formats the decoder accepts. The file's content decides the format, not its extension.</summary>
public enum ImageFormat
{
    Jpeg,
    Png,
    WebP,
    Bmp,
    Gif,
}

/// <summary>Names and file extensions of <see cref="ImageFormat"/>.</summary>
public static class ImageFormats
{
    /// <summary>File extensions (lower case, with the dot) that a dataset directory scan treats as images.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".gif"];

    /// <summary>True when <paramref name="path"/> ends with one of <see cref="Extensions"/> (case-insensitive).</summary>
    public static bool HasImageExtension(string path) =>
        Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>
    /// The format name of an image file our decoder cannot read (TIFF, HEIC, AVIF, ...), by its extension, or null.
    /// Folder scans skip such files; callers say so, since a user expects a photo in the folder to be used.
    /// </summary>
    public static string? UnsupportedFormat(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".tif" or ".tiff" => "TIFF",
        ".heic" or ".heif" => "HEIF",
        ".avif" => "AVIF",
        ".jxl" => "JPEG XL",
        ".psd" => "Photoshop",
        ".svg" => "SVG",
        ".ico" => "ICO",
        ".dng" or ".cr2" or ".cr3" or ".nef" or ".arw" or ".raf" or ".orf" or ".rw2" => "camera raw",
        _ => null,
    };

    /// <summary>The formats we decode, for messages.</summary>
    public const string Supported = "JPEG, PNG, WebP, BMP or GIF";

    /// <summary>What to say of a file in a format we do not decode, named <paramref name="format"/> (e.g. "TIFF").</summary>
    public static string NotSupported(string format) => $"{format} images are not supported; convert it to {Supported}";

    /// <summary>The warning for a skipped file of an <see cref="UnsupportedFormat"/>.</summary>
    public static string SkippedUnsupported(string path) => $"skipping {path}: {NotSupported(UnsupportedFormat(path)!)}";

    /// <summary>The format a file extension promises, or null for an extension that names none of ours.</summary>
    public static ImageFormat? FromExtension(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".jpg" or ".jpeg" or ".jpe" or ".jfif" => ImageFormat.Jpeg,
        ".png" => ImageFormat.Png,
        ".webp" => ImageFormat.WebP,
        ".bmp" or ".dib" => ImageFormat.Bmp,
        ".gif" => ImageFormat.Gif,
        _ => null,
    };

    /// <summary>The usual name of a format, as used in messages ("JPEG", "PNG", ...).</summary>
    public static string Name(this ImageFormat format) => format switch
    {
        ImageFormat.Jpeg => "JPEG",
        ImageFormat.Png => "PNG",
        ImageFormat.WebP => "WebP",
        ImageFormat.Bmp => "BMP",
        ImageFormat.Gif => "GIF",
        _ => format.ToString(),
    };
}
