using DreamBooth.Models.Blocks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Unet;

/// <summary>diffusers' <c>UNetMidBlock2DCrossAttn</c>: <c>resnets.0</c>, then (<c>attentions.i</c>, <c>resnets.i+1</c>) pairs.</summary>
public sealed class UNetMidBlock2DCrossAttn : nn.Module<Tensor, Tensor, Tensor?, Tensor>, ISupportsGradientCheckpointing
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Transformer2DModel> attentions;

    /// <param name="channels">Channels (in = out).</param>
    /// <param name="tembChannels">Time embedding width.</param>
    /// <param name="resnet">Resnet settings (output scale factor = mid_block_scale_factor).</param>
    /// <param name="transformer">Transformer settings.</param>
    /// <param name="numLayers">Number of attention + resnet pairs after the first resnet.</param>
    public UNetMidBlock2DCrossAttn(long channels, long tembChannels, ResnetSettings resnet, TransformerSettings transformer, int numLayers = 1)
        : base(nameof(UNetMidBlock2DCrossAttn))
    {
        resnets = nn.ModuleList(Enumerable.Range(0, numLayers + 1).Select(_ => resnet.Create(channels, channels, tembChannels)).ToArray());
        attentions = nn.ModuleList(Enumerable.Range(0, numLayers).Select(_ => transformer.Create(channels)).ToArray());
        RegisterComponents();
    }

    /// <inheritdoc/>
    public bool GradientCheckpointing { get; set; }

    /// <summary>Runs the block on [B, C, H, W] with time embedding <paramref name="temb"/> and text embeddings.</summary>
    public override Tensor forward(Tensor hidden, Tensor temb, Tensor? encoderHiddenStates)
    {
        using var scope = NewDisposeScope();
        hidden = GradientCheckpoint.Call(resnets[0], hidden, temb, GradientCheckpointing);
        for (int i = 0; i < attentions.Count; i++)
        {
            hidden = GradientCheckpoint.Call(attentions[i], hidden, encoderHiddenStates, GradientCheckpointing);
            hidden = GradientCheckpoint.Call(resnets[i + 1], hidden, temb, GradientCheckpointing);
        }
        return hidden.MoveToOuterDisposeScope();
    }
}
