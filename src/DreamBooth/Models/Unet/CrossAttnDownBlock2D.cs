using DreamBooth.Models.Blocks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Unet;

/// <summary>
/// diffusers' <c>CrossAttnDownBlock2D</c>: pairs of (<c>resnets.i</c>, <c>attentions.i</c> = Transformer2DModel), each
/// pair's output pushed as a skip, then an optional stride-2 <c>downsamplers.0</c>.
/// </summary>
public sealed class CrossAttnDownBlock2D : UNetDownBlock
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Transformer2DModel> attentions;
    private readonly ModuleList<Downsample2D>? downsamplers;

    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="tembChannels">Time embedding width.</param>
    /// <param name="numLayers">Number of resnet + transformer pairs.</param>
    /// <param name="addDownsample">Whether to end with a downsampler.</param>
    /// <param name="resnet">Settings shared by the resnets.</param>
    /// <param name="transformer">Settings shared by the transformers.</param>
    /// <param name="downsamplePadding">Padding of the downsampling conv.</param>
    public CrossAttnDownBlock2D(long inChannels, long outChannels, long tembChannels, int numLayers, bool addDownsample,
        ResnetSettings resnet, TransformerSettings transformer, long downsamplePadding = 1) : base(nameof(CrossAttnDownBlock2D))
    {
        resnets = nn.ModuleList(Enumerable.Range(0, numLayers)
            .Select(i => resnet.Create(i == 0 ? inChannels : outChannels, outChannels, tembChannels)).ToArray());
        attentions = nn.ModuleList(Enumerable.Range(0, numLayers).Select(_ => transformer.Create(outChannels)).ToArray());
        downsamplers = addDownsample ? nn.ModuleList(new Downsample2D(outChannels, outChannels, downsamplePadding)) : null;
        RegisterComponents();
    }

    public override (Tensor Hidden, IReadOnlyList<Tensor> Skips) forward(Tensor hidden, Tensor temb, Tensor? encoderHiddenStates)
    {
        var skips = new List<Tensor>(resnets.Count + 1);
        for (int i = 0; i < resnets.Count; i++)
        {
            using var resnetOut = GradientCheckpoint.Call(resnets[i], hidden, temb, GradientCheckpointing);
            hidden = GradientCheckpoint.Call(attentions[i], resnetOut, encoderHiddenStates, GradientCheckpointing);
            skips.Add(hidden);
        }
        if (downsamplers is not null)
        {
            hidden = downsamplers[0].call(hidden);
            skips.Add(hidden);
        }
        return (hidden, skips);
    }
}
