namespace DreamBooth.Data;

/// <summary>
/// Antialiased bilinear resizing that reproduces Pillow's <c>Image.resize(size, BILINEAR)</c> on 8-bit RGB bit for bit:
/// the resize that torchvision's <c>Resize</c> applies to the PIL images in diffusers' train_dreambooth.py. When
/// shrinking, the triangle filter is widened by the scale factor, so every source pixel contributes (no aliasing, unlike
/// plain bilinear or Skia's cubic sampling); then a horizontal pass, an 8-bit intermediate, and a vertical pass, with
/// Pillow's 22-bit fixed-point weights and rounding.
/// Hand-written instead of Skia's scaler for that parity, and because integer arithmetic gives identical bytes on every
/// CPU (Skia's SIMD paths promise no such thing), which keeps cached latents reproducible.
/// </summary>
public static class ImageResampler
{
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Resizes <paramref name="image"/> to <paramref name="width"/>×<paramref name="height"/> (up or down).</summary>
    public static RgbImage ResizeBilinear(RgbImage image, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (width == image.Width && height == image.Height) return image;

        var horizontal = Coefficients.For(image.Width, width);
        var vertical = Coefficients.For(image.Height, height);
        var current = image;
        if (width != image.Width)
        {
            // Only the source rows that the vertical pass will read are resized horizontally (as Pillow does).
            var firstRow = vertical.Start[0];
            var endRow = vertical.Start[height - 1] + vertical.Count[height - 1];
            current = ResizeRows(image, firstRow, endRow - firstRow, horizontal);
            vertical = vertical.Shifted(-firstRow);
        }
        if (height != image.Height)
            current = ResizeColumns(current, vertical);
        return current;
    }

    private static RgbImage ResizeRows(RgbImage src, int firstRow, int rows, Coefficients c)
    {
        var inPx = src.PixelArray;
        var outW = c.OutSize;
        var outPx = new byte[3L * outW * rows];
        for (var y = 0; y < rows; y++)
        {
            var inRow = (firstRow + y) * src.Width * 3;
            var outRow = y * outW * 3;
            for (var x = 0; x < outW; x++)
            {
                int s0 = 1 << (PrecisionBits - 1), s1 = s0, s2 = s0;
                var k = x * c.KernelSize;
                var p = inRow + c.Start[x] * 3;
                for (var i = 0; i < c.Count[x]; i++, p += 3)
                {
                    var w = c.Weights[k + i];
                    s0 += inPx[p] * w; s1 += inPx[p + 1] * w; s2 += inPx[p + 2] * w;
                }
                var o = outRow + x * 3;
                outPx[o] = Clip8(s0); outPx[o + 1] = Clip8(s1); outPx[o + 2] = Clip8(s2);
            }
        }
        return new RgbImage(outW, rows, outPx);
    }

    private static RgbImage ResizeColumns(RgbImage src, Coefficients c)
    {
        var inPx = src.PixelArray;
        var w3 = src.Width * 3;
        var outH = c.OutSize;
        var outPx = new byte[(long)w3 * outH];
        for (var y = 0; y < outH; y++)
        {
            var k = y * c.KernelSize;
            var start = c.Start[y];
            var count = c.Count[y];
            for (var x = 0; x < w3; x++) // every byte of the row is one channel of one pixel
            {
                var s = 1 << (PrecisionBits - 1);
                var p = start * w3 + x;
                for (var i = 0; i < count; i++, p += w3) s += inPx[p] * c.Weights[k + i];
                outPx[y * w3 + x] = Clip8(s);
            }
        }
        return new RgbImage(src.Width, outH, outPx);
    }

    private static byte Clip8(int v) => v >= 255 << PrecisionBits ? (byte)255 : v <= 0 ? (byte)0 : (byte)(v >> PrecisionBits);

    /// <summary>Per output pixel: first source index, number of taps, and fixed-point weights (Pillow's precompute_coeffs).</summary>
    private sealed record Coefficients(int OutSize, int KernelSize, int[] Start, int[] Count, int[] Weights)
    {
        public static Coefficients For(int inSize, int outSize)
        {
            var scale = (double)inSize / outSize;
            var filterScale = Math.Max(scale, 1.0);
            var support = 1.0 * filterScale; // the triangle filter has support 1
            var kernelSize = (int)Math.Ceiling(support) * 2 + 1;
            var start = new int[outSize];
            var count = new int[outSize];
            var weights = new int[outSize * kernelSize];
            var k = new double[kernelSize];
            for (var o = 0; o < outSize; o++)
            {
                var center = (o + 0.5) * scale;
                var xmin = Math.Max((int)(center - support + 0.5), 0);  // C casts truncate toward zero, like (int) here
                var xmax = Math.Min((int)(center + support + 0.5), inSize) - xmin;
                var sum = 0.0;
                var ss = 1.0 / filterScale; // Pillow multiplies by the reciprocal; dividing would round differently
                for (var i = 0; i < xmax; i++)
                {
                    var w = Triangle((i + xmin - center + 0.5) / filterScale);
                    k[i] = w;
                    sum += w;
                }
                for (var i = 0; i < xmax; i++)
                {
                    var w = sum != 0.0 ? k[i] / sum : k[i];
                    weights[o * kernelSize + i] = w < 0
                        ? (int)(-0.5 + w * (1 << PrecisionBits))
                        : (int)(0.5 + w * (1 << PrecisionBits));
                }
                start[o] = xmin;
                count[o] = xmax;
            }
            return new Coefficients(outSize, kernelSize, start, count, weights);
        }

        public Coefficients Shifted(int by) => this with { Start = Start.Select(s => s + by).ToArray() };

        private static double Triangle(double x)
        {
            x = Math.Abs(x);
            return x < 1.0 ? 1.0 - x : 0.0;
        }
    }
}
