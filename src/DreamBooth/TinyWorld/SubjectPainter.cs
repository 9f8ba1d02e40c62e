using SkiaSharp;
using static DreamBooth.TinyWorld.Backgrounds;

namespace DreamBooth.TinyWorld;

/// <summary>
/// Draws a subject instance as a bold cartoon in profile: a "skin" (the union of the body parts) filled with the body
/// colour, the pattern clipped to the torso (so head, legs, tail, handle or pockets always show the body colour and
/// "a red dog with white stripes" never looks like "a white dog with red stripes"), the marking, soft shading and a
/// dark outline, then un-patterned details (eyes, beak, wheels, windows, rim). Local units: x forward, y up is negative, origin at the ground contact point; a
/// subject is about 36 units wide and 30 tall before <see cref="Placement.Scale"/>.
/// </summary>
internal static class SubjectPainter
{
    /// <summary>The parts of a drawn subject in local units.</summary>
    private sealed class Figure : IDisposable
    {
        public SKPath Skin { get; private set; } = new();
        public SKPath Torso { get; private set; } = new();
        public List<Action<SKCanvas>> Behind { get; } = new();
        /// <summary>Skin areas painted over the pattern in the plain body colour (pockets).</summary>
        public List<SKPath> PlainPatches { get; } = new();
        public List<Action<SKCanvas>> Details { get; } = new();
        public SKPoint MarkCenter { get; set; }
        public float MarkSize { get; set; } = 6.5f;
        public bool HorizontalStripes { get; set; }

        /// <summary>Adds a part to the skin; a <paramref name="patterned"/> part also carries the pattern.</summary>
        public void Add(SKPath part, bool patterned = false)
        {
            if (patterned) Torso = Union(Torso, part);
            Skin = Union(Skin, part);
            part.Dispose();
        }

        private static SKPath Union(SKPath a, SKPath b)
        {
            var union = a.Op(b, SKPathOp.Union) ?? throw new InvalidOperationException("path union failed");
            a.Dispose();
            return union;
        }

        public void Dispose()
        {
            Skin.Dispose();
            Torso.Dispose();
            foreach (var p in PlainPatches) p.Dispose();
        }
    }

    /// <summary>Draws the subject on <paramref name="canvas"/> and its ground shadow on <paramref name="ground"/> (both in world units).</summary>
    public static void Draw(SKCanvas ground, SKCanvas canvas, SubjectAppearance a, Placement p, WorldContext context)
    {
        var detail = new WorldRandom(a.Detail);
        using var fig = a.Class switch
        {
            SubjectClass.Dog => Dog(a, p.Pose, ref detail),
            SubjectClass.Cat => Cat(a, p.Pose, ref detail),
            SubjectClass.Bird => Bird(a, p.Pose, ref detail),
            SubjectClass.Car => Car(a, p.Pose, ref detail),
            SubjectClass.Cup => Cup(a, p.Pose, ref detail),
            SubjectClass.Backpack => Backpack(a, p.Pose, ref detail),
            _ => throw new ArgumentOutOfRangeException(nameof(a)),
        };

        var bounds = fig.Skin.Bounds;
        ground.Save();
        ground.Translate(p.X, p.Ground);
        ground.Scale(p.Mirror ? -p.Scale : p.Scale, p.Scale);
        using (var shadow = Fill(new SKColor(0, 0, 0, context == WorldContext.Night ? (byte)90 : (byte)58)))
            ground.DrawOval(new SKRect(bounds.Left - 1, -2.2f, bounds.Right + 1, 2.2f), shadow);
        ground.Restore();

        canvas.Save();
        canvas.Translate(p.X, p.Ground);
        canvas.Scale(p.Mirror ? -p.Scale : p.Scale, p.Scale);
        foreach (var draw in fig.Behind) draw(canvas);

        var body = WorldPalette.Rgb(a.Color);
        using (var fill = Fill(body)) canvas.DrawPath(fig.Skin, fill);

        canvas.Save();
        canvas.ClipPath(fig.Skin, SKClipOperation.Intersect, antialias: true);
        canvas.Save();
        canvas.ClipPath(fig.Torso, SKClipOperation.Intersect, antialias: true);
        DrawPattern(canvas, a, fig.Torso.Bounds, fig.HorizontalStripes);
        canvas.Restore();
        using (var plain = Fill(body))
            foreach (var patch in fig.PlainPatches) canvas.DrawPath(patch, plain);
        if (a.Marking != Marking.None) DrawMarking(canvas, a.Marking, WorldPalette.Rgb(a.MarkingColor), fig.MarkCenter, fig.MarkSize, context);
        using (var shader = SKShader.CreateLinearGradient(new SKPoint(0, bounds.Top), new SKPoint(0, bounds.Bottom),
                   new[] { new SKColor(255, 255, 255, 34), new SKColor(0, 0, 0, 0), new SKColor(0, 0, 0, 50) }, new[] { 0f, 0.45f, 1f }, SKShaderTileMode.Clamp))
        using (var shade = new SKPaint { Shader = shader, IsAntialias = true })
            canvas.DrawRect(bounds, shade);
        canvas.Restore();

        using (var outline = Stroke(WorldPalette.Outline(context), 1.25f)) canvas.DrawPath(fig.Skin, outline);
        foreach (var draw in fig.Details) draw(canvas);
        canvas.Restore();
    }

