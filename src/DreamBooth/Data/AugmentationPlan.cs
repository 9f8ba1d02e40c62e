using TorchSharp;

namespace DreamBooth.Data;

/// <summary>Chooses the fixed <see cref="AugmentationVariant"/>s of one resized image (see <see cref="AugmentationOptions"/>).</summary>
public static class AugmentationPlan
{
    /// <summary>
    /// The variants of an image already resized to <paramref name="width"/>×<paramref name="height"/> (shorter side =
    /// resolution). Random crop corners come from <paramref name="generator"/>, which is used only when there are more
    /// possible corners than crops wanted. Order: crops by position, each unflipped then flipped.
    /// </summary>
    public static IReadOnlyList<AugmentationVariant> For(int width, int height, AugmentationOptions options, torch.Generator generator)
    {
        options.Validate();
        var size = options.Resolution;
        if (Math.Min(width, height) != size)
            throw new ArgumentException($"{width}x{height} is not resized yet: its shorter side must equal the resolution {size}");
        var corners = options.CenterCrop
            ? [ImageTransforms.CenterCropOrigin(width, height, size)]
            : RandomCorners(width, height, size, options.RandomCropsPerImage, generator);
        var variants = new List<AugmentationVariant>(corners.Count * 2);
        foreach (var (left, top) in corners)
        {
            variants.Add(new AugmentationVariant(left, top, Flip: false));
            if (options.RandomFlip) variants.Add(new AugmentationVariant(left, top, Flip: true));
        }
        return variants;
    }

    private static List<(int Left, int Top)> RandomCorners(int width, int height, int size, int wanted, torch.Generator generator)
    {
        // All corners in row-major order; after the shorter-side resize one of the two ranges is a single value.
        long columns = width - size + 1, rows = height - size + 1, total = columns * rows;
        IEnumerable<long> chosen;
        if (total <= wanted)
        {
            chosen = Enumerable.Range(0, (int)total).Select(i => (long)i);
        }
        else
        {
            using var perm = torch.randperm(total, torch.ScalarType.Int64, generator: generator);
            using var first = perm[..wanted];
            chosen = first.data<long>().ToArray().Order();
        }
        return chosen.Select(i => ((int)(i % columns), (int)(i / columns))).ToList();
    }
}
