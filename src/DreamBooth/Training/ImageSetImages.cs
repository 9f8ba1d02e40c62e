using DreamBooth.Data;
using static TorchSharp.torch;

namespace DreamBooth.Training;

/// <summary>The data pipeline's <see cref="ImageSet"/> (decode, orient, resize, crop/flip variants) as the trainer's image set.</summary>
public sealed class ImageSetImages(ImageSet set) : ITrainingImageSet
{
    /// <summary>The wrapped set.</summary>
    public ImageSet Set { get; } = set;

    /// <inheritdoc/>
    public int Count => Set.Count;

    /// <inheritdoc/>
    public string PathOf(int image) => Set.Images[image].Path;

    /// <inheritdoc/>
    public string PromptOf(int image) => Set.Images[image].Prompt;

    /// <inheritdoc/>
    public int VariantCount(int image) => Set.Images[image].Variants.Count;

    /// <inheritdoc/>
    public Tensor PixelValues(int image, int variant) => Set.PixelValues(image, variant);

    /// <summary>
    /// The trainer's default loader: <see cref="ImageSet.Load"/> with the request's folder, prompt (caption files
    /// override it), image limit, resolution, crop and flip settings; unusable files are skipped with a warning.
    /// </summary>
    public static TrainingImageLoader Loader { get; } = (request, generator, warn) =>
    {
        var spec = request.IsClassSet
            ? ImageFolderSpec.Class(request.Directory, request.Prompt, request.MaxImages)
            : ImageFolderSpec.Instance(request.Directory, request.Prompt) with { MaxImages = request.MaxImages };
        var augmentation = new AugmentationOptions(request.Resolution)
        {
            CenterCrop = request.CenterCrop,
            RandomFlip = request.RandomFlip,
            RandomCropsPerImage = request.RandomCropsPerImage,
        };
        return new ImageSetImages(ImageSet.Load(spec, augmentation, generator, warn: warn));
    };
}
