using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Pipelines;
using DreamBooth.Schedulers;
using DreamBooth.Tests.Models;
using DreamBooth.Tests.Models.Clip;
using DreamBooth.Tests.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Pipelines;

/// <summary>
/// A seeded random-weight Stable Diffusion model built in code (no fixtures): a tiny CLIP tokenizer (16 tokens),
/// a 2-layer text encoder of width 12, <see cref="TinyModels.Sd1Unet"/> and <see cref="TinyModels.Vae"/> (scale factor
/// 2), and an SD1.5-style DDIM scheduler config. Images of 16×16 pixels take milliseconds.
/// </summary>
internal static class TinyPipeline
{
    public const int Size = 16;

    public static SchedulerConfig SchedulerConfig => SchedulerConfig.Parse("""
        {"_class_name":"DDIMScheduler","beta_schedule":"scaled_linear","beta_start":0.00085,"beta_end":0.012,
         "num_train_timesteps":1000,"steps_offset":1,"set_alpha_to_one":false,"clip_sample":false,"prediction_type":"epsilon","skip_prk_steps":true}
        """u8, "tiny scheduler config");

    public static StableDiffusionModel Create(UNet2DConditionConfig? unetConfig = null, int textWidth = 12)
    {
        using var folder = TinyTokenizerFolder.Create(tokenizerConfig: """{"model_max_length": 16}""");
        var tokenizer = folder.Load();
        var clip = new CLIPTextConfig
        {
            VocabSize = tokenizer.VocabSize,
            HiddenSize = textWidth,
            IntermediateSize = 24,
            NumHiddenLayers = 2,
            NumAttentionHeads = 2,
            MaxPositionEmbeddings = 16,
            BosTokenId = tokenizer.BosTokenId,
            EosTokenId = tokenizer.EosTokenId,
        };
        var textEncoder = TinyClip.Randomize(new CLIPTextModel(clip), 1);
        var unet = TinyClip.Randomize(new UNet2DConditionModel(unetConfig ?? TinyModels.Sd1Unet), 2);
        var vae = TinyClip.Randomize(new AutoencoderKL(TinyModels.Vae), 3);
        textEncoder.eval();
        unet.eval();
        vae.eval();
        return new StableDiffusionModel(tokenizer, textEncoder, unet, vae, SchedulerConfig, "tiny");
    }

    /// <summary>A request for <see cref="Size"/>-pixel images with few steps.</summary>
    public static GenerationRequest Request(params string[] prompts) => new()
    {
        Prompts = prompts.Length == 0 ? ["a dog"] : prompts,
        Width = Size,
        Height = Size,
        Steps = 3,
        Seed = 7,
    };
}
