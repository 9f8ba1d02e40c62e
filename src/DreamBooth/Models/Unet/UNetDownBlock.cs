using static TorchSharp.torch;

namespace DreamBooth.Models.Unet;

/// <summary>A UNet down block: transforms the hidden state and pushes skip tensors for the up path.</summary>
public abstract class UNetDownBlock : nn.Module, ISupportsGradientCheckpointing
{
    protected UNetDownBlock(string name) : base(name) { }

    /// <inheritdoc/>
    public bool GradientCheckpointing { get; set; }

    /// <summary>
    /// Runs the block. Returns the new hidden state and the skip tensors it pushes, in push order (one per resnet, then
    /// one for the downsampler if any); the last skip is the returned hidden state.
    /// </summary>
    /// <param name="hidden">Feature map [B, C, H, W].</param>
    /// <param name="temb">Time embedding [B, time_embed_dim].</param>
    /// <param name="encoderHiddenStates">Text embeddings [B, S, cross_attention_dim] (ignored by blocks without attention).</param>
    public abstract (Tensor Hidden, IReadOnlyList<Tensor> Skips) forward(Tensor hidden, Tensor temb, Tensor? encoderHiddenStates);
}
