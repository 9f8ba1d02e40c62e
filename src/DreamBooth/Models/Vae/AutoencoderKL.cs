using System.Text.RegularExpressions;
using DreamBooth.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Vae;

/// <summary>
/// diffusers' <c>AutoencoderKL</c>, the Stable Diffusion VAE: <see cref="Encode"/> maps images in [−1, 1] to a
/// <see cref="DiagonalGaussianDistribution"/> over latents (encoder → quant_conv), <see cref="Decode"/> maps latents back
/// (post_quant_conv → decoder). Neither applies <see cref="ScalingFactor"/>: training multiplies encoded latents by it,
/// pipelines divide by it before decoding.
/// </summary>
public sealed partial class AutoencoderKL : nn.Module<Tensor, Tensor>
{
    private readonly Encoder encoder;
    private readonly Decoder decoder;
    private readonly Conv2d? quant_conv;
    private readonly Conv2d? post_quant_conv;

    /// <summary>The configuration the model was built from.</summary>
    public AutoencoderKLConfig Config { get; }

    /// <summary>The encoder (output before quant_conv).</summary>
    public Encoder Encoder => encoder;

    /// <summary>The decoder (input after post_quant_conv).</summary>
    public Decoder Decoder => decoder;

    /// <summary>Latent scaling factor from the config (0.18215 for SD1/2).</summary>
    public double ScalingFactor => Config.ScalingFactor;

    /// <summary>Latent shift from the config, when present (subtracted before scaling).</summary>
    public double? ShiftFactor => Config.ShiftFactor;

    /// <summary>Builds a randomly initialized model; <see cref="FromPretrained(string, ScalarType?)"/> also loads weights.</summary>
    public AutoencoderKL(AutoencoderKLConfig config) : base(nameof(AutoencoderKL))
    {
        config.Validate(nameof(AutoencoderKLConfig));
        Config = config;
        encoder = new Encoder(config);
        decoder = new Decoder(config);
        long latent = config.LatentChannels;
        quant_conv = config.UseQuantConv ? nn.Conv2d(2 * latent, 2 * latent, 1, 1, 0) : null;
        post_quant_conv = config.UsePostQuantConv ? nn.Conv2d(latent, latent, 1, 1, 0) : null;
        RegisterComponents();
    }

    /// <summary>
    /// Loads a diffusers <c>vae/</c> folder: <c>config.json</c> and <c>diffusion_pytorch_model.safetensors</c> (strict).
    /// Checkpoints that name the mid-block attention <c>query/key/value/proj_attn</c> (older diffusers) are converted
    /// to <c>to_q/to_k/to_v/to_out.0</c>, as diffusers does on load. Converted to <paramref name="dtype"/>, eval mode.
    /// </summary>
    public static AutoencoderKL FromPretrained(string componentDir, ScalarType? dtype = null) =>
        FromPretrained(ModelComponent.Open(componentDir), dtype);

    /// <summary>Loads a resolved component (weights variant or shards as the folder provides them).</summary>
    public static AutoencoderKL FromPretrained(ModelComponent component, ScalarType? dtype = null) =>
        Pretrained.Load<AutoencoderKLConfig, AutoencoderKL>(component, dtype, c => new AutoencoderKL(c), ConvertDeprecatedAttentionKey);

    /// <summary>Maps a legacy mid-block attention key (<c>…mid_block.attentions.0.query.weight</c>) to the current name
    /// (<c>…to_q.weight</c>); other keys are returned unchanged.</summary>
    public static string ConvertDeprecatedAttentionKey(string key)
    {
        var m = DeprecatedAttentionKey().Match(key);
        if (!m.Success) return key;
        var name = m.Groups[2].Value switch
        {
            "query" => "to_q",
            "key" => "to_k",
            "value" => "to_v",
            _ => "to_out.0",
        };
        return $"{m.Groups[1].Value}{name}.{m.Groups[3].Value}";
    }

    [GeneratedRegex(@"^((?:encoder|decoder)\.mid_block\.attentions\.\d+\.)(query|key|value|proj_attn)\.(weight|bias)$")]
    private static partial Regex DeprecatedAttentionKey();

    /// <summary>Encodes images [B, in_channels, H, W] in [−1, 1] to the latent posterior.</summary>
    public DiagonalGaussianDistribution Encode(Tensor image)
    {
        var h = encoder.call(image);
        if (quant_conv is null) return new DiagonalGaussianDistribution(h);
        var moments = quant_conv.call(h);
        h.Dispose();
        return new DiagonalGaussianDistribution(moments);
    }

    /// <summary>Decodes (unscaled) latents [B, latent_channels, h, w] to images [B, out_channels, H, W] (not clamped).</summary>
    public Tensor Decode(Tensor latents)
    {
        if (post_quant_conv is null) return decoder.call(latents);
        using var z = post_quant_conv.call(latents);
        return decoder.call(z);
    }

    /// <summary>Reconstructs images through the posterior mode, as diffusers' forward with sample_posterior=False.</summary>
    public override Tensor forward(Tensor image)
    {
        using var scope = NewDisposeScope();
        return Decode(Encode(image).Mode()).MoveToOuterDisposeScope();
    }
}
