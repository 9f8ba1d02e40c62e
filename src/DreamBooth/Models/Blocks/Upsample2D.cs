using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Blocks;

/// <summary>
/// diffusers' <c>Upsample2D</c> with a conv: nearest-neighbour ×2 (or to an explicit size, which the UNet passes when
/// the latent size is not a multiple of its total downsampling) followed by a 3×3 <c>conv</c>.
/// </summary>
public sealed class Upsample2D : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;

    /// <param name="channels">Input channels.</param>
    /// <param name="outChannels">Output channels.</param>
    public Upsample2D(long channels, long outChannels) : base(nameof(Upsample2D))
    {
        conv = nn.Conv2d(channels, outChannels, 3, 1, 1);
        RegisterComponents();
    }

    /// <summary>Upsamples ×2.</summary>
    public override Tensor forward(Tensor input) => forward(input, null);

    /// <summary>Upsamples to <paramref name="outputSize"/> ([H, W]) when given, otherwise ×2.</summary>
    public Tensor forward(Tensor input, long[]? outputSize)
    {
        using var upsampled = outputSize is null
            ? nn.functional.interpolate(input, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest)
            : nn.functional.interpolate(input, size: outputSize, mode: InterpolationMode.Nearest);
        return conv.call(upsampled);
    }
}