    // ---------------------------------------------------------------- classes

    private static Figure Dog(SubjectAppearance a, float pose, ref WorldRandom d)
    {
        var f = new Figure();
        float leg = a.Variant == 0 ? 8.5f : 12f;                 // variant 1: a tall, long-legged build
        float back = -14.5f - d.Range(0, 2), front = 8.5f, top = -(leg + 10.5f), bottom = -(leg - 1.5f);
        float swing = MathF.Sin(pose * MathF.Tau) * 14f, tilt = (pose - 0.5f) * 14f;
        f.Add(RRect(back, top, front, bottom, 5f), patterned: true);
        foreach (var (x, s) in new[] { (back + 3.5f, swing), (back + 8f, -swing), (front - 6.5f, -swing), (front - 2.5f, swing) })
            f.Add(Limb(x, bottom - 3, 0, 3.6f, s));
        var head = new SKPoint(front + 3.5f, top - 3.5f);
        float headR = 6f + d.Range(-0.4f, 0.4f), snout = 7f + d.Range(-0.8f, 0.8f);
        var headPath = BuildPath(b =>
        {
            b.AddCircle(head.X, head.Y, headR);
            b.AddRoundRect(new SKRect(head.X + 1.5f, head.Y - 0.5f, head.X + 1.5f + snout, head.Y + 5f), 2.4f, 2.4f);
        });
        Rotate(headPath, tilt, head);
        f.Add(headPath);
        f.Add(Tube(new[] { new SKPoint(back + 1.5f, top + 3), new SKPoint(back - 4, top - 1 - pose * 4), new SKPoint(back - 6, top - 6 - pose * 4) }, 3.2f));
        f.MarkCenter = new SKPoint((back + front) / 2 - 1, (top + bottom) / 2);
        f.MarkSize = 7f;
        var outline = WorldPalette.Outline(WorldContext.Grass);
        f.Details.Add(c =>
        {
            c.Save();
            c.RotateDegrees(tilt, head.X, head.Y);
            // A floppy ear hanging behind the eye, in a darker shade of the body colour.
            using var ear = BuildPath(b => b.AddOval(new SKRect(head.X - 4.6f, head.Y - 3.6f, head.X - 0.2f, head.Y + 6.2f)));
            Rotate(ear, 18, new SKPoint(head.X - 2.4f, head.Y - 3f));
            using (var earFill = Fill(WorldPalette.Shade(WorldPalette.Rgb(a.Color), a.Color == WorldColor.Black ? 1.6f : 0.72f))) c.DrawPath(ear, earFill);
            using (var earLine = Stroke(outline, 0.8f)) c.DrawPath(ear, earLine);
            using var dark = Fill(new SKColor(20, 20, 24));
            c.DrawCircle(head.X + 1.8f, head.Y - 2f, 1.15f, dark);
            c.DrawCircle(head.X + 1.5f + snout - 0.6f, head.Y + 0.4f, 1.5f, dark);
            c.Restore();
        });
        return f;
    }

