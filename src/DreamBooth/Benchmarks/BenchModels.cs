using System.Text;
using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Schedulers;

namespace DreamBooth.Benchmarks;

/// <summary>
/// The configs of the models a bench builds (with random weights): the published Stable Diffusion configs
/// (<c>sd15</c>, <c>sd21</c>, <c>sdxl</c>), embedded here as the <c>config.json</c> texts the model repositories ship,
/// or the configs of a diffusers folder (its weights are not read).
/// </summary>
/// <param name="Name">sd15, sd21, sdxl, or the folder.</param>
/// <param name="Unet">The UNet config.</param>
/// <param name="TextEncoder">The (first) text encoder config.</param>
/// <param name="Vae">The VAE config.</param>
/// <param name="Scheduler">The scheduler config (training noise schedule and the 25-step sampler).</param>
public sealed record BenchModels(string Name, UNet2DConditionConfig Unet, CLIPTextConfig TextEncoder, AutoencoderKLConfig Vae, SchedulerConfig Scheduler)
{
    /// <summary>The names of the published configs.</summary>
    public static IReadOnlyList<string> Published { get; } = ["sd15", "sd21", "sdxl"];

    /// <summary>Whether the UNet needs SDXL's added conditions (text_embeds, time_ids), which the trainer and pipeline do not support.</summary>
    public bool IsSdxl => Unet.AdditionEmbedType == "text_time";

    /// <summary>The width of SDXL's pooled text embeddings (projection_class_embeddings_input_dim − 6·addition_time_embed_dim).</summary>
    public int TextEmbedsDim => (Unet.ProjectionClassEmbeddingsInputDim ?? 0) - 6 * (Unet.AdditionTimeEmbedDim ?? 0);

    /// <summary>VAE downsampling factor: 2^(blocks − 1).</summary>
    public int VaeScaleFactor => 1 << (Vae.BlockOutChannels.Length - 1);

    /// <summary>
    /// <c>sd15</c>, <c>sd21</c> or <c>sdxl</c>: the embedded published configs; anything else is a diffusers model
    /// folder whose <c>unet/</c>, <c>text_encoder/</c>, <c>vae/</c> configs (and <c>scheduler/</c>, else SD 1.5's) are read.
    /// </summary>
    /// <exception cref="DreamBoothException">Neither a published name nor a readable folder with valid configs.</exception>
    public static BenchModels Resolve(string config)
    {
        switch (config)
        {
            case "sd15": return Parse("sd15", Sd15Unet, Sd15TextEncoder, Sd15Vae, Sd15Scheduler);
            case "sd21": return Parse("sd21", Sd21Unet, Sd21TextEncoder, Sd21Vae, Sd21Scheduler);
            case "sdxl": return Parse("sdxl", SdxlUnet, SdxlTextEncoder, SdxlVae, SdxlScheduler);
        }
        if (!Directory.Exists(config))
            throw new DreamBoothException($"--config {config}: expected sd15, sd21, sdxl or a diffusers model folder");
        string Required(string component, string file)
        {
            var path = Path.Combine(config, component, file);
            return File.Exists(path) ? path : throw new DreamBoothException($"--config {config}: {component}/{file} not found");
        }
        var unet = ConfigJson.Read<UNet2DConditionConfig>(Required("unet", "config.json"));
        var text = ConfigJson.Read<CLIPTextConfig>(Required("text_encoder", "config.json"));
        var vae = ConfigJson.Read<AutoencoderKLConfig>(Required("vae", "config.json"));
        var schedulerPath = Path.Combine(config, "scheduler", "scheduler_config.json");
        var scheduler = File.Exists(schedulerPath) ? SchedulerConfig.Read(schedulerPath) : SchedulerConfig.Parse(Encoding.UTF8.GetBytes(Sd15Scheduler), "sd15 scheduler");
        return Validated(new BenchModels(config, unet, text, vae, scheduler));
    }

    private static BenchModels Parse(string name, string unet, string text, string vae, string scheduler) => Validated(new BenchModels(name,
        ConfigJson.Parse<UNet2DConditionConfig>(Encoding.UTF8.GetBytes(unet), name + " unet config"),
        ConfigJson.Parse<CLIPTextConfig>(Encoding.UTF8.GetBytes(text), name + " text_encoder config"),
        ConfigJson.Parse<AutoencoderKLConfig>(Encoding.UTF8.GetBytes(vae), name + " vae config"),
        SchedulerConfig.Parse(Encoding.UTF8.GetBytes(scheduler), name + " scheduler config")));

