using DreamBooth.IO;

namespace DreamBooth.Pipelines;

/// <summary>
/// The five component folders a Stable Diffusion text-to-image pipeline is made of, resolved but not loaded. Usually
/// they come from one model folder (<see cref="FromFolder"/>); they can also be mixed from several, e.g. one model's
/// UNet and scheduler with another's text encoder and VAE (<c>components with { Unet = ModelComponent.Open(dir) }</c>).
/// </summary>
/// <param name="Tokenizer">The CLIP tokenizer folder (<c>tokenizer/</c>).</param>
/// <param name="TextEncoder">The CLIP text encoder (<c>text_encoder/</c>).</param>
/// <param name="Unet">The denoising UNet (<c>unet/</c>).</param>
/// <param name="Vae">The autoencoder (<c>vae/</c>).</param>
/// <param name="Scheduler">The scheduler config folder (<c>scheduler/</c>), the default sampler.</param>
public sealed record StableDiffusionComponents(
    ModelComponent Tokenizer,
    ModelComponent TextEncoder,
    ModelComponent Unet,
    ModelComponent Vae,
    ModelComponent Scheduler)
{
    /// <summary>The component names of <c>model_index.json</c> this pipeline needs, in load order.</summary>
    public static IReadOnlyList<string> Names { get; } = ["tokenizer", "text_encoder", "unet", "vae", "scheduler"];

    /// <summary>The components of a pipeline folder.</summary>
    /// <exception cref="DreamBoothException">The folder lacks one of them (one line naming the folder and what it has).</exception>
    public static StableDiffusionComponents FromFolder(ModelFolder folder) =>
        new(folder["tokenizer"], folder["text_encoder"], folder["unet"], folder["vae"], folder["scheduler"]);

    /// <summary>The component playing <paramref name="role"/> (one of <see cref="Names"/>).</summary>
    public ModelComponent this[string role] => role switch
    {
        "tokenizer" => Tokenizer,
        "text_encoder" => TextEncoder,
        "unet" => Unet,
        "vae" => Vae,
        "scheduler" => Scheduler,
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, $"not one of {string.Join(", ", Names)}"),
    };

    /// <summary>A copy with <paramref name="component"/> in the role its <see cref="ModelComponent.Name"/> says (<c>unet</c>, <c>vae</c>, ...).</summary>
    /// <exception cref="DreamBoothException">The component is none of the five roles (e.g. <c>text_encoder_2</c>).</exception>
    public StableDiffusionComponents With(ModelComponent component) => component.Name switch
    {
        "tokenizer" => this with { Tokenizer = component },
        "text_encoder" => this with { TextEncoder = component },
        "unet" => this with { Unet = component },
        "vae" => this with { Vae = component },
        "scheduler" => this with { Scheduler = component },
        _ => throw new DreamBoothException($"{component.Directory}: a '{component.Name}' component has no role in a Stable Diffusion pipeline ({string.Join(", ", Names)})"),
    };
}