    private static Figure Cat(SubjectAppearance a, float pose, ref WorldRandom d)
    {
        var f = new Figure();
        float leg = 9f + d.Range(-0.5f, 0.5f);
        float back = -12.5f, front = 7.5f, top = -(leg + 9f), bottom = -(leg - 1.5f);
        float swing = MathF.Sin(pose * MathF.Tau) * 12f, tilt = (pose - 0.5f) * 12f;
        f.Add(RRect(back, top, front, bottom, 4.8f), patterned: true);
        foreach (var (x, s) in new[] { (back + 3f, swing), (back + 7f, -swing), (front - 6f, -swing), (front - 2.2f, swing) })
            f.Add(Limb(x, bottom - 3, 0, 2.7f, s));
        var head = new SKPoint(front + 3.2f, top - 3.2f);
        float r = 5.6f + d.Range(-0.3f, 0.3f);
        SKPath headPath;
        using (var ear1 = Poly(head.X - 5.2f, head.Y - 1.5f, head.X - 3.8f, head.Y - 10f, head.X + 0.2f, head.Y - 4.5f))
        using (var ear2 = Poly(head.X - 0.5f, head.Y - 5f, head.X + 3.8f, head.Y - 10.2f, head.X + 5.2f, head.Y - 2f))
            headPath = BuildPath(b =>
            {
                b.AddCircle(head.X, head.Y, r);
                b.AddPath(ear1);
                b.AddPath(ear2);
                b.FillType = SKPathFillType.Winding;
            });
        Rotate(headPath, tilt, head);
        var simplified = headPath.Op(new SKPath(), SKPathOp.Union) ?? headPath;
        if (!ReferenceEquals(simplified, headPath)) headPath.Dispose();
        f.Add(simplified);
        // A long tail: held high and curled (variant 0) or swept low behind (variant 1).
        float wag = (pose - 0.5f) * 4f;
        SKPoint[] tail = a.Variant == 0
            ? new[] { new SKPoint(back + 1.5f, top + 3f), new SKPoint(back - 5f, top + 1f), new SKPoint(back - 6f + wag, top - 9f), new SKPoint(back - 2.5f + wag, top - 13f) }
            : new[] { new SKPoint(back + 1.5f, top + 4f), new SKPoint(back - 7f, top + 7f), new SKPoint(back - 12f, top + 4f + wag), new SKPoint(back - 13f, top - 1f + wag) };
        f.Add(Tube(tail, 2.6f));
        f.MarkCenter = new SKPoint((back + front) / 2 - 1, (top + bottom) / 2);
        f.MarkSize = 6.5f;
        f.Details.Add(c =>
        {
            c.Save();
            c.RotateDegrees(tilt, head.X, head.Y);
            using (var eye = Fill(new SKColor(140, 220, 80))) c.DrawOval(new SKRect(head.X + 0.6f, head.Y - 2.6f, head.X + 3.4f, head.Y - 0.4f), eye);
            using (var pupil = Fill(new SKColor(10, 10, 12))) c.DrawOval(new SKRect(head.X + 1.6f, head.Y - 2.6f, head.X + 2.4f, head.Y - 0.4f), pupil);
            using (var nose = Fill(new SKColor(240, 130, 160))) c.DrawCircle(head.X + r - 0.3f, head.Y + 0.6f, 1.1f, nose);
            using var whisker = Stroke(new SKColor(30, 30, 34), 0.45f);
            c.DrawLine(head.X + r - 1, head.Y + 1.6f, head.X + r + 4, head.Y + 0.6f, whisker);
            c.DrawLine(head.X + r - 1, head.Y + 2.2f, head.X + r + 4, head.Y + 2.8f, whisker);
            c.Restore();
        });
        return f;
    }

