using DreamBooth.Models.Blocks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Unet;

/// <summary>diffusers' <c>DownBlock2D</c>: <c>resnets</c>, then an optional stride-2 <c>downsamplers.0</c>; no attention.</summary>
public sealed class DownBlock2D : UNetDownBlock
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Downsample2D>? downsamplers;

    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="tembChannels">Time embedding width.</param>
    /// <param name="numLayers">Number of resnets.</param>
    /// <param name="addDownsample">Whether to end with a downsampler.</param>
    /// <param name="resnet">Settings shared by the resnets.</param>
    /// <param name="downsamplePadding">Padding of the downsampling conv.</param>
    public DownBlock2D(long inChannels, long outChannels, long tembChannels, int numLayers, bool addDownsample,
        ResnetSettings resnet, long downsamplePadding = 1) : base(nameof(DownBlock2D))
    {
        resnets = nn.ModuleList(Enumerable.Range(0, numLayers)
            .Select(i => resnet.Create(i == 0 ? inChannels : outChannels, outChannels, tembChannels)).ToArray());
        downsamplers = addDownsample ? nn.ModuleList(new Downsample2D(outChannels, outChannels, downsamplePadding)) : null;
        RegisterComponents();
    }

    public override (Tensor Hidden, IReadOnlyList<Tensor> Skips) forward(Tensor hidden, Tensor temb, Tensor? encoderHiddenStates)
    {
        var skips = new List<Tensor>(resnets.Count + 1);
        foreach (var resnet in resnets)
        {
            hidden = GradientCheckpoint.Call(resnet, hidden, temb, GradientCheckpointing);
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
