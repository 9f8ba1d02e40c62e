using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Data;

/// <summary>
/// The training-image transforms of diffusers' DreamBooth scripts, one function each, torchvision semantics:
/// <c>Resize(resolution)</c> (shorter side → resolution, antialiased bilinear), <c>CenterCrop</c> / <c>RandomCrop</c>,
/// <c>RandomHorizontalFlip</c>, <c>ToTensor</c> and <c>Normalize([0.5], [0.5])</c>. Randomness always comes from a
/// <see cref="torch.Generator"/> passed in, drawn the same way torchvision draws it from the global generator.
/// </summary>
public static class ImageTransforms
{
    /// <summary>
    /// Size after torchvision's <c>Resize(size)</c>: the shorter side becomes <paramref name="size"/>, the longer one
    /// <c>int(size · long / short)</c> (truncated, as torchvision does).
    /// </summary>
    public static (int Width, int Height) ShorterSideSize(int width, int height, int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        var (shortSide, longSide) = width <= height ? (width, height) : (height, width);
        var newLong = (int)((double)size * longSide / shortSide);
        return width <= height ? (size, newLong) : (newLong, size);
    }

    /// <summary>Resizes so that the shorter side equals <paramref name="size"/> (up or down), keeping the aspect ratio.</summary>
    public static RgbImage ResizeShorterSide(RgbImage image, int size)
    {
        var (w, h) = ShorterSideSize(image.Width, image.Height, size);
        return ImageResampler.ResizeBilinear(image, w, h);
    }

    /// <summary>Top-left corner of torchvision's <c>CenterCrop(size)</c>: <c>round((W − size) / 2)</c>, half to even.</summary>
    public static (int Left, int Top) CenterCropOrigin(int width, int height, int size)
    {
        CheckCrop(width, height, size);
        return ((int)Math.Round((width - size) / 2.0, MidpointRounding.ToEven),
                (int)Math.Round((height - size) / 2.0, MidpointRounding.ToEven));
    }

    /// <summary>
    /// Top-left corner of torchvision's <c>RandomCrop(size)</c>: nothing is drawn when the image already has the crop's
    /// size; otherwise the top from <c>randint(0, H − size + 1)</c>, then the left from <c>randint(0, W − size + 1)</c>.
    /// </summary>
    public static (int Left, int Top) RandomCropOrigin(int width, int height, int size, torch.Generator generator)
    {
        CheckCrop(width, height, size);
        if (width == size && height == size) return (0, 0);
        var top = RandInt(height - size + 1, generator);
        var left = RandInt(width - size + 1, generator);
        return (left, top);
    }

    /// <summary>torchvision's <c>RandomHorizontalFlip(p)</c> decision: <c>rand(1) &lt; p</c>.</summary>
    public static bool RandomFlip(torch.Generator generator, double p = 0.5)
    {
        using var r = torch.rand(1, ScalarType.Float32, generator: generator);
        return r.item<float>() < p;
    }

    /// <summary>The square crop of side <paramref name="size"/> at <paramref name="variant"/>'s corner, mirrored if it says so.</summary>
    public static RgbImage Apply(RgbImage resized, int size, AugmentationVariant variant)
    {
        var crop = resized.Crop(variant.CropLeft, variant.CropTop, size, size);
        return variant.Flip ? crop.FlipHorizontal() : crop;
    }

    /// <summary>
    /// The model input: [3, H, W] float32 in [−1, 1], i.e. <c>ToTensor</c> then <c>Normalize([0.5], [0.5])</c>. The caller
    /// disposes it. (x − 0.5) / 0.5 equals 2x − 1 bit for bit in float32, as both steps are exact scalings by 2.)
    /// </summary>
    public static Tensor ToModelInput(RgbImage image)
    {
        using var scope = NewDisposeScope();
        return image.ToTensor().sub(0.5).div(0.5).MoveToOuterDisposeScope();
    }

    private static int RandInt(int high, torch.Generator generator)
    {
        using var t = torch.randint(0L, high, [1L], ScalarType.Int64, generator: generator);
        return (int)t.item<long>();
    }

    private static void CheckCrop(int width, int height, int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        if (width < size || height < size)
            throw new ArgumentOutOfRangeException(nameof(size), $"crop {size}x{size} does not fit in {width}x{height}");
    }
}
