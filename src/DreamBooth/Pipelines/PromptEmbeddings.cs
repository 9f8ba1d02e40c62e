using static TorchSharp.torch;

namespace DreamBooth.Pipelines;

/// <summary>
/// Text-encoder outputs for a list of prompts (diffusers' <c>encode_prompt</c> result). The caller owns the tensors.
/// </summary>
/// <param name="PromptEmbeds">[P, L, D] in the text encoder's dtype: one row per prompt.</param>
/// <param name="NegativePromptEmbeds">[P, L, D]: the unconditional / negative embedding of each prompt; null when guidance is off.</param>
public sealed record PromptEmbeddings(Tensor PromptEmbeds, Tensor? NegativePromptEmbeds) : IDisposable
{
    /// <summary>Disposes the tensors.</summary>
    public void Dispose()
    {
        PromptEmbeds.Dispose();
        NegativePromptEmbeds?.Dispose();
    }
}