    private static Figure Bird(SubjectAppearance a, float pose, ref WorldRandom d)
    {
        var f = new Figure();
        float cx = -1f, cy = -13.5f, rx = 10.5f + d.Range(-0.5f, 0.5f), ry = 8.5f, tilt = (pose - 0.5f) * 10f;
        var bodyPath = BuildPath(b => b.AddOval(new SKRect(cx - rx, cy - ry, cx + rx, cy + ry)));
        Rotate(bodyPath, -12, new SKPoint(cx, cy));
        f.Add(bodyPath, patterned: true);
        var head = new SKPoint(cx + 8.5f, cy - 8.5f);
        using var headBuilder = new SKPathBuilder();
        headBuilder.AddCircle(head.X, head.Y, 5.6f);
        if (a.Variant == 1)                                          // variant 1: a crest of three feathers
            for (int i = 0; i < 3; i++)
            {
                float ang = (-120 + i * 22) * MathF.PI / 180;
                var b = new SKPoint(head.X + 4.6f * MathF.Cos(ang), head.Y + 4.6f * MathF.Sin(ang));
                using var feather = Poly(b.X - 1.3f, b.Y + 0.6f, b.X + 3.8f * MathF.Cos(ang - 0.5f), b.Y + 5.5f * MathF.Sin(ang - 0.4f), b.X + 1.3f, b.Y - 0.2f);
                headBuilder.AddPath(feather);
            }
        var headPath = headBuilder.Detach();
        Rotate(headPath, tilt, head);
        var simplified = headPath.Op(new SKPath(), SKPathOp.Union) ?? headPath;
        if (!ReferenceEquals(simplified, headPath)) headPath.Dispose();
        f.Add(simplified);
        f.Add(Poly(cx - rx + 3, cy + 0.5f, cx - rx - 8, cy + 5, cx - rx - 7.5f, cy - 2.5f));   // tail feathers
        float wingAngle = -28 + pose * 36;
        f.MarkCenter = new SKPoint(cx + 1.5f, cy + 3.5f);
        f.MarkSize = 6f;
        var outline = WorldPalette.Outline(WorldContext.Grass);
        var beakColor = a.Color is WorldColor.Orange or WorldColor.Yellow ? new SKColor(70, 60, 50) : new SKColor(250, 170, 30);
        f.Behind.Add(c =>
        {
            using var legPaint = Stroke(new SKColor(150, 90, 40), 1.1f);
            foreach (float x in new[] { cx - 2.5f, cx + 2.5f })
            {
                c.DrawLine(x, cy + 6, x - 0.5f, 0, legPaint);
                c.DrawLine(x - 0.5f, 0, x + 2.2f, 0, legPaint);
            }
        });
        f.Details.Add(c =>
        {
            // The wing: an outlined oval over the patterned body, raised or lowered with the pose.
            using var wing = BuildPath(b => b.AddOval(new SKRect(cx - 8.5f, cy - 4f, cx + 4.5f, cy + 3.5f)));
            Rotate(wing, wingAngle, new SKPoint(cx + 3, cy - 1));
            using (var wingShade = Fill(new SKColor(0, 0, 0, 40))) c.DrawPath(wing, wingShade);
            using (var wingLine = Stroke(outline, 0.9f)) c.DrawPath(wing, wingLine);
            c.Save();
            c.RotateDegrees(tilt, head.X, head.Y);
            using var beak = Poly(head.X + 4.6f, head.Y - 1.8f, head.X + 10.5f, head.Y + 0.3f, head.X + 4.6f, head.Y + 2.2f);
            using (var beakFill = Fill(beakColor)) c.DrawPath(beak, beakFill);
            using (var beakLine = Stroke(outline, 0.7f)) c.DrawPath(beak, beakLine);
            using (var eye = Fill(new SKColor(16, 16, 20))) c.DrawCircle(head.X + 1.8f, head.Y - 1.2f, 1.2f, eye);
            c.Restore();
        });
        return f;
    }

