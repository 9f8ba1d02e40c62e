using SkiaSharp;

namespace DreamBooth.TinyWorld;

/// <summary>
/// Draws the six contexts on a 64×64 canvas (world units = output pixels). Each is told apart by structure, not only
/// colour (sea band, dunes and cactus, buildings, moon and stars, falling snow, grass blades), so that contexts stay
/// recognisable in a pencil sketch. Element positions come from the scene's background seed.
/// </summary>
internal static class Backgrounds
{
    public static void Draw(SKCanvas canvas, WorldContext context, WorldRandom rng)
    {
        switch (context)
        {
            case WorldContext.Grass: Grass(canvas, ref rng); break;
            case WorldContext.Beach: Beach(canvas, ref rng); break;
            case WorldContext.Snow: Snow(canvas, ref rng); break;
            case WorldContext.Night: Night(canvas, ref rng); break;
            case WorldContext.City: City(canvas, ref rng); break;
            case WorldContext.Desert: Desert(canvas, ref rng); break;
            default: throw new ArgumentOutOfRangeException(nameof(context));
        }
    }

    /// <summary>Falling snowflakes drawn over the whole scene (after the subject) in the snow context.</summary>
    public static void DrawForeground(SKCanvas canvas, WorldContext context, WorldRandom rng)
    {
        if (context != WorldContext.Snow) return;
        rng = rng.Derive(7);
        using var flake = Fill(new SKColor(255, 255, 255, 230));
        int n = 14 + rng.Below(8);
        for (int i = 0; i < n; i++)
            canvas.DrawCircle(rng.Range(0, 64), rng.Range(0, 64), rng.Range(0.5f, 0.9f), flake);
    }

    private static void Grass(SKCanvas c, ref WorldRandom rng)
    {
        float horizon = rng.Range(24, 30);
        Sky(c, horizon, new SKColor(112, 182, 240), new SKColor(196, 228, 250));
        for (int i = 0, n = 1 + rng.Below(2); i < n; i++) Cloud(c, rng.Range(6, 58), rng.Range(5, horizon - 9), rng.Range(0.8f, 1.3f));
        // A row of distant bushes on the horizon.
        using (var bush = Fill(new SKColor(62, 128, 52)))
            for (float x = -4 + rng.Range(0, 6); x < 68; x += rng.Range(6, 10))
                c.DrawCircle(x, horizon + 0.5f, rng.Range(2.5f, 4.5f), bush);
        using (var ground = Fill(new SKColor(118, 186, 72))) c.DrawRect(0, horizon, 64, 64 - horizon, ground);
        using var blade = Stroke(new SKColor(70, 140, 44), 0.7f);
        for (int i = 0; i < 90; i++)
        {
            float x = rng.Range(0, 64), y = rng.Range(horizon + 2, 65), h = 1.2f + (y - horizon) * 0.07f;
            c.DrawLine(x, y, x + rng.Range(-0.8f, 0.8f), y - h, blade);
        }
        using var flower = Fill(new SKColor(255, 245, 120));
        for (int i = 0, n = 3 + rng.Below(4); i < n; i++) c.DrawCircle(rng.Range(0, 64), rng.Range(horizon + 3, 63), 0.8f, flower);
    }

    private static void Beach(SKCanvas c, ref WorldRandom rng)
    {
        float horizon = rng.Range(20, 25);
        Sky(c, horizon, new SKColor(70, 160, 235), new SKColor(170, 215, 245));
        using (var sun = Fill(new SKColor(255, 236, 120))) c.DrawCircle(rng.Range(8, 56), rng.Range(5, horizon - 6), 4f, sun);
        float shore = horizon + rng.Range(9, 12);
        using (var sea = Fill(new SKColor(24, 112, 190))) c.DrawRect(0, horizon, 64, shore - horizon, sea);
        using (var wave = Stroke(new SKColor(220, 240, 255), 0.7f))
            for (int i = 0; i < 9; i++)
            {
                float x = rng.Range(0, 60), y = rng.Range(horizon + 1.5f, shore - 1);
                c.DrawLine(x, y, x + rng.Range(3, 6), y, wave);
            }
        using (var sand = Fill(new SKColor(238, 214, 156))) c.DrawRect(0, shore, 64, 64 - shore, sand);
        using (var foam = Stroke(new SKColor(250, 250, 245), 1.1f))
        {
            using var path = BuildPath(b =>
            {
                b.MoveTo(0, shore);
                for (float x = 0; x < 64; x += 8) b.QuadTo(x + 4, shore + 1.6f, x + 8, shore);
            });
            c.DrawPath(path, foam);
        }
        using var pebble = Fill(new SKColor(205, 180, 125));
        for (int i = 0; i < 10; i++) c.DrawCircle(rng.Range(0, 64), rng.Range(shore + 3, 64), 0.6f, pebble);
    }

