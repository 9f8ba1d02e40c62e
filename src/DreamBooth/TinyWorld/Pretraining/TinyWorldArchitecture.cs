using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Schedulers;

namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>
/// The tiny world model's architecture: Stable Diffusion's three networks and noise schedule at tiny scale, as the
/// config records our loaders read. <see cref="WriteConfigs"/> writes them as diffusers / transformers
/// <c>config.json</c> files (with <c>_class_name</c> and <c>_diffusers_version</c>), so the folder loads with
/// <c>StableDiffusionPipeline.from_pretrained</c> as well as with our <c>FromPretrained</c>. Why each size was chosen is in
/// <c>models/tiny-world/README.md</c>.
/// </summary>
/// <param name="Vae">AutoencoderKL 64×64×3 → 16×16×4 (two downsamplers); its scaling factor is measured after stage 1.</param>
/// <param name="TextEncoder">CLIPTextModel over the world's vocabulary (vocab size and special ids from <see cref="TinyWorldVocabulary"/>).</param>
/// <param name="Unet">UNet2DConditionModel on 16×16×4 latents.</param>
/// <param name="Scheduler">The scheduler config saved with the model (also defines the training noise schedule).</param>
public sealed record TinyWorldArchitecture(AutoencoderKLConfig Vae, CLIPTextConfig TextEncoder, UNet2DConditionConfig Unet, SchedulerConfig Scheduler)
{
    /// <summary>The diffusers version written into the configs (the version our golden fixtures come from).</summary>
    public const string DiffusersVersion = "0.30.3";

    /// <summary>The transformers version written into the text encoder config.</summary>
    public const string TransformersVersion = "4.45.0";

    /// <summary>
    /// The noise schedule and sampler: DDIM with the cosine (<c>squaredcos_cap_v2</c>) schedule, v-prediction and trailing
    /// timesteps. The cosine schedule's last ᾱ is 2.4e-9 (terminal SNR ≈ 0, so sampling from pure noise matches training and
    /// very dark or bright scenes — night, snow — are reachable), which needs v-prediction (ε-prediction cannot recover x₀
    /// at SNR 0); trailing spacing starts sampling at t = 999.
    /// </summary>
    public static SchedulerConfig SchedulerDefaults { get; } = new()
    {
        ClassName = nameof(DDIMScheduler),
        NumTrainTimesteps = 1000,
        BetaStart = 0.00085,
        BetaEnd = 0.012,
        BetaSchedule = "squaredcos_cap_v2",
        PredictionType = "v_prediction",
        TimestepSpacing = "trailing",
        StepsOffset = 0,
        SetAlphaToOne = false,
        ClipSample = false,
        ClipSampleRange = 1.0,
        Thresholding = false,
        DynamicThresholdingRatio = 0.995,
        SampleMaxValue = 1.0,
        RescaleBetasZeroSnr = false,
        Source = "tiny-world scheduler",
    };

    /// <summary>The shipped model's sizes: 0.95M VAE, 0.49M text encoder and 5.93M UNet parameters (29.5 MB in float32).</summary>
    public static TinyWorldArchitecture Default(TinyWorldVocabulary vocabulary) => new(
        new AutoencoderKLConfig
        {
            BlockOutChannels = [32, 64, 64],
            DownBlockTypes = ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
            UpBlockTypes = ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
            LayersPerBlock = 1,
            LatentChannels = 4,
            NormNumGroups = 16,
            SampleSize = 64,
            ScalingFactor = 1.0,
        },
        Clip(vocabulary, hidden: 128, layers: 3, heads: 4, intermediate: 256),
        new UNet2DConditionConfig
        {
            SampleSize = 16,
            BlockOutChannels = [64, 128, 128],
            LayersPerBlock = 1,
            DownBlockTypes = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
            UpBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            CrossAttentionDim = 128,
            AttentionHeadDim = 4,
            NormNumGroups = 32,
        },
        SchedulerDefaults);

    /// <summary>A micro architecture with the same structure, for tests (seconds per step).</summary>
    public static TinyWorldArchitecture Micro(TinyWorldVocabulary vocabulary) => new(
        new AutoencoderKLConfig
        {
            BlockOutChannels = [8, 8, 16],
            DownBlockTypes = ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
            UpBlockTypes = ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
            LayersPerBlock = 1,
            LatentChannels = 4,
            NormNumGroups = 8,
            SampleSize = 64,
            ScalingFactor = 1.0,
        },
        Clip(vocabulary, hidden: 16, layers: 1, heads: 2, intermediate: 32),
        new UNet2DConditionConfig
        {
            SampleSize = 16,
            BlockOutChannels = [16, 16, 32],
            LayersPerBlock = 1,
            DownBlockTypes = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
            UpBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            CrossAttentionDim = 16,
            AttentionHeadDim = 2,
            NormNumGroups = 8,
        },
        SchedulerDefaults);

    /// <summary>Looks up an architecture by name: <c>default</c> or <c>micro</c>.</summary>
    public static TinyWorldArchitecture Named(string name, TinyWorldVocabulary vocabulary) => name switch
    {
        "default" => Default(vocabulary),
        "micro" => Micro(vocabulary),
        _ => throw new DreamBoothException($"--architecture: unknown architecture '{name}' (expected default or micro)"),
    };

