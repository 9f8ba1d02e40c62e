using SkiaSharp;

namespace DreamBooth.TinyWorld;

/// <summary>The sRGB values of the world's colours, chosen to stay distinct from each other and from the backgrounds.</summary>
public static class WorldPalette
{
    /// <summary>The colour's sRGB value.</summary>
    public static SKColor Rgb(WorldColor c) => c switch
    {
        WorldColor.Red => new SKColor(214, 38, 42),
        WorldColor.Orange => new SKColor(247, 128, 28),
        WorldColor.Yellow => new SKColor(250, 212, 36),
        WorldColor.Green => new SKColor(34, 150, 70),
        WorldColor.Blue => new SKColor(38, 86, 222),
        WorldColor.Purple => new SKColor(142, 56, 196),
        WorldColor.White => new SKColor(246, 246, 244),
        WorldColor.Black => new SKColor(34, 34, 38),
        _ => throw new ArgumentOutOfRangeException(nameof(c)),
    };

    /// <summary>Outline colour of subjects (a light rim at night so that dark bodies stay visible).</summary>
    public static SKColor Outline(WorldContext context) => context == WorldContext.Night ? new SKColor(214, 222, 250) : new SKColor(24, 24, 30);

    /// <summary><paramref name="c"/> scaled towards black by <paramref name="factor"/> (1 = unchanged).</summary>
    public static SKColor Shade(SKColor c, float factor) =>
        new((byte)Math.Clamp(c.Red * factor, 0, 255), (byte)Math.Clamp(c.Green * factor, 0, 255), (byte)Math.Clamp(c.Blue * factor, 0, 255), c.Alpha);

    /// <summary><paramref name="a"/> mixed with <paramref name="b"/> by <paramref name="t"/> (0 = a).</summary>
    public static SKColor Mix(SKColor a, SKColor b, float t) =>
        new((byte)(a.Red + (b.Red - a.Red) * t), (byte)(a.Green + (b.Green - a.Green) * t), (byte)(a.Blue + (b.Blue - a.Blue) * t), (byte)(a.Alpha + (b.Alpha - a.Alpha) * t));
}