    private static void Snow(SKCanvas c, ref WorldRandom rng)
    {
        float horizon = rng.Range(24, 30);
        Sky(c, horizon, new SKColor(176, 190, 212), new SKColor(222, 228, 238));
        // Distant pine trees, dark with snowy tips.
        using (var pine = Fill(new SKColor(40, 84, 64)))
        using (var cap = Fill(new SKColor(250, 252, 255)))
            for (int i = 0, n = 2 + rng.Below(2); i < n; i++)
            {
                float x = rng.Range(4, 60), h = rng.Range(10, 15), w = h * 0.45f;
                using var tree = Poly(x, horizon - h, x + w, horizon + 1, x - w, horizon + 1);
                c.DrawPath(tree, pine);
                using var tip = Poly(x, horizon - h, x + w * 0.35f, horizon - h * 0.65f, x - w * 0.35f, horizon - h * 0.65f);
                c.DrawPath(tip, cap);
            }
        using (var ground = Fill(new SKColor(247, 249, 253))) c.DrawRect(0, horizon, 64, 64 - horizon, ground);
        using (var drift = Fill(new SKColor(214, 224, 242)))
            for (int i = 0; i < 3; i++)
            {
                float x = rng.Range(-5, 60), y = rng.Range(horizon + 4, 62);
                c.DrawOval(new SKRect(x, y, x + rng.Range(12, 22), y + 2.2f), drift);
            }
    }

    private static void Night(SKCanvas c, ref WorldRandom rng)
    {
        float horizon = rng.Range(34, 40);
        Sky(c, horizon, new SKColor(10, 14, 44), new SKColor(34, 40, 96));
        using (var star = Fill(new SKColor(255, 255, 230)))
            for (int i = 0; i < 22; i++) c.DrawCircle(rng.Range(0, 64), rng.Range(0, horizon - 2), rng.Range(0.35f, 0.75f), star);
        // Crescent moon: a disc minus an offset disc.
        float mx = rng.Range(8, 56), my = rng.Range(5, 13);
        using (var disc = BuildPath(b => b.AddCircle(mx, my, 4.5f)))
        using (var bite = BuildPath(b => b.AddCircle(mx + 2.2f, my - 1.2f, 4f)))
        {
            using var moon = disc.Op(bite, SKPathOp.Difference);
            using var moonPaint = Fill(new SKColor(250, 240, 180));
            if (moon != null) c.DrawPath(moon, moonPaint);
        }
        using (var hill = Fill(new SKColor(22, 30, 56)))
        {
            using var b = new SKPathBuilder();
            b.MoveTo(0, horizon);
            b.QuadTo(rng.Range(10, 30), horizon - rng.Range(2, 6), 32, horizon);
            b.QuadTo(rng.Range(34, 54), horizon - rng.Range(2, 6), 64, horizon);
            b.LineTo(64, 64); b.LineTo(0, 64); b.Close();
            using var path = b.Detach();
            c.DrawPath(path, hill);
        }
        using var grass = Stroke(new SKColor(40, 52, 86), 0.6f);
        for (int i = 0; i < 30; i++)
        {
            float x = rng.Range(0, 64), y = rng.Range(horizon + 2, 64);
            c.DrawLine(x, y, x, y - 1.2f, grass);
        }
    }

    private static void City(SKCanvas c, ref WorldRandom rng)
    {
        float street = rng.Range(38, 42);
        Sky(c, street, new SKColor(150, 176, 204), new SKColor(206, 214, 224));
        // Buildings with window grids.
        float x = rng.Range(-6, 0);
        while (x < 64)
        {
            float w = rng.Range(9, 15), h = rng.Range(16, 32);
            byte g = (byte)rng.Range(92, 150);
            using (var wall = Fill(new SKColor(g, g, (byte)Math.Min(255, g + 12))))
                c.DrawRect(x, street - h, w - 0.8f, h, wall);
            using var window = Fill(rng.Chance(0.5) ? new SKColor(244, 220, 130) : new SKColor(60, 70, 90));
            for (float wy = street - h + 2; wy < street - 3; wy += 3.6f)
                for (float wx = x + 1.5f; wx < x + w - 2.5f; wx += 3.2f)
                    c.DrawRect(wx, wy, 1.6f, 1.9f, window);
            x += w;
        }
        using (var walk = Fill(new SKColor(168, 164, 156))) c.DrawRect(0, street, 64, 4, walk);
        using (var road = Fill(new SKColor(84, 86, 92))) c.DrawRect(0, street + 4, 64, 64 - street - 4, road);
        using (var curb = Stroke(new SKColor(60, 60, 64), 0.6f)) c.DrawLine(0, street + 4, 64, street + 4, curb);
        using var dash = Fill(new SKColor(240, 236, 220));
        float dashY = street + 4 + (64 - street - 4) * 0.55f, start = rng.Range(-6, 0);
        for (float dx = start; dx < 64; dx += 10) c.DrawRect(dx, dashY, 5, 1f, dash);
    }

