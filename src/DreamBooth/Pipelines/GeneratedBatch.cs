using static TorchSharp.torch;

namespace DreamBooth.Pipelines;

/// <summary>
/// The images of one batch of a run, as <see cref="StableDiffusionPipeline.GenerateBatches"/> yields them. The caller
/// owns the tensors (dispose the batch).
/// </summary>
/// <param name="FirstIndex">Index of the first image in the run.</param>
/// <param name="Images">[B, 3, H, W] float32 on the CPU, values in [0, 1].</param>
/// <param name="Seeds">The seed of each image.</param>
/// <param name="Prompts">The prompt of each image.</param>
/// <param name="NegativePrompts">The negative prompt of each image ("" when none); null when guidance was off.</param>
/// <param name="Latents">The final latents [B, C, h, w] float32 before decoding, when requested; else null.</param>
public sealed record GeneratedBatch(int FirstIndex, Tensor Images, IReadOnlyList<long> Seeds, IReadOnlyList<string> Prompts,
    IReadOnlyList<string>? NegativePrompts, Tensor? Latents) : IDisposable
{
    /// <summary>Number of images in the batch.</summary>
    public int Count => Seeds.Count;

    /// <summary>A copy of image <paramref name="k"/> [3, H, W] that outlives the batch, in no dispose scope (the caller disposes it).</summary>
    public Tensor CopyImage(int k)
    {
        // The indexing view is a native reference too: dropped here, not left for the GC, so disposing the batch frees it.
        using var view = Images[k];
        return view.clone().DetachFromDisposeScope();
    }

    /// <summary>Disposes the tensors.</summary>
    public void Dispose()
    {
        Images.Dispose();
        Latents?.Dispose();
    }
}
