using SkiaSharp;

namespace DreamBooth.Tests.Data.Corpus;

/// <summary>Encodes synthetic pictures with Skia (JPEG, PNG, WebP); what Skia cannot write is built by hand elsewhere.</summary>
internal static class SkiaEncode
{
    public static byte[] Encode(int width, int height, Func<int, int, SKColor> pixel, SKEncodedImageFormat format, int quality = 95)
    {
        using var bmp = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                bmp.SetPixel(x, y, pixel(x, y));
        using var data = bmp.Encode(format, quality) ?? throw new InvalidOperationException($"Skia cannot encode {format}");
        return data.ToArray();
    }

    public static byte[] Png(int width, int height, Func<int, int, SKColor> pixel) => Encode(width, height, pixel, SKEncodedImageFormat.Png);

    public static byte[] Jpeg(int width, int height, Func<int, int, SKColor> pixel, int quality = 95) =>
        Encode(width, height, pixel, SKEncodedImageFormat.Jpeg, quality);

    /// <summary>WebP; quality 100 is lossless (VP8L) in Skia, below is lossy (VP8).</summary>
    public static byte[] Webp(int width, int height, Func<int, int, SKColor> pixel, int quality = 100) =>
        Encode(width, height, pixel, SKEncodedImageFormat.Webp, quality);

    /// <summary>Deterministic pseudo-random noise (incompressible enough that truncation cuts into the pixel data).</summary>
    public static SKColor Noise(int x, int y)
    {
        var h = (uint)(x * 73856093) ^ (uint)(y * 19349663);
        h ^= h >> 13; h *= 0x5bd1e995; h ^= h >> 15;
        return new SKColor((byte)h, (byte)(h >> 8), (byte)(h >> 16));
    }
}
