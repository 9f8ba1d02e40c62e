using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Evaluation;

/// <summary>
/// Cuts a square crop around the subject from its coverage mask: centre = the mask's centroid, half side = 2.1 × the
/// larger of its standard deviations along x and y plus 2 pixels (a uniform rectangle's std is 0.29 × its side, so
/// this spans the subject with a small margin), clamped to [8, 32] pixels; an empty mask gives the whole image.
/// </summary>
public static class SubjectCrop
{
    /// <summary>Crops [N, 3, H, W] images to [N, 3, size, size] around the subject in <paramref name="mask"/> [N, 1, h, w]
    /// (values in [0, 1], any resolution). <paramref name="jitter"/> [N, 3] (scale factor, dx, dy in pixels) perturbs the boxes.</summary>
    public static Tensor Cut(Tensor images, Tensor mask, int size, Tensor? jitter = null)
    {
        using var scope = NewDisposeScope();
        var box = Boxes(mask, images.shape[3], images.shape[2]);          // [N, 3]: cx, cy, half (pixels)
        if (jitter is not null) box = stack(new[] { box[.., 0] + jitter[.., 1], box[.., 1] + jitter[.., 2], box[.., 2] * jitter[.., 0] }, 1);
        long n = images.shape[0];
        double w = images.shape[3], h = images.shape[2];
        var zero = zeros(n);
        var theta = stack(new[]
        {
            stack(new[] { box[.., 2] / (w / 2), zero, box[.., 0] / (w / 2) - 1 }, 1),
            stack(new[] { zero, box[.., 2] / (h / 2), box[.., 1] / (h / 2) - 1 }, 1),
        }, 1);                                                               // [N, 2, 3]
        var grid = nn.functional.affine_grid(theta, new long[] { n, images.shape[1], size, size }, align_corners: false);
        return nn.functional.grid_sample(images, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Border, align_corners: false).MoveToOuterDisposeScope();
    }

    /// <summary>Centre x, centre y and half side of each image's box, in pixels of a <paramref name="width"/>×<paramref name="height"/> image.</summary>
    public static Tensor Boxes(Tensor mask, long width, long height)
    {
        using var scope = NewDisposeScope();
        long mh = mask.shape[2], mw = mask.shape[3];
        var xs = arange(mw, dtype: ScalarType.Float32).add(0.5).mul((double)width / mw).reshape(1, 1, 1, mw);
        var ys = arange(mh, dtype: ScalarType.Float32).add(0.5).mul((double)height / mh).reshape(1, 1, mh, 1);
        var m = mask.to(ScalarType.Float32);
        var total = m.sum(new long[] { 1, 2, 3 });
        var safe = total.clamp_min(1e-6);
        var cx = (m * xs).sum(new long[] { 1, 2, 3 }) / safe;
        var cy = (m * ys).sum(new long[] { 1, 2, 3 }) / safe;
        var vx = (m * (xs - cx.reshape(-1, 1, 1, 1)).pow(2)).sum(new long[] { 1, 2, 3 }) / safe;
        var vy = (m * (ys - cy.reshape(-1, 1, 1, 1)).pow(2)).sum(new long[] { 1, 2, 3 }) / safe;
        var half = maximum(vx, vy).sqrt().mul(2.1).add(2).clamp(8, Math.Min(width, height) / 2.0);
        // Less than about one pixel of subject: look at the whole image.
        double pixel = (double)(mh * mw) / (width * height);
        var empty = total.lt(pixel);
        cx = where(empty, full_like(cx, width / 2.0), cx);
        cy = where(empty, full_like(cy, height / 2.0), cy);
        half = where(empty, full_like(half, Math.Min(width, height) / 2.0), half);
        return stack(new[] { cx, cy, half }, 1).MoveToOuterDisposeScope();
    }
}
