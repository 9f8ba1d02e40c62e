using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Data;

/// <summary>
/// An 8-bit RGB image in managed memory: rows top to bottom, 3 bytes per pixel (R, G, B), no row padding. This is the
/// form every image takes between decoding and the tensor (like a PIL image in mode "RGB" in diffusers' scripts).
/// Immutable: every operation returns a new image.
/// </summary>
public sealed class RgbImage
{
    private readonly byte[] _pixels;

    /// <summary>Wraps <paramref name="pixels"/> (width·height·3 bytes, taken over, not copied).</summary>
    public RgbImage(int width, int height, byte[] pixels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.LongLength != 3L * width * height)
            throw new ArgumentException($"expected {3L * width * height} bytes for {width}x{height} RGB, got {pixels.LongLength}", nameof(pixels));
        Width = width;
        Height = height;
        _pixels = pixels;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>The pixels, row-major RGB.</summary>
    public ReadOnlySpan<byte> Pixels => _pixels;

    internal byte[] PixelArray => _pixels;

    /// <summary>The colour at column <paramref name="x"/>, row <paramref name="y"/>.</summary>
    public (byte R, byte G, byte B) this[int x, int y]
    {
        get
        {
            if ((uint)x >= (uint)Width || (uint)y >= (uint)Height)
                throw new ArgumentOutOfRangeException(nameof(x), $"pixel ({x}, {y}) outside {Width}x{Height}");
            var i = (y * Width + x) * 3;
            return (_pixels[i], _pixels[i + 1], _pixels[i + 2]);
        }
    }

    /// <summary>A filled image of one colour.</summary>
    public static RgbImage Solid(int width, int height, byte r, byte g, byte b)
    {
        var px = new byte[3L * width * height];
        for (var i = 0; i < px.Length; i += 3) { px[i] = r; px[i + 1] = g; px[i + 2] = b; }
        return new RgbImage(width, height, px);
    }

    /// <summary>The <paramref name="width"/>×<paramref name="height"/> region whose top-left corner is (<paramref name="left"/>, <paramref name="top"/>).</summary>
    public RgbImage Crop(int left, int top, int width, int height)
    {
        if (left < 0 || top < 0 || width < 1 || height < 1 || left + width > Width || top + height > Height)
            throw new ArgumentOutOfRangeException(nameof(left), $"crop {width}x{height} at ({left}, {top}) outside {Width}x{Height}");
        var px = new byte[3L * width * height];
        for (var y = 0; y < height; y++)
            Array.Copy(_pixels, ((top + y) * Width + left) * 3, px, y * width * 3, width * 3);
        return new RgbImage(width, height, px);
    }

    /// <summary>The mirror image (left and right swapped), like torchvision's <c>hflip</c>.</summary>
    public RgbImage FlipHorizontal()
    {
        var px = new byte[_pixels.Length];
        for (var y = 0; y < Height; y++)
        {
            var row = y * Width * 3;
            for (var x = 0; x < Width; x++)
            {
                var s = row + x * 3;
                var d = row + (Width - 1 - x) * 3;
                px[d] = _pixels[s]; px[d + 1] = _pixels[s + 1]; px[d + 2] = _pixels[s + 2];
            }
        }
        return new RgbImage(Width, Height, px);
    }

    /// <summary>
    /// A float32 tensor [3, H, W] with values in [0, 1], computed exactly like torchvision's <c>ToTensor</c>
    /// (uint8 → float32, then division by 255 in libtorch). The caller owns (disposes) the result.
    /// </summary>
    public Tensor ToTensor()
    {
        using var scope = NewDisposeScope();
        var bytes = torch.tensor(_pixels, [Height, Width, 3], ScalarType.Byte);
        return bytes.permute(2, 0, 1).contiguous().to(ScalarType.Float32).div(255).MoveToOuterDisposeScope();
    }
}