    private static BenchModels Validated(BenchModels m)
    {
        m.Unet.Validate(m.Name + " unet config");
        m.TextEncoder.Validate(m.Name + " text_encoder config");
        m.Vae.Validate(m.Name + " vae config");
        return m;
    }

    // runwayml/stable-diffusion-v1-5: unet/config.json, text_encoder/config.json (CLIP ViT-L/14), vae/config.json, scheduler.
    private const string Sd15Unet = """
        {"_class_name":"UNet2DConditionModel","_diffusers_version":"0.6.0","act_fn":"silu","attention_head_dim":8,
         "block_out_channels":[320,640,1280,1280],"center_input_sample":false,"cross_attention_dim":768,
         "down_block_types":["CrossAttnDownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D","DownBlock2D"],
         "downsample_padding":1,"flip_sin_to_cos":true,"freq_shift":0,"in_channels":4,"layers_per_block":2,
         "mid_block_scale_factor":1,"norm_eps":1e-05,"norm_num_groups":32,"out_channels":4,"sample_size":64,
         "up_block_types":["UpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D"]}
        """;

    private const string Sd15TextEncoder = """
        {"architectures":["CLIPTextModel"],"attention_dropout":0.0,"bos_token_id":0,"dropout":0.0,"eos_token_id":2,
         "hidden_act":"quick_gelu","hidden_size":768,"initializer_factor":1.0,"initializer_range":0.02,"intermediate_size":3072,
         "layer_norm_eps":1e-05,"max_position_embeddings":77,"model_type":"clip_text_model","num_attention_heads":12,
         "num_hidden_layers":12,"pad_token_id":1,"projection_dim":768,"torch_dtype":"float32","vocab_size":49408}
        """;

    private const string Sd15Vae = """
        {"_class_name":"AutoencoderKL","_diffusers_version":"0.6.0","act_fn":"silu","block_out_channels":[128,256,512,512],
         "down_block_types":["DownEncoderBlock2D","DownEncoderBlock2D","DownEncoderBlock2D","DownEncoderBlock2D"],
         "in_channels":3,"latent_channels":4,"layers_per_block":2,"norm_num_groups":32,"out_channels":3,"sample_size":512,
         "up_block_types":["UpDecoderBlock2D","UpDecoderBlock2D","UpDecoderBlock2D","UpDecoderBlock2D"]}
        """;

    private const string Sd15Scheduler = """
        {"_class_name":"PNDMScheduler","_diffusers_version":"0.6.0","beta_end":0.012,"beta_schedule":"scaled_linear",
         "beta_start":0.00085,"num_train_timesteps":1000,"set_alpha_to_one":false,"skip_prk_steps":true,"steps_offset":1,
         "trained_betas":null,"clip_sample":false}
        """;

    // stabilityai/stable-diffusion-2-1 (768-v): OpenCLIP ViT-H/14 text encoder (23 of its 24 layers), v-prediction.
    private const string Sd21Unet = """
        {"_class_name":"UNet2DConditionModel","_diffusers_version":"0.10.0.dev0","act_fn":"silu","attention_head_dim":[5,10,20,20],
         "block_out_channels":[320,640,1280,1280],"center_input_sample":false,"cross_attention_dim":1024,
         "down_block_types":["CrossAttnDownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D","DownBlock2D"],
         "downsample_padding":1,"dual_cross_attention":false,"flip_sin_to_cos":true,"freq_shift":0,"in_channels":4,
         "layers_per_block":2,"mid_block_scale_factor":1,"norm_eps":1e-05,"norm_num_groups":32,"num_class_embeds":null,
         "only_cross_attention":false,"out_channels":4,"sample_size":96,
         "up_block_types":["UpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D","CrossAttnUpBlock2D"],
         "upcast_attention":true,"use_linear_projection":true}
        """;

    private const string Sd21TextEncoder = """
        {"architectures":["CLIPTextModel"],"attention_dropout":0.0,"bos_token_id":0,"dropout":0.0,"eos_token_id":2,
         "hidden_act":"gelu","hidden_size":1024,"initializer_factor":1.0,"initializer_range":0.02,"intermediate_size":4096,
         "layer_norm_eps":1e-05,"max_position_embeddings":77,"model_type":"clip_text_model","num_attention_heads":16,
         "num_hidden_layers":23,"pad_token_id":1,"projection_dim":512,"torch_dtype":"float32","vocab_size":49408}
        """;

