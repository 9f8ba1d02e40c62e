namespace DreamBooth.TinyWorld;

/// <summary>
/// The art renditions, as pixel filters over the 2× supersampled photo (planar RGB in [0,1], <c>size×size</c>, world
/// unit = <c>scale</c> pixels): a framed painting (soft, posterised colours with brush texture inside a wooden frame)
/// and a pencil sketch (graphite outlines and hatching on cream paper; colours survive only as shading).
/// </summary>
internal static class StyleFilters
{
    public static void Painting(float[][] rgb, int size, int scale)
    {
        for (int ch = 0; ch < 3; ch++) BoxBlur(rgb[ch], size, 1);
        float period1 = 2.4f * scale, period2 = 6.5f * scale;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                int i = y * size + x;
                float r = rgb[0][i], g = rgb[1][i], b = rgb[2][i];
                float mean = (r + g + b) / 3;
                // Richer colours, posterised to a few levels per channel, then a diagonal brush-stroke texture.
                float brush = 1 + 0.09f * MathF.Sin(MathF.Tau * (x + y) / period1) * MathF.Sin(MathF.Tau * (x - y) / period2);
                rgb[0][i] = Posterize(mean + (r - mean) * 1.25f) * brush;
                rgb[1][i] = Posterize(mean + (g - mean) * 1.25f) * brush;
                rgb[2][i] = Posterize(mean + (b - mean) * 1.25f) * brush;
            }
        DrawFrame(rgb, size, scale);
    }

    public static void PencilSketch(float[][] rgb, int size, int scale)
    {
        int n = size * size;
        var lum = new float[n];
        for (int i = 0; i < n; i++) lum[i] = 0.299f * rgb[0][i] + 0.587f * rgb[1][i] + 0.114f * rgb[2][i];
        // Edges of the slightly blurred colour image, so that lines are about one output pixel wide.
        var edge = new float[n];
        var blurred = new float[n];
        for (int ch = 0; ch < 3; ch++)
        {
            Array.Copy(rgb[ch], blurred, n);
            BoxBlur(blurred, size, 1);
            for (int y = 1; y < size - 1; y++)
                for (int x = 1; x < size - 1; x++)
                {
                    int i = y * size + x;
                    float gx = blurred[i - size + 1] + 2 * blurred[i + 1] + blurred[i + size + 1] - blurred[i - size - 1] - 2 * blurred[i - 1] - blurred[i + size - 1];
                    float gy = blurred[i + size - 1] + 2 * blurred[i + size] + blurred[i + size + 1] - blurred[i - size - 1] - 2 * blurred[i - size] - blurred[i - size + 1];
                    edge[i] = MathF.Max(edge[i], MathF.Sqrt(gx * gx + gy * gy));
                }
        }
        float edgeScale = scale / 2.5f;
        int period = 3 * scale, line = 1;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                int i = y * size + x;
                float l = lum[i];
                float d = Math.Clamp((edge[i] * edgeScale - 0.05f) * 3.2f, 0, 1) * 0.9f;
                if (((x + y) % period) < line) d = MathF.Max(d, Math.Clamp((0.66f - l) * 1.2f, 0, 0.55f));
                if (((x - y + 4 * size) % period) < line) d = MathF.Max(d, Math.Clamp((0.36f - l) * 1.6f, 0, 0.55f));
                float grain = 0.012f * MathF.Sin(x * 12.9898f + y * 78.233f);
                rgb[0][i] = 0.965f + grain + (0.25f - 0.965f) * d;
                rgb[1][i] = 0.955f + grain + (0.25f - 0.955f) * d;
                rgb[2][i] = 0.915f + grain + (0.27f - 0.915f) * d;
            }
    }

    private static float Posterize(float v) => MathF.Round(Math.Clamp(v, 0, 1) * 6) / 6;

    private static void DrawFrame(float[][] rgb, int size, int scale)
    {
        float outer = 3.4f * scale, gold = 0.9f * scale;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                float dist = MathF.Min(MathF.Min(x + 0.5f, size - x - 0.5f), MathF.Min(y + 0.5f, size - y - 0.5f));
                if (dist >= outer + gold) continue;
                int i = y * size + x;
                if (dist < outer)
                {
                    bool vertical = MathF.Min(x + 0.5f, size - x - 0.5f) < MathF.Min(y + 0.5f, size - y - 0.5f);
                    float along = vertical ? y : x;
                    float grain = 0.85f + 0.15f * MathF.Sin(along * 0.35f / scale + dist * 1.7f / scale);
                    float bevel = dist < outer * 0.3f ? 0.8f : 1f;
                    rgb[0][i] = 0.50f * grain * bevel;
                    rgb[1][i] = 0.31f * grain * bevel;
                    rgb[2][i] = 0.16f * grain * bevel;
                }
                else
                {
                    rgb[0][i] = 0.86f; rgb[1][i] = 0.70f; rgb[2][i] = 0.30f;
                }
            }
    }

    /// <summary>In-place separable box blur with clamped edges.</summary>
    internal static void BoxBlur(float[] plane, int size, int radius)
    {
        var tmp = new float[plane.Length];
        float norm = 1f / (2 * radius + 1);
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                float s = 0;
                for (int k = -radius; k <= radius; k++) s += plane[y * size + Math.Clamp(x + k, 0, size - 1)];
                tmp[y * size + x] = s * norm;
            }
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                float s = 0;
                for (int k = -radius; k <= radius; k++) s += tmp[Math.Clamp(y + k, 0, size - 1) * size + x];
                plane[y * size + x] = s * norm;
            }
    }
}
