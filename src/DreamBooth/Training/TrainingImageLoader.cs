using static TorchSharp.torch;

namespace DreamBooth.Training;

/// <summary>One image folder the trainer needs loaded.</summary>
/// <param name="Directory">The folder.</param>
/// <param name="Prompt">Prompt for images without a caption file.</param>
/// <param name="IsClassSet">The prior-preservation class images (else the instance photos); names the flags in messages.</param>
/// <param name="MaxImages">Use at most this many images (class images: <c>--num-class-images</c>).</param>
/// <param name="Resolution">Square training side.</param>
/// <param name="CenterCrop"><c>--center-crop</c>.</param>
/// <param name="RandomFlip"><c>--random-flip</c>.</param>
/// <param name="RandomCropsPerImage">Crops cached per image without center crop.</param>
public sealed record TrainingImageRequest(string Directory, string? Prompt, bool IsClassSet, int? MaxImages, int Resolution,
    bool CenterCrop, bool RandomFlip, int RandomCropsPerImage);

/// <summary>
/// Loads an image folder for training: decode, orient, resize, choose the augmentation variants (random crops drawn from
/// <paramref name="generator"/>), skipping unusable files with a warning.
/// </summary>
public delegate ITrainingImageSet TrainingImageLoader(TrainingImageRequest request, Generator generator, Action<string>? warn);