    private const string Sd21Vae = """
        {"_class_name":"AutoencoderKL","_diffusers_version":"0.10.0.dev0","act_fn":"silu","block_out_channels":[128,256,512,512],
         "down_block_types":["DownEncoderBlock2D","DownEncoderBlock2D","DownEncoderBlock2D","DownEncoderBlock2D"],
         "in_channels":3,"latent_channels":4,"layers_per_block":2,"norm_num_groups":32,"out_channels":3,"sample_size":768,
         "up_block_types":["UpDecoderBlock2D","UpDecoderBlock2D","UpDecoderBlock2D","UpDecoderBlock2D"]}
        """;

    private const string Sd21Scheduler = """
        {"_class_name":"DDIMScheduler","_diffusers_version":"0.10.0.dev0","beta_end":0.012,"beta_schedule":"scaled_linear",
         "beta_start":0.00085,"clip_sample":false,"num_train_timesteps":1000,"prediction_type":"v_prediction",
         "set_alpha_to_one":false,"skip_prk_steps":true,"steps_offset":1,"trained_betas":null}
        """;

    // stabilityai/stable-diffusion-xl-base-1.0: the UNet, the first text encoder (CLIP ViT-L/14) and the VAE.
    private const string SdxlUnet = """
        {"_class_name":"UNet2DConditionModel","_diffusers_version":"0.19.0.dev0","act_fn":"silu","addition_embed_type":"text_time",
         "addition_embed_type_num_heads":64,"addition_time_embed_dim":256,"attention_head_dim":[5,10,20],
         "block_out_channels":[320,640,1280],"center_input_sample":false,"class_embed_type":null,"class_embeddings_concat":false,
         "conv_in_kernel":3,"conv_out_kernel":3,"cross_attention_dim":2048,"cross_attention_norm":null,
         "down_block_types":["DownBlock2D","CrossAttnDownBlock2D","CrossAttnDownBlock2D"],"downsample_padding":1,
         "dual_cross_attention":false,"encoder_hid_dim":null,"encoder_hid_dim_type":null,"flip_sin_to_cos":true,"freq_shift":0,
         "in_channels":4,"layers_per_block":2,"mid_block_only_cross_attention":null,"mid_block_scale_factor":1,
         "mid_block_type":"UNetMidBlock2DCrossAttn","norm_eps":1e-05,"norm_num_groups":32,"num_attention_heads":null,
         "num_class_embeds":null,"only_cross_attention":false,"out_channels":4,"projection_class_embeddings_input_dim":2816,
         "resnet_out_scale_factor":1.0,"resnet_skip_time_act":false,"resnet_time_scale_shift":"default","sample_size":128,
         "time_cond_proj_dim":null,"time_embedding_act_fn":null,"time_embedding_dim":null,"time_embedding_type":"positional",
         "timestep_post_act":null,"transformer_layers_per_block":[1,2,10],
         "up_block_types":["CrossAttnUpBlock2D","CrossAttnUpBlock2D","UpBlock2D"],"use_linear_projection":true}
        """;

    private const string SdxlTextEncoder = """
        {"architectures":["CLIPTextModel"],"attention_dropout":0.0,"bos_token_id":0,"dropout":0.0,"eos_token_id":2,
         "hidden_act":"quick_gelu","hidden_size":768,"initializer_factor":1.0,"initializer_range":0.02,"intermediate_size":3072,
         "layer_norm_eps":1e-05,"max_position_embeddings":77,"model_type":"clip_text_model","num_attention_heads":12,
         "num_hidden_layers":12,"pad_token_id":1,"projection_dim":768,"torch_dtype":"float16","vocab_size":49408}
        """;

    private const string SdxlVae = """
        {"_class_name":"AutoencoderKL","_diffusers_version":"0.20.0.dev0","act_fn":"silu","block_out_channels":[128,256,512,512],
         "down_block_types":["DownEncoderBlock2D","DownEncoderBlock2D","DownEncoderBlock2D","DownEncoderBlock2D"],
         "force_upcast":true,"in_channels":3,"latent_channels":4,"layers_per_block":2,"norm_num_groups":32,"out_channels":3,
         "sample_size":1024,"scaling_factor":0.13025,
         "up_block_types":["UpDecoderBlock2D","UpDecoderBlock2D","UpDecoderBlock2D","UpDecoderBlock2D"]}
        """;

    private const string SdxlScheduler = """
        {"_class_name":"EulerDiscreteScheduler","_diffusers_version":"0.19.0.dev0","beta_end":0.012,"beta_schedule":"scaled_linear",
         "beta_start":0.00085,"clip_sample":false,"interpolation_type":"linear","num_train_timesteps":1000,
         "prediction_type":"epsilon","sample_max_value":1.0,"set_alpha_to_one":false,"skip_prk_steps":true,"steps_offset":1,
         "timestep_spacing":"leading","trained_betas":null,"use_karras_sigmas":false}
        """;
}
