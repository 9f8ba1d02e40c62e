namespace DreamBooth.Data;

/// <summary>
/// The eight EXIF orientations (tag 0x0112) and how to turn stored pixels into the upright image a viewer shows,
/// like PIL's <c>ImageOps.exif_transpose</c> in diffusers' train_dreambooth.py. Values: 1 upright, 2 mirrored,
/// 3 rotated 180°, 4 mirrored vertically, 5 transposed, 6 needs 90° clockwise, 7 transversed, 8 needs 90° counter-clockwise.
/// Hand-written as an exact integer remap (Skia's codec reports the orientation but does not apply it).
/// </summary>
public static class ExifOrientation
{
    /// <summary>The value for an upright image (also used when the file has no orientation tag).</summary>
    public const int Upright = 1;

    /// <summary>True for orientations 5–8, which swap width and height.</summary>
    public static bool SwapsAxes(int orientation) => Check(orientation) >= 5;

    /// <summary>Short description of an orientation, for messages ("rotate 90° clockwise").</summary>
    public static string Describe(int orientation) => Check(orientation) switch
    {
        1 => "upright",
        2 => "mirror horizontally",
        3 => "rotate 180°",
        4 => "mirror vertically",
        5 => "transpose",
        6 => "rotate 90° clockwise",
        7 => "transverse",
        _ => "rotate 90° counter-clockwise",
    };

    /// <summary>The upright image for pixels stored with <paramref name="orientation"/>; the same instance for orientation 1.</summary>
    public static RgbImage Apply(RgbImage stored, int orientation)
    {
        if (Check(orientation) == Upright) return stored;
        int w = stored.Width, h = stored.Height;
        var (dw, dh) = SwapsAxes(orientation) ? (h, w) : (w, h);
        // Display position of stored pixel (sx, sy): dx = ax·sx + bx·sy + cx, dy = ay·sx + by·sy + cy.
        var (ax, bx, cx, ay, by, cy) = orientation switch
        {
            2 => (-1, 0, w - 1, 0, 1, 0),
            3 => (-1, 0, w - 1, 0, -1, h - 1),
            4 => (1, 0, 0, 0, -1, h - 1),
            5 => (0, 1, 0, 1, 0, 0),
            6 => (0, -1, h - 1, 1, 0, 0),
            7 => (0, -1, h - 1, -1, 0, w - 1),
            _ => (0, 1, 0, -1, 0, w - 1), // 8
        };
        var src = stored.PixelArray;
        var dst = new byte[src.Length];
        for (var sy = 0; sy < h; sy++)
        {
            for (var sx = 0; sx < w; sx++)
            {
                var dx = ax * sx + bx * sy + cx;
                var dy = ay * sx + by * sy + cy;
                var s = (sy * w + sx) * 3;
                var d = (dy * dw + dx) * 3;
                dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2];
            }
        }
        return new RgbImage(dw, dh, dst);
    }

    private static int Check(int orientation) =>
        orientation is >= 1 and <= 8 ? orientation
            : throw new ArgumentOutOfRangeException(nameof(orientation), orientation, "EXIF orientation must be 1..8");
}
