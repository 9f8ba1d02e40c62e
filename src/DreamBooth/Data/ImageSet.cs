using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Data;

/// <summary>
/// The usable images of one directory, ready for VAE encoding: each decoded once, resized (shorter side = resolution)
/// and given its fixed augmentation variants (<see cref="AugmentationOptions"/>). Corrupt, truncated or oversized files
/// are reported through the warning callback and skipped; a directory with no usable image is an error.
/// </summary>
public sealed class ImageSet
{
    private ImageSet(ImageFolderSpec source, AugmentationOptions augmentation, IReadOnlyList<TrainingImage> images, IReadOnlyList<string> skipped)
    {
        Source = source;
        Augmentation = augmentation;
        Images = images;
        Skipped = skipped;
    }

    /// <summary>Where the images came from.</summary>
    public ImageFolderSpec Source { get; }

    /// <summary>The resolution, crop and flip settings used.</summary>
    public AugmentationOptions Augmentation { get; }

    /// <summary>The usable images, in file-name order.</summary>
    public IReadOnlyList<TrainingImage> Images { get; }

    /// <summary>One message per skipped image file (each names the file and the problem).</summary>
    public IReadOnlyList<string> Skipped { get; }

    /// <summary>Number of usable images.</summary>
    public int Count => Images.Count;

    /// <summary>Total number of variants over all images (the number of latents to cache).</summary>
    public int VariantCount => Images.Sum(i => i.Variants.Count);

    /// <summary>
    /// Scans, decodes and prepares the images of <paramref name="source"/>. Crop corners are drawn from
    /// <paramref name="generator"/> image by image in file order, so the same seed and files give the same variants.
    /// Notes (animation, extension mismatch), upscaling and skipped files go to <paramref name="warn"/>.
    /// </summary>
    public static ImageSet Load(ImageFolderSpec source, AugmentationOptions augmentation, torch.Generator generator,
        ImageDecodeOptions? decode = null, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(generator);
        augmentation.Validate();
        if (source.MaxImages is < 1)
            throw new DreamBoothException($"{source.DirectoryFlag} {source.Directory}: at most {source.MaxImages} images requested; need at least 1");
        var directory = ImageDirectory.Scan(source.Directory, source.DirectoryFlag);
        foreach (var path in directory.Unsupported) warn?.Invoke(ImageFormats.SkippedUnsupported(path));

        var images = new List<TrainingImage>();
        var skipped = new List<string>();
        foreach (var path in directory.Images)
        {
            if (images.Count == source.MaxImages) break;
            DecodedImage decoded;
            try
            {
                decoded = ImageDecoder.Decode(path, decode, warn);
            }
            catch (DreamBoothException e)
            {
                skipped.Add(e.Message);
                warn?.Invoke($"skipping {e.Message}");
                continue;
            }

            // Captions are read only for usable images; a caption problem is the user's to fix, so it stops the load.
            var captionPath = source.UseCaptions ? directory.CaptionFileFor(path) : null;
            var prompt = captionPath is not null ? CaptionFile.Read(captionPath)
                : source.Prompt ?? throw new DreamBoothException(
                    $"{path}: no caption file ({System.IO.Path.GetFileNameWithoutExtension(path)}.txt) and no {source.PromptFlag} given");

            var image = Prepare(path, prompt, captionPath, decoded, augmentation, generator);
            if (image.Upscaled)
                warn?.Invoke($"{path}: {decoded.Info.Width}x{decoded.Info.Height} is smaller than the resolution {augmentation.Resolution}; " +
                             $"upscaled to {image.Resized.Width}x{image.Resized.Height}, expect a blurry result");
            images.Add(image);
        }

        if (images.Count == 0)
            throw new DreamBoothException(
                $"{source.DirectoryFlag} {source.Directory}: none of its {skipped.Count} image file(s) could be used; first problem: {skipped[0]}");
        return new ImageSet(source, augmentation, images, skipped);
    }

    /// <summary>Model input of variant <paramref name="variant"/> of image <paramref name="image"/>: [3, R, R] in [−1, 1].</summary>
    public Tensor PixelValues(int image, int variant) => Images[image].PixelValues(variant);

    /// <summary>A batch [N, 3, R, R] in [−1, 1] of the given (image, variant) pairs, e.g. for one VAE encode call.</summary>
    public Tensor PixelValues(IEnumerable<(int Image, int Variant)> items)
    {
        using var scope = NewDisposeScope();
        var tensors = items.Select(it => PixelValues(it.Image, it.Variant)).ToList();
        if (tensors.Count == 0) throw new ArgumentException("no items", nameof(items));
        return torch.stack(tensors).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Picks the variant of image <paramref name="image"/> to train on at one step: uniform, <c>randint(0, #variants)</c>
    /// from <paramref name="generator"/>. One draw every time, even for a single variant, so the random stream does not
    /// depend on how many variants images have.
    /// </summary>
    public int PickVariant(int image, torch.Generator generator)
    {
        using var t = torch.randint(0L, Images[image].Variants.Count, [1L], ScalarType.Int64, generator: generator);
        return (int)t.item<long>();
    }

    /// <summary>Every (image, variant) pair, images in order, variants in order: what to encode and cache.</summary>
    public IEnumerable<(int Image, int Variant)> EnumerateVariants()
    {
        for (var i = 0; i < Images.Count; i++)
            for (var v = 0; v < Images[i].Variants.Count; v++)
                yield return (i, v);
    }

    private static TrainingImage Prepare(string path, string prompt, string? captionPath, DecodedImage decoded,
        AugmentationOptions augmentation, torch.Generator generator)
    {
        var resized = ImageTransforms.ResizeShorterSide(decoded.Image, augmentation.Resolution);
        var variants = AugmentationPlan.For(resized.Width, resized.Height, augmentation, generator);
        return new TrainingImage(path, prompt, captionPath, decoded.Info, resized, augmentation.Resolution, variants);
    }
}