    private static Figure Car(SubjectAppearance a, float pose, ref WorldRandom d)
    {
        var f = new Figure();
        float len = 18.5f + d.Range(-0.7f, 0.7f);
        f.Add(RRect(-len, -15f, len, -4.5f, 3.5f), patterned: true);
        // Cabin: a sedan (variant 0) or a tall van roof reaching the rear (variant 1).
        float[] cabin = a.Variant == 0
            ? new[] { -11.5f, -14.5f, -7.5f, -23f, 6f, -23f, 11.5f, -14.5f }
            : new[] { -len + 1.2f, -14.5f, -len + 2f, -24.5f, 5.5f, -24.5f, 11.5f, -14.5f };
        var cabinPath = Poly(cabin);
        f.Add(cabinPath);
        f.MarkCenter = new SKPoint(-4.5f, -9.8f);
        f.MarkSize = 6.5f;
        f.HorizontalStripes = false;
        var outline = WorldPalette.Outline(WorldContext.Grass);
        float spin = pose * 90;
        f.Details.Add(c =>
        {
            // Windows inset in the cabin, split by a pillar.
            float inset = 1.6f;
            using var glass = Poly(cabin[0] + inset * 1.2f, cabin[1] - 0.6f, cabin[2] + inset, cabin[3] + inset, cabin[4] - inset * 0.6f, cabin[5] + inset, cabin[6] - inset * 1.6f, cabin[7] - 0.6f);
            using (var glassFill = Fill(new SKColor(186, 224, 246))) c.DrawPath(glass, glassFill);
            using (var line = Stroke(outline, 0.8f))
            {
                c.DrawPath(glass, line);
                c.DrawLine(0.5f, cabin[3] + 0.8f, 0.5f, -14.5f, line);
                c.DrawLine(0.5f, -14.5f, 0.5f, -6f, line);
            }
            using (var head = Fill(new SKColor(255, 236, 120))) c.DrawRoundRect(new SKRect(len - 2.2f, -12.5f, len + 0.3f, -9.5f), 1, 1, head);
            using (var tail = Fill(new SKColor(220, 30, 30))) c.DrawRoundRect(new SKRect(-len - 0.3f, -12.5f, -len + 1.8f, -9.5f), 1, 1, tail);
            using var tyre = Fill(new SKColor(28, 28, 32));
            using var hub = Fill(new SKColor(196, 198, 204));
            using var spoke = Stroke(new SKColor(120, 122, 130), 0.6f);
            foreach (float x in new[] { -len + 7.5f, len - 7.5f })
            {
                c.DrawCircle(x, -4.6f, 4.7f, tyre);
                c.DrawCircle(x, -4.6f, 2.2f, hub);
                c.Save();
                c.RotateDegrees(spin, x, -4.6f);
                c.DrawLine(x - 2, -4.6f, x + 2, -4.6f, spoke);
                c.Restore();
            }
        });
        return f;
    }

