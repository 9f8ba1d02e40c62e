using static TorchSharp.torch;

namespace DreamBooth.Models.Unet;

/// <summary>A UNet up block: consumes one skip tensor per resnet (concatenated after the hidden state) and upsamples.</summary>
public abstract class UNetUpBlock : nn.Module, ISupportsGradientCheckpointing
{
    protected UNetUpBlock(string name) : base(name) { }

    /// <inheritdoc/>
    public bool GradientCheckpointing { get; set; }

    /// <summary>Number of skip tensors the block consumes (its resnet count).</summary>
    public abstract int SkipCount { get; }

    /// <summary>Runs the block.</summary>
    /// <param name="hidden">Feature map [B, C, H, W].</param>
    /// <param name="skips">The <see cref="SkipCount"/> most recent skip tensors, in push order; the last is used first.</param>
    /// <param name="temb">Time embedding [B, time_embed_dim].</param>
    /// <param name="encoderHiddenStates">Text embeddings (ignored by blocks without attention).</param>
    /// <param name="upsampleSize">Explicit [H, W] for the upsampler, or null for ×2.</param>
    public abstract Tensor forward(Tensor hidden, IReadOnlyList<Tensor> skips, Tensor temb, Tensor? encoderHiddenStates, long[]? upsampleSize);

    /// <summary>Input channels of resnet <paramref name="i"/> of <paramref name="numLayers"/>: hidden + skip channels.
    /// The hidden state has <paramref name="prevOutputChannels"/> at i = 0 and <paramref name="outChannels"/> after; the
    /// last skip consumed has <paramref name="inChannels"/>, the others <paramref name="outChannels"/> (as diffusers).</summary>
    protected static long ResnetInChannels(int i, int numLayers, long inChannels, long prevOutputChannels, long outChannels)
    {
        long skipChannels = i == numLayers - 1 ? inChannels : outChannels;
        long hiddenChannels = i == 0 ? prevOutputChannels : outChannels;
        return hiddenChannels + skipChannels;
    }
}
