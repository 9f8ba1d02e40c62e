using DreamBooth.Data;
using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Tokenization;
using static TorchSharp.torch;

namespace DreamBooth.Training;

/// <summary>
/// Text-to-image generation as the trainer needs it: class images from the frozen model before training, validation
/// images from the model being trained. Implemented over the text-to-image pipeline.
/// </summary>
public interface IImageSampler
{
    /// <summary>
    /// Generates one image for <paramref name="prompt"/> per seed (image k starts from the noise of
    /// <c>seeds[k]</c>, so a result does not depend on how images are batched), float32 [N, 3, H, W] in [0, 1].
    /// </summary>
    Tensor Generate(string prompt, IReadOnlyList<long> seeds, CancellationToken cancellationToken = default);

    /// <summary>
    /// The settings of the image this sampler generates for <paramref name="prompt"/> from <paramref name="seed"/>, in
    /// A1111's "parameters" form (stored in each class image's PNG metadata). The default knows only prompt, seed and size.
    /// </summary>
    GenerationParameters Describe(string prompt, long seed, int width, int height) =>
        new(prompt) { Seed = seed, Width = width, Height = height };
}

/// <summary>What the images are for (a sampler may use different settings for each, as diffusers' scripts do).</summary>
public enum SamplerPurpose
{
    /// <summary>Prior-preservation class images from the frozen model.</summary>
    ClassImages,

    /// <summary>Validation images of the model being trained.</summary>
    Validation,
}

/// <summary>The live models of a run that a sampler generates with (it must not dispose them).</summary>
/// <param name="Model">The base model folder (scheduler config, etc.).</param>
/// <param name="Unet">The UNet, as trained so far (with LoRA adapters in LoRA runs; bf16 in mixed precision).</param>
/// <param name="TextEncoder">The text encoder, as trained so far.</param>
/// <param name="Vae">The VAE.</param>
/// <param name="Tokenizer">The tokenizer.</param>
/// <param name="Resolution">Image side in pixels (the training resolution).</param>
/// <param name="Purpose">What the images are for.</param>
/// <param name="BatchSize">Images per batch the caller asks for (<c>--sample-batch-size</c>).</param>
public sealed record SamplerModels(ModelFolder Model, UNet2DConditionModel Unet, CLIPTextModel TextEncoder, AutoencoderKL Vae, ClipTokenizer Tokenizer,
    int Resolution, SamplerPurpose Purpose, int BatchSize = 1);

/// <summary>Builds a sampler over a run's models.</summary>
public delegate IImageSampler ImageSamplerFactory(SamplerModels models);