    private static Figure Cup(SubjectAppearance a, float pose, ref WorldRandom d)
    {
        var f = new Figure();
        float w = 10f + d.Range(-0.5f, 0.5f), h = a.Variant == 0 ? 25f : 22f, lift = a.Variant == 0 ? 0f : 2.5f;
        float tilt = (pose - 0.5f) * 8f;
        var body = BuildPath(b => b.AddRoundRect(new SKRoundRect(new SKRect(-w, -h - lift, w, -lift), 4f, 4f)));
        Rotate(body, tilt, new SKPoint(0, -lift));
        f.Add(body, patterned: true);
        using (var handle = BuildPath(b => b.AddOval(new SKRect(w - 4f, -h * 0.78f - lift, w + 6.5f, -h * 0.22f - lift))))
        using (var handleStroke = new SKPaint { Style = SKPaintStyle.Stroke, StrokeWidth = 3.4f })
        {
            var ring = handleStroke.GetFillPath(handle);
            Rotate(ring, tilt, new SKPoint(0, -lift));
            f.Add(ring);
        }
        f.MarkCenter = new SKPoint(0, -h * 0.5f - lift);
        f.MarkSize = 8f;
        f.HorizontalStripes = true;
        var outline = WorldPalette.Outline(WorldContext.Grass);
        var color = WorldPalette.Rgb(a.Color);
        if (a.Variant == 1)                                            // variant 1: on a white saucer
            f.Behind.Add(c =>
            {
                using (var saucer = Fill(new SKColor(236, 236, 240))) c.DrawOval(new SKRect(-w - 6, -3.4f, w + 6, 1.2f), saucer);
                using (var line = Stroke(outline, 0.9f)) c.DrawOval(new SKRect(-w - 6, -3.4f, w + 6, 1.2f), line);
            });
        f.Details.Add(c =>
        {
            c.Save();
            c.RotateDegrees(tilt, 0, -lift);
            var rim = new SKRect(-w + 0.3f, -h - lift - 2.6f, w - 0.3f, -h - lift + 2.6f);
            using (var rimFill = Fill(WorldPalette.Mix(color, SKColors.White, 0.35f))) c.DrawOval(rim, rimFill);
            using (var coffee = Fill(new SKColor(74, 42, 26))) c.DrawOval(new SKRect(rim.Left + 1.6f, rim.Top + 1f, rim.Right - 1.6f, rim.Bottom - 1f), coffee);
            using (var line = Stroke(outline, 0.9f)) c.DrawOval(rim, line);
            c.Restore();
        });
        return f;
    }

    private static Figure Backpack(SubjectAppearance a, float pose, ref WorldRandom d)
    {
        var f = new Figure();
        float w = 11f + d.Range(-0.5f, 0.5f), h = 30f, tilt = (pose - 0.5f) * 8f;
        var body = BuildPath(b => b.AddRoundRect(new SKRoundRect(new SKRect(-w, -h, w, -0.5f), 7f, 7f)));
        Rotate(body, tilt, new SKPoint(0, 0));
        f.Add(body, patterned: true);
        // Top carry loop.
        using (var loop = BuildPath(b => b.AddArc(new SKRect(-4f, -h - 4.5f, 4f, -h + 3.5f), 180, 180)))
        using (var loopStroke = new SKPaint { Style = SKPaintStyle.Stroke, StrokeWidth = 2.2f })
        {
            var ring = loopStroke.GetFillPath(loop);
            Rotate(ring, tilt, new SKPoint(0, 0));
            f.Add(ring);
        }
        // Plain front pockets (variant 0: one large; variant 1: two, upper flap and lower pocket).
        var pockets = a.Variant == 0 ? new[] { new SKRect(-w + 3f, -15f, w - 3f, -3.5f) } : new[] { new SKRect(-w + 3f, -15f, w - 3f, -3.5f), new SKRect(-w + 3f, -h + 4f, w - 3f, -18.5f) };
        foreach (var r in pockets)
        {
            var patch = BuildPath(b => b.AddRoundRect(r, 3f, 3f));
            Rotate(patch, tilt, new SKPoint(0, 0));
            f.PlainPatches.Add(patch);
        }
        f.MarkCenter = new SKPoint(0, a.Variant == 0 ? -21.5f : -9.5f);
        f.MarkSize = 6.8f;
        f.HorizontalStripes = true;
        var outline = WorldPalette.Outline(WorldContext.Grass);
        f.Behind.Add(c =>
        {
            // Shoulder straps showing at both sides.
            c.Save();
            c.RotateDegrees(tilt, 0, 0);
            using var strap = Fill(new SKColor(46, 46, 52));
            c.DrawRoundRect(new SKRect(-w - 2.4f, -h + 3, -w + 2, -4), 1.5f, 1.5f, strap);
            c.DrawRoundRect(new SKRect(w - 2, -h + 3, w + 2.4f, -4), 1.5f, 1.5f, strap);
            c.Restore();
        });
        f.Details.Add(c =>
        {
            c.Save();
            c.RotateDegrees(tilt, 0, 0);
            using var line = Stroke(outline, 0.9f);
            using var zip = Stroke(new SKColor(40, 40, 46), 0.6f);
            var lower = new SKRect(-w + 3f, -15f, w - 3f, -3.5f);
            c.DrawRoundRect(lower, 3f, 3f, line);
            c.DrawLine(lower.Left + 2, lower.Top + 2, lower.Right - 2, lower.Top + 2, zip);
            if (a.Variant == 1)
            {
                var upper = new SKRect(-w + 3f, -h + 4f, w - 3f, -18.5f);
                c.DrawRoundRect(upper, 3f, 3f, line);
                c.DrawLine(upper.Left + 2, upper.Bottom - 2, upper.Right - 2, upper.Bottom - 2, zip);
            }
            else
            {
                using var arc = BuildPath(b => b.AddArc(new SKRect(-w + 2, -h + 2, w - 2, -h + 14), 200, 140));
                c.DrawPath(arc, zip);
            }
            c.Restore();
        });
        return f;
    }