    private static void Desert(SKCanvas c, ref WorldRandom rng)
    {
        float horizon = rng.Range(26, 32);
        Sky(c, horizon, new SKColor(248, 176, 96), new SKColor(252, 224, 150));
        using (var sun = Fill(new SKColor(255, 250, 210))) c.DrawCircle(rng.Range(8, 56), rng.Range(5, horizon - 8), 5f, sun);
        using (var far = Fill(new SKColor(214, 140, 70)))
        {
            using var b = new SKPathBuilder();
            b.MoveTo(0, horizon + 2);
            b.QuadTo(rng.Range(8, 24), horizon - rng.Range(3, 7), 32, horizon + 1);
            b.QuadTo(rng.Range(40, 56), horizon - rng.Range(3, 7), 64, horizon + 2);
            b.LineTo(64, 64); b.LineTo(0, 64); b.Close();
            using var path = b.Detach();
            c.DrawPath(path, far);
        }
        using (var near = Fill(new SKColor(234, 180, 100)))
        {
            using var b = new SKPathBuilder();
            b.MoveTo(0, horizon + 8);
            b.QuadTo(rng.Range(16, 48), horizon + rng.Range(2, 5), 64, horizon + 9);
            b.LineTo(64, 64); b.LineTo(0, 64); b.Close();
            using var path = b.Detach();
            c.DrawPath(path, near);
        }
        // A cactus on one side, away from the centre.
        float cx = rng.Chance(0.5) ? rng.Range(4, 12) : rng.Range(52, 60), cy = horizon + 8, h = rng.Range(11, 15);
        using (var cactus = Stroke(new SKColor(52, 128, 62), 2.6f))
        {
            cactus.StrokeCap = SKStrokeCap.Round;
            c.DrawLine(cx, cy, cx, cy - h, cactus);
            c.DrawLine(cx, cy - h * 0.45f, cx - 3, cy - h * 0.45f, cactus);
            c.DrawLine(cx - 3, cy - h * 0.45f, cx - 3, cy - h * 0.75f, cactus);
            c.DrawLine(cx, cy - h * 0.6f, cx + 3, cy - h * 0.6f, cactus);
            c.DrawLine(cx + 3, cy - h * 0.6f, cx + 3, cy - h * 0.85f, cactus);
        }
        using var ripple = Stroke(new SKColor(212, 156, 82), 0.6f);
        for (int i = 0; i < 7; i++)
        {
            float x = rng.Range(-4, 56), y = rng.Range(horizon + 12, 63);
            using var path = BuildPath(b =>
            {
                b.MoveTo(x, y);
                b.QuadTo(x + 4, y - 1.2f, x + 8, y);
            });
            c.DrawPath(path, ripple);
        }
    }

    private static void Sky(SKCanvas c, float horizon, SKColor top, SKColor bottom)
    {
        using var shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(0, horizon), new[] { top, bottom }, SKShaderTileMode.Clamp);
        using var paint = new SKPaint { Shader = shader, IsAntialias = true };
        c.DrawRect(0, 0, 64, horizon + 1, paint);
    }

    private static void Cloud(SKCanvas c, float x, float y, float s)
    {
        using var paint = Fill(new SKColor(255, 255, 255, 235));
        c.DrawOval(new SKRect(x - 6 * s, y - 1.5f * s, x + 6 * s, y + 2 * s), paint);
        c.DrawCircle(x - 2 * s, y - 1.5f * s, 2.6f * s, paint);
        c.DrawCircle(x + 1.8f * s, y - 2f * s, 3f * s, paint);
    }

    internal static SKPaint Fill(SKColor color) => new() { Color = color, IsAntialias = true, Style = SKPaintStyle.Fill };

    internal static SKPaint Stroke(SKColor color, float width) =>
        new() { Color = color, IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = width, StrokeCap = SKStrokeCap.Round, StrokeJoin = SKStrokeJoin.Round };

    /// <summary>A closed polygon through the points (x0, y0, x1, y1, …).</summary>
    internal static SKPath Poly(params float[] xy) => BuildPath(b =>
    {
        b.MoveTo(xy[0], xy[1]);
        for (int i = 2; i < xy.Length; i += 2) b.LineTo(xy[i], xy[i + 1]);
        b.Close();
    });

    /// <summary>A new path made by <paramref name="build"/> (SkiaSharp 4 paths are built with <see cref="SKPathBuilder"/>; the caller owns the result).</summary>
    internal static SKPath BuildPath(Action<SKPathBuilder> build)
    {
        using var builder = new SKPathBuilder();
        build(builder);
        return builder.Detach();
    }
}
