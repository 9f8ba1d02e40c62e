using SkiaSharp;

namespace DreamBooth.Training;

/// <summary>The loss curve a run draws into <c>logs/loss_curve.png</c> (SkiaSharp).</summary>
public static class TrainingPlots
{
    /// <summary>
    /// Draws the training loss against the optimizer step: raw values in light grey, an exponential moving average
    /// (weight 0.9, bias-corrected like TensorBoard's smoothing) in blue, and the smoothed instance / prior losses when given.
    /// </summary>
    public static byte[] LossCurve(IReadOnlyList<TrainingLogRow> rows, int width = 800, int height = 420)
    {
        const float left = 64, right = 16, top = 28, bottom = 40;
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var font = new SKFont(SKTypeface.Default, 12);
        using var ink = new SKPaint { Color = new SKColor(40, 40, 40), IsAntialias = true, StrokeWidth = 1 };
        canvas.DrawText("training loss", left, 18, SKTextAlign.Left, font, ink);
        var points = rows.Where(r => double.IsFinite(r.Loss)).ToList();
        if (points.Count > 0)
        {
            double x0 = points.Min(r => r.Step), x1 = Math.Max(points.Max(r => r.Step), x0 + 1);
            double y0 = Math.Min(0, points.Min(r => r.Loss)), y1 = points.Max(r => r.Loss) * 1.05 + 1e-12;
            float X(double step) => left + (float)((step - x0) / (x1 - x0)) * (width - left - right);
            float Y(double value) => height - bottom - (float)((value - y0) / (y1 - y0)) * (height - top - bottom);

            // Axes with min/max labels.
            canvas.DrawLine(left, top, left, height - bottom, ink);
            canvas.DrawLine(left, height - bottom, width - right, height - bottom, ink);
            foreach (var v in new[] { y0, (y0 + y1) / 2, y1 })
                canvas.DrawText(v.ToString("0.###"), left - 6, Y(v) + 4, SKTextAlign.Right, font, ink);
            foreach (var s in new[] { x0, (x0 + x1) / 2, x1 })
                canvas.DrawText(Math.Round(s).ToString("0"), X(s), height - bottom + 16, SKTextAlign.Center, font, ink);
            canvas.DrawText("step", (left + width - right) / 2, height - 6, SKTextAlign.Center, font, ink);

            void Curve(IEnumerable<(double Step, double Value)> values, SKColor color, float strokeWidth)
            {
                using var builder = new SKPathBuilder();
                bool first = true;
                foreach (var (s, v) in values)
                {
                    if (first) builder.MoveTo(X(s), Y(v));
                    else builder.LineTo(X(s), Y(v));
                    first = false;
                }
                using var path = builder.Detach();
                using var paint = new SKPaint { Color = color, IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = strokeWidth };
                canvas.DrawPath(path, paint);
            }
            Curve(points.Select(r => ((double)r.Step, r.Loss)), new SKColor(200, 200, 200), 1);
            Curve(Smooth(points.Select(r => ((double)r.Step, r.Loss))), new SKColor(30, 90, 200), 2);
            var legend = new List<(string, SKColor)> { ("loss (smoothed)", new SKColor(30, 90, 200)) };
            if (points.Any(r => r.PriorLoss is not null))
            {
                Curve(Smooth(points.Select(r => ((double)r.Step, r.InstanceLoss))), new SKColor(220, 120, 30), 1.5f);
                Curve(Smooth(points.Where(r => r.PriorLoss is double p && double.IsFinite(p)).Select(r => ((double)r.Step, r.PriorLoss!.Value))), new SKColor(40, 160, 80), 1.5f);
                legend.Add(("instance", new SKColor(220, 120, 30)));
                legend.Add(("prior", new SKColor(40, 160, 80)));
            }
            // The legend shares the title row, so it never covers the curves.
            float lx = left + 120;
            foreach (var (label, color) in legend)
            {
                using var p = new SKPaint { Color = color, StrokeWidth = 3 };
                canvas.DrawLine(lx, 14, lx + 20, 14, p);
                canvas.DrawText(label, lx + 26, 18, SKTextAlign.Left, font, ink);
                lx += 46 + font.MeasureText(label);
            }
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Debiased exponential moving average with weight 0.9.</summary>
    public static IEnumerable<(double Step, double Value)> Smooth(IEnumerable<(double Step, double Value)> values, double weight = 0.9)
    {
        var average = new DebiasedAverage(weight);
        foreach (var (s, v) in values) yield return (s, average.Add(v));
    }
}

/// <summary>A debiased exponential moving average, fed one value at a time (the plot's curve and the trainer's smoothed loss).</summary>
/// <param name="weight">Weight of the past (0.9: about the last ten values).</param>
public sealed class DebiasedAverage(double weight = 0.9)
{
    private double _ema, _norm;

    /// <summary>The average so far; null before the first value.</summary>
    public double? Value => _norm > 0 ? _ema / _norm : null;

    /// <summary>Adds a value; returns the new average.</summary>
    public double Add(double value)
    {
        _ema = weight * _ema + (1 - weight) * value;
        _norm = weight * _norm + (1 - weight);
        return _ema / _norm;
    }
}