    /// <summary>A CLIP text config for the world's vocabulary: SD1.x's quick_gelu, pad = eos, positions = the tokenizer's model_max_length.</summary>
    public static CLIPTextConfig Clip(TinyWorldVocabulary vocabulary, int hidden, int layers, int heads, int intermediate) => new()
    {
        VocabSize = vocabulary.VocabSize,
        HiddenSize = hidden,
        IntermediateSize = intermediate,
        ProjectionDim = hidden,
        NumHiddenLayers = layers,
        NumAttentionHeads = heads,
        MaxPositionEmbeddings = TinyWorldVocabulary.ModelMaxLength,
        HiddenAct = "quick_gelu",
        LayerNormEps = 1e-5,
        BosTokenId = vocabulary.BosTokenId,
        EosTokenId = vocabulary.EosTokenId,
        PadTokenId = vocabulary.EosTokenId,
        InitializerRange = 0.02,
        InitializerFactor = 1.0,
        Architectures = ["CLIPTextModel"],
        ModelType = "clip_text_model",
        TorchDtype = "float32",
    };

    /// <summary>
    /// Writes <c>vae/config.json</c>, <c>text_encoder/config.json</c>, <c>unet/config.json</c> and
    /// <c>scheduler/scheduler_config.json</c> under <paramref name="modelDir"/> (each atomically), with
    /// <paramref name="vaeScalingFactor"/> in the VAE config.
    /// </summary>
    public void WriteConfigs(string modelDir, double vaeScalingFactor)
    {
        WriteJson(Path.Combine(modelDir, "vae", "config.json"), Diffusers(Vae with { ScalingFactor = vaeScalingFactor }, nameof(AutoencoderKL)));
        var clip = ToJson(TextEncoder);
        clip["transformers_version"] = TransformersVersion;
        WriteJson(Path.Combine(modelDir, "text_encoder", "config.json"), clip);
        WriteJson(Path.Combine(modelDir, "unet", "config.json"), Diffusers(Unet, nameof(UNet2DConditionModel)));
        WriteJson(Path.Combine(modelDir, "scheduler", "scheduler_config.json"), SchedulerJson(Scheduler));
    }

    /// <summary>Writes <c>model_index.json</c> for a StableDiffusionPipeline with these components (no safety checker).</summary>
    public static void WriteModelIndex(string modelDir)
    {
        static JsonArray Spec(string? library, string? cls) => new(library is null ? null : JsonValue.Create(library), cls is null ? null : JsonValue.Create(cls));
        var index = new JsonObject
        {
            ["_class_name"] = "StableDiffusionPipeline",
            ["_diffusers_version"] = DiffusersVersion,
            ["feature_extractor"] = Spec(null, null),
            ["image_encoder"] = Spec(null, null),
            ["requires_safety_checker"] = false,
            ["safety_checker"] = Spec(null, null),
            ["scheduler"] = Spec("diffusers", nameof(DDIMScheduler)),
            ["text_encoder"] = Spec("transformers", nameof(CLIPTextModel)),
            ["tokenizer"] = Spec("transformers", "CLIPTokenizer"),
            ["unet"] = Spec("diffusers", nameof(UNet2DConditionModel)),
            ["vae"] = Spec("diffusers", nameof(AutoencoderKL)),
        };
        WriteJson(Path.Combine(modelDir, ModelIndex.FileName), index);
    }

    private static JsonObject Diffusers<T>(T config, string className)
    {
        var json = ToJson(config);
        json["_class_name"] = className;
        json["_diffusers_version"] = DiffusersVersion;
        return json;
    }

    // The scheduler record is the union of every scheduler's keys; write only DDIMScheduler's.
    private static JsonObject SchedulerJson(SchedulerConfig c) => new()
    {
        ["_class_name"] = c.ClassName,
        ["_diffusers_version"] = DiffusersVersion,
        ["beta_end"] = c.BetaEnd,
        ["beta_schedule"] = c.BetaSchedule,
        ["beta_start"] = c.BetaStart,
        ["clip_sample"] = c.ClipSample,
        ["clip_sample_range"] = c.ClipSampleRange,
        ["dynamic_thresholding_ratio"] = c.DynamicThresholdingRatio,
        ["num_train_timesteps"] = c.NumTrainTimesteps,
        ["prediction_type"] = c.PredictionType,
        ["rescale_betas_zero_snr"] = c.RescaleBetasZeroSnr,
        ["sample_max_value"] = c.SampleMaxValue,
        ["set_alpha_to_one"] = c.SetAlphaToOne,
        ["steps_offset"] = c.StepsOffset,
        ["thresholding"] = c.Thresholding,
        ["timestep_spacing"] = c.TimestepSpacing,
        ["trained_betas"] = null,
    };

    private static JsonObject ToJson<T>(T config) => (JsonObject)JsonSerializer.SerializeToNode(config, ConfigJson.Options)!;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes keys sorted (as diffusers' save_config does), indented, atomically.</summary>
    private static void WriteJson(string path, JsonObject json)
    {
        var sorted = new JsonObject();
        foreach (var (key, value) in json.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList())
        {
            json.Remove(key);
            sorted[key] = value;
        }
        AtomicFile.WriteAllText(path, sorted.ToJsonString(Indented) + "\n");
    }
}
