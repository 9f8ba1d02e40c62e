using static TorchSharp.torch;

namespace DreamBooth.Pipelines;

/// <summary>All images of a run (<see cref="StableDiffusionPipeline.Generate"/>). The caller owns the tensors (dispose the result).</summary>
/// <param name="Images">[N, 3, H, W] float32 on the CPU, values in [0, 1], in request order.</param>
/// <param name="Seeds">The seed of each image (the request's seed + index).</param>
/// <param name="Prompts">The prompt of each image.</param>
/// <param name="NegativePrompts">The negative prompt of each image ("" when none); null when guidance was off.</param>
/// <param name="Latents">The final latents [N, C, h, w] float32, when requested; else null.</param>
public sealed record GenerationResult(Tensor Images, IReadOnlyList<long> Seeds, IReadOnlyList<string> Prompts,
    IReadOnlyList<string>? NegativePrompts, Tensor? Latents) : IDisposable
{
    /// <summary>Number of images.</summary>
    public int Count => Seeds.Count;

    /// <summary>Disposes the tensors.</summary>
    public void Dispose()
    {
        Images.Dispose();
        Latents?.Dispose();
    }
}
