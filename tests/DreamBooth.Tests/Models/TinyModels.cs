using DreamBooth.IO;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Models;

/// <summary>Small in-code model configs for unit tests that need no fixtures (random weights).</summary>
internal static class TinyModels
{
    /// <summary>SD1-style: conv projections, a cross-attention down block, a plain down block.</summary>
    public static UNet2DConditionConfig Sd1Unet => Unet("""
        {"block_out_channels":[16,32],"layers_per_block":1,"norm_num_groups":8,"attention_head_dim":2,"cross_attention_dim":12,
         "down_block_types":["CrossAttnDownBlock2D","DownBlock2D"],"up_block_types":["UpBlock2D","CrossAttnUpBlock2D"]}
        """);

    /// <summary>SDXL-style: linear projections, per-block heads, two transformer layers, text_time added conditions.</summary>
    public static UNet2DConditionConfig SdxlUnet => Unet("""
        {"block_out_channels":[16,16],"layers_per_block":1,"norm_num_groups":8,"attention_head_dim":[2,4],"cross_attention_dim":12,
         "down_block_types":["DownBlock2D","CrossAttnDownBlock2D"],"up_block_types":["CrossAttnUpBlock2D","UpBlock2D"],
         "use_linear_projection":true,"transformer_layers_per_block":[1,2],"addition_embed_type":"text_time",
         "addition_time_embed_dim":4,"projection_class_embeddings_input_dim":32}
        """);

    /// <summary>Width of SDXL-style text_embeds for <see cref="SdxlUnet"/> (32 − 6·4).</summary>
    public const int SdxlTextEmbedsDim = 8;

    public static AutoencoderKLConfig Vae => ConfigJson.Parse<AutoencoderKLConfig>("""
        {"block_out_channels":[8,16],"layers_per_block":1,"norm_num_groups":4,"latent_channels":4,
         "down_block_types":["DownEncoderBlock2D","DownEncoderBlock2D"],"up_block_types":["UpDecoderBlock2D","UpDecoderBlock2D"]}
        """u8, "tiny vae config");

    public static UNet2DConditionConfig Unet(string json) =>
        ConfigJson.Parse<UNet2DConditionConfig>(System.Text.Encoding.UTF8.GetBytes(json), "tiny unet config");

    /// <summary>UNet inputs for <paramref name="config"/>: sample [B,4,H,W], timesteps [B], text [B,S,D] and SDXL added conditions.</summary>
    public static (Tensor Sample, Tensor Timesteps, Tensor Text, Tensor? TextEmbeds, Tensor? TimeIds) UnetInputs(
        UNet2DConditionConfig config, Generator g, long batch = 2, long height = 8, long width = 8)
    {
        var sample = randn([batch, config.InChannels, height, width], generator: g);
        var timesteps = randint(0, 1000, [batch], dtype: ScalarType.Int64, generator: g);
        var text = randn([batch, 5, config.CrossAttentionDims[0]], generator: g);
        if (config.AdditionEmbedType != "text_time") return (sample, timesteps, text, null, null);
        var textEmbeds = randn([batch, SdxlTextEmbedsDim], generator: g);
        var timeIds = tensor(new float[] { 64, 64, 0, 0, 64, 64 }).repeat(batch, 1);
        return (sample, timesteps, text, textEmbeds, timeIds);
    }
}
