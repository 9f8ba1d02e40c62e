namespace DreamBooth.Data;

/// <summary>
/// Recognises a file's format from its first bytes. Skia sniffs too, but it answers "incomplete input" for any short
/// file (a 20-byte text file included) and accepts formats we do not train on (ICO, WBMP, whose loose signature matches
/// many non-images); our own check gives the user a precise message ("not an image", "HEIC is not supported").
/// </summary>
internal static class ImageSignature
{
    /// <summary>The supported format whose signature starts <paramref name="head"/>, or null.</summary>
    public static ImageFormat? Detect(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF])) return ImageFormat.Jpeg;
        if (head.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A])) return ImageFormat.Png;
        if (head.StartsWith("GIF87a"u8) || head.StartsWith("GIF89a"u8)) return ImageFormat.Gif;
        if (head.Length >= 12 && head.StartsWith("RIFF"u8) && head.Slice(8, 4).SequenceEqual("WEBP"u8)) return ImageFormat.WebP;
        if (head.StartsWith("BM"u8)) return ImageFormat.Bmp;
        return null;
    }

    /// <summary>The name of a well-known format we do not accept, to make the error helpful; null when unknown.</summary>
    public static string? KnownUnsupported(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith("II*\0"u8) || head.StartsWith("MM\0*"u8)) return "TIFF";
        if (head.Length >= 12 && head.Slice(4, 4).SequenceEqual("ftyp"u8))
        {
            var brand = head.Slice(8, 4);
            if (brand.SequenceEqual("avif"u8) || brand.SequenceEqual("avis"u8)) return "AVIF";
            if (brand.SequenceEqual("heic"u8) || brand.SequenceEqual("heix"u8) || brand.SequenceEqual("mif1"u8)
                || brand.SequenceEqual("msf1"u8) || brand.SequenceEqual("hevc"u8)) return "HEIF/HEIC";
        }
        if (head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0x0A])
            || head.StartsWith((ReadOnlySpan<byte>)[0, 0, 0, 0x0C, (byte)'J', (byte)'X', (byte)'L', (byte)' '])) return "JPEG XL";
        if (head.StartsWith((ReadOnlySpan<byte>)[0, 0, 0, 0x0C, (byte)'j', (byte)'P', (byte)' ', (byte)' '])) return "JPEG 2000";
        if (head.StartsWith((ReadOnlySpan<byte>)[0, 0, 1, 0])) return "ICO";
        if (head.StartsWith("8BPS"u8)) return "PSD";
        if (head.StartsWith("%PDF"u8)) return "PDF";
        if (head.StartsWith("RIFF"u8)) return "RIFF (not WebP)";
        return null;
    }
}
