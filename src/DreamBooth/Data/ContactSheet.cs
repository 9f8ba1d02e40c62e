using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;
using DreamBooth.IO;

namespace DreamBooth.Data;

/// <summary>A grid of images (RGB [3, H, W] in [0, 1]) with optional captions under each cell, saved as one PNG.</summary>
public static class ContactSheet
{
    /// <summary>The file name our commands give a contact sheet (<c>generate</c>, <c>demo</c>, <c>tiny-world heldout</c>).</summary>
    public const string FileName = "contact-sheet.png";

    /// <summary>True for the sheet names our commands write (also <c>tiny-world render</c>'s <c>contact_sheet.png</c>): overviews, not images to evaluate.</summary>
    public static bool IsSheetName(string fileName) => fileName is FileName or "contact_sheet.png";

    /// <summary>
    /// Renders the grid: <paramref name="columns"/> cells per row, each image magnified by <paramref name="scale"/>
    /// (nearest neighbour, so pixels stay visible), captions word-wrapped under their cell.
    /// </summary>
    public static byte[] EncodePng(IReadOnlyList<Tensor> images, int columns, IReadOnlyList<string>? captions = null, int scale = 2, string? title = null)
    {
        if (images.Count == 0) throw new DreamBoothException("contact sheet: no images");
        if (captions is not null && captions.Count != images.Count) throw new ArgumentException("one caption per image", nameof(captions));
        columns = Math.Clamp(columns, 1, images.Count);
        int rows = (images.Count + columns - 1) / columns;
        int cellW = (int)images.Max(i => i.shape[2]) * scale, cellH = (int)images.Max(i => i.shape[1]) * scale;
        const int pad = 4;
        using var font = new SKFont(SKTypeface.Default, 10);
        var wrapped = captions?.Select(c => Wrap(c, font, cellW)).ToList();
        int captionLines = wrapped?.Max(l => l.Count) ?? 0;
        float lineH = font.Spacing;
        int captionH = (int)MathF.Ceiling(captionLines * lineH) + (captionLines > 0 ? 2 : 0);
        int titleH = title is null ? 0 : (int)MathF.Ceiling(lineH) + pad;
        int width = columns * (cellW + pad) + pad, height = titleH + rows * (cellH + captionH + pad) + pad;

        using var sheet = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(sheet))
        {
            canvas.Clear(SKColors.White);
            using var ink = new SKPaint { Color = new SKColor(20, 20, 20), IsAntialias = true };
            if (title is not null) canvas.DrawText(title, pad, pad + font.Size, SKTextAlign.Left, font, ink);
            for (int k = 0; k < images.Count; k++)
            {
                int x = pad + (k % columns) * (cellW + pad), y = titleH + pad + (k / columns) * (cellH + captionH + pad);
                using var cell = ToBitmap(images[k]);
                using var image = SKImage.FromBitmap(cell);
                canvas.DrawImage(image, new SKRect(x, y, x + cell.Width * scale, y + cell.Height * scale), new SKSamplingOptions(SKFilterMode.Nearest));
                if (wrapped is null) continue;
                for (int l = 0; l < wrapped[k].Count; l++)
                    canvas.DrawText(wrapped[k][l], x, y + cellH + 1 + font.Size + l * lineH, SKTextAlign.Left, font, ink);
            }
        }
        var rgb = new byte[width * height * 3];
        var px = sheet.GetPixelSpan();
        for (int i = 0; i < width * height; i++) { rgb[3 * i] = px[4 * i]; rgb[3 * i + 1] = px[4 * i + 1]; rgb[3 * i + 2] = px[4 * i + 2]; }
        return ImageIO.EncodePng(rgb, width, height);
    }

    /// <summary>Writes the grid to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, IReadOnlyList<Tensor> images, int columns, IReadOnlyList<string>? captions = null, int scale = 2, string? title = null) =>
        AtomicFile.WriteAllBytes(path, EncodePng(images, columns, captions, scale, title));

    private static SKBitmap ToBitmap(Tensor image)
    {
        int h = (int)image.shape[1], w = (int)image.shape[2];
        byte[] rgb;
        using (NewDisposeScope())
            rgb = image.detach().cpu().to(ScalarType.Float32).clamp(0, 1).mul(255).round().to(ScalarType.Byte).permute(1, 2, 0).contiguous().data<byte>().ToArray();
        var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
        unsafe
        {
            var dst = new Span<byte>((void*)bitmap.GetPixels(), w * h * 4);
            for (int i = 0; i < w * h; i++) { dst[4 * i] = rgb[3 * i]; dst[4 * i + 1] = rgb[3 * i + 1]; dst[4 * i + 2] = rgb[3 * i + 2]; dst[4 * i + 3] = 255; }
        }
        return bitmap;
    }

    private static List<string> Wrap(string text, SKFont font, float width)
    {
        var lines = new List<string>();
        var line = "";
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = line.Length == 0 ? word : line + " " + word;
            if (line.Length > 0 && font.MeasureText(candidate) > width) { lines.Add(line); line = word; }
            else line = candidate;
        }
        if (line.Length > 0) lines.Add(line);
        return lines;
    }
}
