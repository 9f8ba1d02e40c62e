using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.TinyWorld;

/// <summary>
/// Renders a <see cref="SceneSpec"/> to a 64×64 RGB image: the scene is drawn anti-aliased with SkiaSharp at
/// <see cref="Supersample"/>× resolution and box-averaged down, with the rendition filter applied at 2× resolution.
/// Pure function of the spec (no shared state; safe to call from several threads).
/// </summary>
public static class SceneRenderer
{
    /// <summary>Output width and height in pixels.</summary>
    public const int Size = 64;

    /// <summary>Supersampling factor of the internal canvas.</summary>
    public const int Supersample = 4;

    /// <summary>The image as planar RGB floats in [0, 1], length 3·64·64 (channel-major, like a [3,64,64] tensor).</summary>
    public static float[] Render(SceneSpec spec) => RenderWithMask(spec).Pixels;

    /// <summary>The image and the subject's coverage mask (64·64 floats in [0, 1]; the ground shadow is not part of it).</summary>
    public static RenderedScene RenderWithMask(SceneSpec spec)
    {
        const int s = Size * Supersample;
        var info = new SKImageInfo(s, s, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var bitmap = new SKBitmap(info);
        using var layer = new SKBitmap(info);
        using (var canvas = new SKCanvas(bitmap))
        using (var subject = new SKCanvas(layer))
        {
            canvas.Clear(SKColors.White);
            subject.Clear(SKColors.Transparent);
            canvas.Scale(Supersample);
            subject.Scale(Supersample);
            var background = new WorldRandom(spec.BackgroundSeed);
            Backgrounds.Draw(canvas, spec.Context, background);
            SubjectPainter.Draw(canvas, subject, spec.Subject, spec.Placement, spec.Context);
            canvas.Save();
            canvas.ResetMatrix();
            canvas.DrawBitmap(layer, 0, 0, SKSamplingOptions.Default);   // pixel-aligned copy: the sampling is never used
            canvas.Restore();
            Backgrounds.DrawForeground(canvas, spec.Context, background);
        }

        var alpha = layer.GetPixelSpan();
        var mask = new float[Size * Size];
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
            {
                int sum = 0;
                for (int dy = 0; dy < Supersample; dy++)
                    for (int dx = 0; dx < Supersample; dx++)
                        sum += alpha[((y * Supersample + dy) * s + x * Supersample + dx) * 4 + 3];
                mask[y * Size + x] = sum / (255f * Supersample * Supersample);
            }

        // Average 2×2 blocks into planar floats at the filter resolution, filter there, then average 2×2 again.
        const int f = s / 2;
        var bytes = bitmap.GetPixelSpan();
        var rgb = new[] { new float[f * f], new float[f * f], new float[f * f] };
        for (int y = 0; y < f; y++)
            for (int x = 0; x < f; x++)
            {
                int p = (2 * y * s + 2 * x) * 4, q = p + s * 4;
                for (int ch = 0; ch < 3; ch++)
                    rgb[ch][y * f + x] = (bytes[p + ch] + bytes[p + 4 + ch] + bytes[q + ch] + bytes[q + 4 + ch]) * (1f / (4 * 255));
            }
        switch (spec.Style)
        {
            case RenderStyle.Photo: break;
            case RenderStyle.Painting: StyleFilters.Painting(rgb, f, Supersample / 2); break;
            case RenderStyle.PencilSketch: StyleFilters.PencilSketch(rgb, f, Supersample / 2); break;
            default: throw new ArgumentOutOfRangeException(nameof(spec));
        }

        var result = new float[3 * Size * Size];
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < Size; y++)
                for (int x = 0; x < Size; x++)
                {
                    int p = 2 * y * f + 2 * x;
                    float sum = rgb[ch][p] + rgb[ch][p + 1] + rgb[ch][p + f] + rgb[ch][p + f + 1];
                    result[(ch * Size + y) * Size + x] = Math.Clamp(sum * 0.25f, 0f, 1f);
                }
        return new RenderedScene(result, mask);
    }

    /// <summary>The image as a float32 tensor [3, 64, 64] in [0, 1].</summary>
    public static Tensor RenderTensor(SceneSpec spec) => tensor(Render(spec), new long[] { 3, Size, Size });
}

/// <summary>A rendered scene: planar RGB pixels [3·64·64] and the subject's coverage mask [64·64], both in [0, 1].</summary>
public sealed record RenderedScene(float[] Pixels, float[] SubjectMask);
