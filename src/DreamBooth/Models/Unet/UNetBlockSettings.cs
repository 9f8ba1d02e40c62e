using DreamBooth.Models.Blocks;

namespace DreamBooth.Models.Unet;

/// <summary>The resnet settings a UNet passes to every block (diffusers' resnet_groups, resnet_eps, resnet_act_fn, ...).</summary>
/// <param name="Groups">GroupNorm groups.</param>
/// <param name="Eps">GroupNorm epsilon.</param>
/// <param name="ActFn">Activation name.</param>
/// <param name="Dropout">Dropout before conv2.</param>
/// <param name="OutputScaleFactor">Divisor of the resnet output.</param>
public sealed record ResnetSettings(int Groups, double Eps, string ActFn, double Dropout, double OutputScaleFactor)
{
    /// <summary>A resnet with these settings.</summary>
    public ResnetBlock2D Create(long inChannels, long outChannels, long? tembChannels) =>
        new(inChannels, outChannels, tembChannels, Groups, Eps, ActFn, Dropout, OutputScaleFactor);
}

/// <summary>The Transformer2DModel settings of one UNet block.</summary>
/// <param name="Heads">Attention heads (head dim = channels / heads).</param>
/// <param name="NumLayers">Transformer blocks per Transformer2DModel.</param>
/// <param name="CrossAttentionDim">Width of the encoder hidden states.</param>
/// <param name="NormNumGroups">GroupNorm groups.</param>
/// <param name="UseLinearProjection">Linear proj_in/proj_out instead of 1×1 convs.</param>
/// <param name="UpcastAttention">diffusers' upcast_attention.</param>
public sealed record TransformerSettings(int Heads, int NumLayers, long CrossAttentionDim, int NormNumGroups, bool UseLinearProjection, bool UpcastAttention)
{
    /// <summary>A transformer over <paramref name="channels"/> channels with these settings.</summary>
    public Transformer2DModel Create(long channels) =>
        new(Heads, checked((int)(channels / Heads)), channels, NumLayers, CrossAttentionDim, NormNumGroups, UseLinearProjection, UpcastAttention);
}
