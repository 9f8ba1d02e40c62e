using DreamBooth.Models.Blocks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Vae;

/// <summary>
/// diffusers' <c>UNetMidBlock2D</c> as the VAE uses it: <c>resnets.0</c>, then (<c>attentions.0</c>, <c>resnets.1</c>).
/// The attention is single-head over all channels (head dim = C) with its own GroupNorm, biases on q/k/v, a residual
/// connection and softmax upcast.
/// </summary>
public sealed class UNetMidBlock2D : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Attention> attentions;
    private readonly int _numLayers;

    /// <param name="channels">Channels (in = out).</param>
    /// <param name="groups">GroupNorm groups (resnets and attention).</param>
    /// <param name="eps">GroupNorm epsilon (1e-6 in the VAE).</param>
    /// <param name="actFn">Resnet activation.</param>
    /// <param name="addAttention">Whether the attention exists (config <c>mid_block_add_attention</c>).</param>
    /// <param name="numLayers">Attention + resnet pairs after the first resnet.</param>
    public UNetMidBlock2D(long channels, int groups, double eps, string actFn, bool addAttention = true, int numLayers = 1)
        : base(nameof(UNetMidBlock2D))
    {
        resnets = nn.ModuleList(Enumerable.Range(0, numLayers + 1)
            .Select(_ => new ResnetBlock2D(channels, channels, null, groups, eps, actFn)).ToArray());
        attentions = nn.ModuleList(Enumerable.Range(0, addAttention ? numLayers : 0)
            .Select(_ => new Attention(channels, null, heads: 1, dimHead: checked((int)channels), bias: true, normNumGroups: groups,
                normEps: eps, residualConnection: true, upcast: true)).ToArray());
        _numLayers = numLayers;
        RegisterComponents();
    }

    /// <summary>Runs the block on [B, C, H, W]; <paramref name="temb"/> is null in the VAE.</summary>
    public override Tensor forward(Tensor hidden, Tensor? temb)
    {
        using var scope = NewDisposeScope();
        hidden = resnets[0].call(hidden, temb);
        for (int i = 0; i < _numLayers; i++)
        {
            if (attentions.Count > 0) hidden = attentions[i].call(hidden, null);
            hidden = resnets[i + 1].call(hidden, temb);
        }
        return hidden.MoveToOuterDisposeScope();
    }
}
