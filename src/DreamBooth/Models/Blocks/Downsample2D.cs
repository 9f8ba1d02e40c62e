using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Blocks;

/// <summary>
/// diffusers' <c>Downsample2D</c> with a conv: a stride-2 3×3 <c>conv</c>. With <c>padding</c> 0 (the VAE encoder) the
/// input is first padded by one zero row/column on the right and bottom only, as diffusers does.
/// </summary>
public sealed class Downsample2D : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly long _padding;

    /// <param name="channels">Input channels.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="padding">Conv padding: 1 in the UNet (<c>downsample_padding</c>), 0 in the VAE (asymmetric pad first).</param>
    public Downsample2D(long channels, long outChannels, long padding = 1) : base(nameof(Downsample2D))
    {
        conv = nn.Conv2d(channels, outChannels, 3, 2, padding);
        _padding = padding;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        if (_padding != 0) return conv.call(input);
        using var padded = nn.functional.pad(input, (0, 1, 0, 1), PaddingModes.Constant, 0.0);
        return conv.call(padded);
    }
}
