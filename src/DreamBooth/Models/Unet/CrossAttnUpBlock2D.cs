using DreamBooth.Models.Blocks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Unet;

/// <summary>diffusers' <c>CrossAttnUpBlock2D</c>: per layer, concatenate [hidden, skip] on channels, apply
/// <c>resnets.i</c> and <c>attentions.i</c>; then an optional <c>upsamplers.0</c>.</summary>
public sealed class CrossAttnUpBlock2D : UNetUpBlock
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Transformer2DModel> attentions;
    private readonly ModuleList<Upsample2D>? upsamplers;

    /// <param name="inChannels">Channels of the deepest skip this block consumes.</param>
    /// <param name="prevOutputChannels">Channels of the incoming hidden state.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="tembChannels">Time embedding width.</param>
    /// <param name="numLayers">Number of resnet + transformer pairs (layers_per_block + 1).</param>
    /// <param name="addUpsample">Whether to end with an upsampler.</param>
    /// <param name="resnet">Resnet settings.</param>
    /// <param name="transformer">Transformer settings.</param>
    public CrossAttnUpBlock2D(long inChannels, long prevOutputChannels, long outChannels, long tembChannels, int numLayers, bool addUpsample,
        ResnetSettings resnet, TransformerSettings transformer) : base(nameof(CrossAttnUpBlock2D))
    {
        resnets = nn.ModuleList(Enumerable.Range(0, numLayers)
            .Select(i => resnet.Create(ResnetInChannels(i, numLayers, inChannels, prevOutputChannels, outChannels), outChannels, tembChannels))
            .ToArray());
        attentions = nn.ModuleList(Enumerable.Range(0, numLayers).Select(_ => transformer.Create(outChannels)).ToArray());
        upsamplers = addUpsample ? nn.ModuleList(new Upsample2D(outChannels, outChannels)) : null;
        RegisterComponents();
    }

    public override int SkipCount => resnets.Count;

    public override Tensor forward(Tensor hidden, IReadOnlyList<Tensor> skips, Tensor temb, Tensor? encoderHiddenStates, long[]? upsampleSize)
    {
        using var scope = NewDisposeScope();
        for (int i = 0; i < resnets.Count; i++)
        {
            hidden = cat([hidden, skips[skips.Count - 1 - i]], 1);
            hidden = GradientCheckpoint.Call(resnets[i], hidden, temb, GradientCheckpointing);
            hidden = GradientCheckpoint.Call(attentions[i], hidden, encoderHiddenStates, GradientCheckpointing);
        }
        if (upsamplers is not null) hidden = upsamplers[0].forward(hidden, upsampleSize);
        return hidden.MoveToOuterDisposeScope();
    }
}