    // ---------------------------------------------------------------- pattern and marking

    private static void DrawPattern(SKCanvas c, SubjectAppearance a, SKRect bounds, bool horizontal)
    {
        if (a.Pattern == Pattern.Plain) return;
        var rng = new WorldRandom(a.Detail).Derive(11);
        using var paint = Fill(WorldPalette.Rgb(a.PatternColor));
        var r = SKRect.Inflate(bounds, 2, 2);
        switch (a.Pattern)
        {
            case Pattern.Striped:
            {
                const float period = 6.4f, width = 2.5f;
                float phase = rng.Range(0, period);
                if (horizontal)
                    for (float y = r.Top + phase; y < r.Bottom; y += period) c.DrawRect(r.Left, y, r.Width, width, paint);
                else
                    for (float x = r.Left + phase; x < r.Right; x += period) c.DrawRect(x, r.Top, width, r.Height, paint);
                break;
            }
            case Pattern.Spotted:
            {
                const float spacing = 6.6f;
                float ox = rng.Range(0, spacing), oy = rng.Range(0, spacing);
                int row = 0;
                for (float y = r.Top + oy; y < r.Bottom; y += spacing * 0.87f, row++)
                    for (float x = r.Left + ox + (row % 2) * spacing / 2; x < r.Right; x += spacing)
                        c.DrawCircle(x + rng.Range(-1.2f, 1.2f), y + rng.Range(-1.2f, 1.2f), rng.Range(1.8f, 2.4f), paint);
                break;
            }
            case Pattern.Checkered:
            {
                const float cell = 4.6f;
                float ox = rng.Range(0, 2 * cell), oy = rng.Range(0, 2 * cell);
                int i = 0;
                for (float y = r.Top - oy; y < r.Bottom; y += cell, i++)
                    for (float x = r.Left - ox + (i % 2) * cell; x < r.Right; x += 2 * cell)
                        c.DrawRect(x, y, cell, cell, paint);
                break;
            }
        }
    }

    private static void DrawMarking(SKCanvas c, Marking m, SKColor color, SKPoint at, float size, WorldContext context)
    {
        using var path = MarkingPath(m, at, size);
        using (var fill = Fill(color)) c.DrawPath(path, fill);
        using var line = Stroke(WorldPalette.Outline(context == WorldContext.Night ? WorldContext.Grass : context), 0.7f);
        c.DrawPath(path, line);
    }

