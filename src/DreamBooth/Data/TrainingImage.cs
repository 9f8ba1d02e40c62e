using static TorchSharp.torch;

namespace DreamBooth.Data;

/// <summary>
/// One usable training image: decoded, upright, resized so its shorter side is the resolution, with its prompt and its
/// fixed augmentation variants. Model inputs are cut from <see cref="Resized"/> on request.
/// </summary>
/// <param name="Path">The image file.</param>
/// <param name="Prompt">Its prompt: the caption file's text if there is one, else the directory's prompt.</param>
/// <param name="CaptionPath">The caption file used, or null.</param>
/// <param name="Info">What the decoder found (format, stored size, orientation, frames, transparency, notes).</param>
/// <param name="Resized">The upright image with its shorter side resized to <paramref name="Resolution"/>.</param>
/// <param name="Resolution">Side of the square model input.</param>
/// <param name="Variants">The crops/flips to cache for this image (at least one).</param>
public sealed record TrainingImage(
    string Path,
    string Prompt,
    string? CaptionPath,
    DecodedImageInfo Info,
    RgbImage Resized,
    int Resolution,
    IReadOnlyList<AugmentationVariant> Variants)
{
    /// <summary>True when the image was smaller than the resolution and had to be enlarged.</summary>
    public bool Upscaled => Math.Min(Info.Width, Info.Height) < Resolution;

    /// <summary>The cropped (and maybe mirrored) RGB image of variant <paramref name="variant"/>.</summary>
    public RgbImage VariantImage(int variant) => ImageTransforms.Apply(Resized, Resolution, Variants[variant]);

    /// <summary>Model input of variant <paramref name="variant"/>: float32 [3, R, R] in [−1, 1]; the caller disposes it.</summary>
    public Tensor PixelValues(int variant) => ImageTransforms.ToModelInput(VariantImage(variant));
}
