using DreamBooth.Models.Blocks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Unet;

/// <summary>diffusers' <c>TimestepEmbedding</c>: <c>linear_1</c> → activation → <c>linear_2</c>.</summary>
public sealed class TimestepEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly Linear linear_1;
    private readonly Linear linear_2;
    private readonly Func<Tensor, Tensor> _act;

    /// <param name="inChannels">Input width (the sinusoid width, or the SDXL added-condition width).</param>
    /// <param name="timeEmbedDim">Hidden and output width.</param>
    /// <param name="actFn">Activation name.</param>
    public TimestepEmbedding(long inChannels, long timeEmbedDim, string actFn = "silu") : base(nameof(TimestepEmbedding))
    {
        linear_1 = nn.Linear(inChannels, timeEmbedDim);
        linear_2 = nn.Linear(timeEmbedDim, timeEmbedDim);
        _act = Activations.Get(actFn);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var hidden = linear_1.call(input);
        using var activated = _act(hidden);
        return linear_2.call(activated);
    }
}
