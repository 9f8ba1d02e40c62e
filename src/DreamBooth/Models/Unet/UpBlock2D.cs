using DreamBooth.Models.Blocks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Unet;

/// <summary>diffusers' <c>UpBlock2D</c>: per resnet, concatenate [hidden, skip] on channels and apply <c>resnets.i</c>;
/// then an optional <c>upsamplers.0</c>.</summary>
public sealed class UpBlock2D : UNetUpBlock
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Upsample2D>? upsamplers;

    /// <param name="inChannels">Channels of the deepest skip this block consumes (the next-lower resolution's width).</param>
    /// <param name="prevOutputChannels">Channels of the incoming hidden state.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="tembChannels">Time embedding width.</param>
    /// <param name="numLayers">Number of resnets (layers_per_block + 1).</param>
    /// <param name="addUpsample">Whether to end with an upsampler.</param>
    /// <param name="resnet">Resnet settings.</param>
    public UpBlock2D(long inChannels, long prevOutputChannels, long outChannels, long tembChannels, int numLayers, bool addUpsample,
        ResnetSettings resnet) : base(nameof(UpBlock2D))
    {
        resnets = nn.ModuleList(Enumerable.Range(0, numLayers)
            .Select(i => resnet.Create(ResnetInChannels(i, numLayers, inChannels, prevOutputChannels, outChannels), outChannels, tembChannels))
            .ToArray());
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
        }
        if (upsamplers is not null) hidden = upsamplers[0].forward(hidden, upsampleSize);
        return hidden.MoveToOuterDisposeScope();
    }
}
