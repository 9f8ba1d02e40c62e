using DreamBooth.Models.Blocks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Vae;

/// <summary>
/// diffusers' VAE <c>Encoder</c>: <c>conv_in</c> → <c>down_blocks</c> → <c>mid_block</c> → <c>conv_norm_out</c> → SiLU →
/// <c>conv_out</c> to 2·latent_channels (mean and log-variance). Every GroupNorm uses eps 1e-6.
/// </summary>
public sealed class Encoder : nn.Module<Tensor, Tensor>
{
    /// <summary>GroupNorm epsilon of every VAE norm.</summary>
    public const double NormEps = 1e-6;

    private readonly Conv2d conv_in;
    private readonly ModuleList<DownEncoderBlock2D> down_blocks;
    private readonly UNetMidBlock2D mid_block;
    private readonly GroupNorm conv_norm_out;
    private readonly Conv2d conv_out;

    public Encoder(AutoencoderKLConfig config) : base(nameof(Encoder))
    {
        int[] channels = config.BlockOutChannels;
        int n = channels.Length;
        conv_in = nn.Conv2d(config.InChannels, channels[0], 3, 1, 1);
        down_blocks = nn.ModuleList(Enumerable.Range(0, n)
            .Select(i => new DownEncoderBlock2D(channels[Math.Max(i - 1, 0)], channels[i], config.LayersPerBlock, addDownsample: i < n - 1,
                config.NormNumGroups, NormEps, config.ActFn)).ToArray());
        mid_block = new UNetMidBlock2D(channels[^1], config.NormNumGroups, NormEps, config.ActFn, config.MidBlockAddAttention);
        conv_norm_out = Norms.GroupNorm(config.NormNumGroups, channels[^1], NormEps);
        conv_out = nn.Conv2d(channels[^1], 2L * config.LatentChannels, 3, 1, 1);
        RegisterComponents();
    }

    /// <summary>Encodes images [B, in_channels, H, W] to [B, 2·latent_channels, H/f, W/f] (before quant_conv).</summary>
    public override Tensor forward(Tensor image)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.call(image);
        foreach (var block in down_blocks) h = block.call(h);
        h = mid_block.call(h, null);
        h = conv_out.call(nn.functional.silu(conv_norm_out.call(h)));
        return h.MoveToOuterDisposeScope();
    }
}
