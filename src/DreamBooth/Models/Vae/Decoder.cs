using DreamBooth.Models.Blocks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Vae;

/// <summary>
/// diffusers' VAE <c>Decoder</c>: <c>conv_in</c> → <c>mid_block</c> → <c>up_blocks</c> (layers_per_block + 1 resnets each)
/// → <c>conv_norm_out</c> → SiLU → <c>conv_out</c>. Every GroupNorm uses eps 1e-6.
/// </summary>
public sealed class Decoder : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv_in;
    private readonly UNetMidBlock2D mid_block;
    private readonly ModuleList<UpDecoderBlock2D> up_blocks;
    private readonly GroupNorm conv_norm_out;
    private readonly Conv2d conv_out;

    public Decoder(AutoencoderKLConfig config) : base(nameof(Decoder))
    {
        int[] channels = config.BlockOutChannels;
        int[] reversed = channels.Reverse().ToArray();
        int n = channels.Length;
        conv_in = nn.Conv2d(config.LatentChannels, channels[^1], 3, 1, 1);
        mid_block = new UNetMidBlock2D(channels[^1], config.NormNumGroups, Encoder.NormEps, config.ActFn, config.MidBlockAddAttention);
        up_blocks = nn.ModuleList(Enumerable.Range(0, n)
            .Select(i => new UpDecoderBlock2D(reversed[Math.Max(i - 1, 0)], reversed[i], config.LayersPerBlock + 1, addUpsample: i < n - 1,
                config.NormNumGroups, Encoder.NormEps, config.ActFn)).ToArray());
        conv_norm_out = Norms.GroupNorm(config.NormNumGroups, channels[0], Encoder.NormEps);
        conv_out = nn.Conv2d(channels[0], config.OutChannels, 3, 1, 1);
        RegisterComponents();
    }

    /// <summary>Decodes latents [B, latent_channels, h, w] (after post_quant_conv) to images [B, out_channels, h·f, w·f].</summary>
    public override Tensor forward(Tensor latents)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.call(latents);
        h = mid_block.call(h, null);
        foreach (var block in up_blocks) h = block.call(h);
        h = conv_out.call(nn.functional.silu(conv_norm_out.call(h)));
        return h.MoveToOuterDisposeScope();
    }
}
