using TorchSharp;

namespace DreamBooth.Data;

/// <summary>
/// The instance images (the subject) and, with prior preservation, the class images, paired like diffusers'
/// DreamBoothDataset: the dataset has max(#instance, #class) examples and example i uses instance image
/// i mod #instance and class image i mod #class.
/// </summary>
public sealed class DreamBoothDataset
{
    /// <summary>Pairs already loaded image sets.</summary>
    public DreamBoothDataset(ImageSet instances, ImageSet? classes = null)
    {
        Instances = instances ?? throw new ArgumentNullException(nameof(instances));
        Classes = classes;
    }

    /// <summary>The subject images.</summary>
    public ImageSet Instances { get; }

    /// <summary>The class images for the prior-preservation loss, or null.</summary>
    public ImageSet? Classes { get; }

    /// <summary>Number of examples: max(#instance, #class), as in diffusers.</summary>
    public int Length => Math.Max(Instances.Count, Classes?.Count ?? 0);

    /// <summary>The images of example <paramref name="index"/>: instance image index, and class image index (or null).</summary>
    public (int Instance, int? Class) this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            return (index % Instances.Count, Classes is null ? null : index % Classes.Count);
        }
    }

    /// <summary>
    /// Loads the instance directory and, when <paramref name="classes"/> is given, the class directory, drawing the crop
    /// corners of both (instance first) from <paramref name="generator"/>.
    /// </summary>
    public static DreamBoothDataset Load(ImageFolderSpec instances, ImageFolderSpec? classes, AugmentationOptions augmentation,
        torch.Generator generator, ImageDecodeOptions? decode = null, Action<string>? warn = null)
    {
        var instanceSet = ImageSet.Load(instances, augmentation, generator, decode, warn);
        var classSet = classes is null ? null : ImageSet.Load(classes, augmentation, generator, decode, warn);
        return new DreamBoothDataset(instanceSet, classSet);
    }
}
