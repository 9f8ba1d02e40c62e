using static TorchSharp.torch;

namespace DreamBooth.Training;

/// <summary>
/// A set of training images as the trainer sees them (instance photos or class images): each image has a prompt and
/// one or more fixed augmentation variants (crops, flips), whose pixels are encoded once and cached as latents.
/// </summary>
public interface ITrainingImageSet
{
    /// <summary>Number of images.</summary>
    int Count { get; }

    /// <summary>Where image <paramref name="image"/> came from (for messages).</summary>
    string PathOf(int image);

    /// <summary>The prompt of image <paramref name="image"/> (its caption, or the set's prompt).</summary>
    string PromptOf(int image);

    /// <summary>Number of augmentation variants of image <paramref name="image"/> (at least 1).</summary>
    int VariantCount(int image);

    /// <summary>Model input of a variant: float32 [3, R, R] in [−1, 1]; the caller disposes it.</summary>
    Tensor PixelValues(int image, int variant);
}