    /// <summary>The marking symbol centred at <paramref name="at"/>, <paramref name="size"/> units across.</summary>
    internal static SKPath MarkingPath(Marking m, SKPoint at, float size)
    {
        float r = size / 2;
        switch (m)
        {
            case Marking.Star:
            {
                var pts = new float[20];
                for (int i = 0; i < 10; i++)
                {
                    float ang = -MathF.PI / 2 + i * MathF.PI / 5, rr = i % 2 == 0 ? r * 1.1f : r * 0.45f;
                    pts[2 * i] = at.X + rr * MathF.Cos(ang);
                    pts[2 * i + 1] = at.Y + rr * MathF.Sin(ang) + r * 0.08f;
                }
                return Poly(pts);
            }
            case Marking.Diamond:
                return Poly(at.X, at.Y - r * 1.15f, at.X + r * 0.75f, at.Y, at.X, at.Y + r * 1.15f, at.X - r * 0.75f, at.Y);
            case Marking.Cross:
            {
                float t = r * 0.36f;
                return Poly(at.X - t, at.Y - r, at.X + t, at.Y - r, at.X + t, at.Y - t, at.X + r, at.Y - t, at.X + r, at.Y + t, at.X + t, at.Y + t,
                    at.X + t, at.Y + r, at.X - t, at.Y + r, at.X - t, at.Y + t, at.X - r, at.Y + t, at.X - r, at.Y - t, at.X - t, at.Y - t);
            }
            case Marking.Heart:
            {
                return BuildPath(p =>
                {
                    p.MoveTo(at.X, at.Y + r * 1.0f);
                    p.CubicTo(at.X - r * 1.5f, at.Y - r * 0.1f, at.X - r * 0.9f, at.Y - r * 1.25f, at.X, at.Y - r * 0.45f);
                    p.CubicTo(at.X + r * 0.9f, at.Y - r * 1.25f, at.X + r * 1.5f, at.Y - r * 0.1f, at.X, at.Y + r * 1.0f);
                    p.Close();
                });
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(m), m, "no symbol");
        }
    }

    // ---------------------------------------------------------------- geometry helpers

    private static SKPath RRect(float l, float t, float r, float b, float radius)
    {
        return BuildPath(p => p.AddRoundRect(new SKRect(l, t, r, b), radius, radius));
    }

    /// <summary>A leg: a rounded bar from (x, top) down to y = bottom, swung by <paramref name="angle"/> degrees about its top.</summary>
    private static SKPath Limb(float x, float top, float bottom, float width, float angle)
    {
        var p = BuildPath(b => b.AddRoundRect(new SKRect(x - width / 2, top, x + width / 2, bottom), width / 2.2f, width / 2.2f));
        Rotate(p, angle, new SKPoint(x, top));
        return p;
    }

    /// <summary>A round-capped tube along a polyline / cubic (4 points) / quadratic (3 points) curve.</summary>
    private static SKPath Tube(SKPoint[] pts, float width)
    {
        using var spine = BuildPath(b =>
        {
            b.MoveTo(pts[0]);
            if (pts.Length == 4) b.CubicTo(pts[1], pts[2], pts[3]);
            else if (pts.Length == 3) b.QuadTo(pts[1], pts[2]);
            else for (int i = 1; i < pts.Length; i++) b.LineTo(pts[i]);
        });
        using var paint = new SKPaint { Style = SKPaintStyle.Stroke, StrokeWidth = width, StrokeCap = SKStrokeCap.Round, StrokeJoin = SKStrokeJoin.Round };
        return paint.GetFillPath(spine);
    }

    private static void Rotate(SKPath path, float degrees, SKPoint pivot)
    {
        if (degrees == 0) return;
        path.Transform(SKMatrix.CreateRotationDegrees(degrees, pivot.X, pivot.Y));
    }
}
