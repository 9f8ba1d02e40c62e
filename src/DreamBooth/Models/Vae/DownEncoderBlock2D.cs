using DreamBooth.Models.Blocks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Vae;

/// <summary>diffusers' <c>DownEncoderBlock2D</c>: <c>resnets</c> (no time embedding), then an optional
/// <c>downsamplers.0</c> that pads right/bottom and convolves with stride 2, padding 0.</summary>
public sealed class DownEncoderBlock2D : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Downsample2D>? downsamplers;

    public DownEncoderBlock2D(long inChannels, long outChannels, int numLayers, bool addDownsample, int groups, double eps, string actFn)
        : base(nameof(DownEncoderBlock2D))
    {
        resnets = nn.ModuleList(Enumerable.Range(0, numLayers)
            .Select(i => new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, null, groups, eps, actFn)).ToArray());
        downsamplers = addDownsample ? nn.ModuleList(new Downsample2D(outChannels, outChannels, padding: 0)) : null;
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        foreach (var resnet in resnets) hidden = resnet.call(hidden, null);
        if (downsamplers is not null) hidden = downsamplers[0].call(hidden);
        return hidden.MoveToOuterDisposeScope();
    }
}
