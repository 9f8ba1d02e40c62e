namespace DreamBooth.Data;

/// <summary>
/// How training images become model inputs, with the diffusers flag names: <c>--resolution</c>, <c>--center-crop</c>,
/// <c>--random-flip</c>.
/// <para>
/// diffusers draws a fresh crop and flip every time it reads an image. We encode every image once with the VAE and cache
/// the latents, so each image gets a fixed, seeded set of <see cref="AugmentationVariant"/>s instead, and the trainer
/// picks one of them at random per step:
/// </para>
/// <list type="bullet">
/// <item>center crop: one crop (torchvision's centre);</item>
/// <item>random crop: <see cref="RandomCropsPerImage"/> distinct crop corners drawn uniformly without replacement, or every
/// possible corner when there are no more than that (after the shorter-side resize only the longer axis has room, so a
/// square image has exactly one);</item>
/// <item>random flip: each crop both as is and mirrored, so that picking a variant uniformly flips with p = 0.5 exactly.</item>
/// </list>
/// </summary>
/// <param name="Resolution">Side of the square training image; the shorter side is resized to it first.</param>
public sealed record AugmentationOptions(int Resolution)
{
    /// <summary>Center crop (<c>--center-crop</c>) instead of random crops.</summary>
    public bool CenterCrop { get; init; }

    /// <summary>Also use the mirror image of every crop (<c>--random-flip</c>).</summary>
    public bool RandomFlip { get; init; }

    /// <summary>How many random crops to cache per image when <see cref="CenterCrop"/> is off (<c>--random-crops-per-image</c>).</summary>
    public int RandomCropsPerImage { get; init; } = 4;

    /// <summary>Throws <see cref="DreamBoothException"/> for a resolution or crop count that cannot work.</summary>
    public void Validate()
    {
        if (Resolution < 1) throw new DreamBoothException($"--resolution {Resolution}: must be a positive number of pixels");
        if (RandomCropsPerImage < 1)
            throw new DreamBoothException($"--random-crops-per-image {RandomCropsPerImage}: must be at least 1");
    }
}
