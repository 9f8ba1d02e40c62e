using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Schedulers;
using DreamBooth.Tests.IO;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Corpus;

/// <summary>
/// Broken configs through the loading paths users hit (<c>X.FromPretrained</c>, <c>ModelFolder.Open</c>,
/// <c>SchedulerFactory.FromPretrained</c>): wrong types, missing or null fields, unsupported architectures, unknown
/// pipeline and scheduler classes, hostile sizes and encodings.
/// </summary>
public class ConfigCorpusTests
{
    private const string UnetConfig = """
        {"_class_name": "UNet2DConditionModel", "block_out_channels": [16, 32], "layers_per_block": 1, "norm_num_groups": 8,
         "attention_head_dim": 2, "cross_attention_dim": 12,
         "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"]}
        """;

    private const string VaeConfig = """
        {"_class_name": "AutoencoderKL", "block_out_channels": [8, 16], "layers_per_block": 1, "norm_num_groups": 4, "latent_channels": 4,
         "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"], "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"]}
        """;

    private const string SchedulerConfigJson = """
        {"_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}
        """;

    /// <summary>A component folder with <paramref name="config"/> and a small (unused) weights file.</summary>
    private static string Component(TempDir dir, string name, string config, string configFile = "config.json")
    {
        var path = dir.Text($"{name}/{configFile}", config);
        if (configFile == "config.json")
        {
            using var w = ones(1);
            Safetensors.Save(dir.File(name, name.StartsWith("text_encoder") ? "model.safetensors" : "diffusion_pytorch_model.safetensors"), new Dictionary<string, Tensor> { ["w"] = w });
        }
        File.WriteAllText(dir.File("out", "keep.txt"), "untouched");
        return Path.GetDirectoryName(path)!;
    }

    private static string Patch(string json, string key, string value)
    {
        var o = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        o[key] = System.Text.Json.Nodes.JsonNode.Parse(value);
        return o.ToJsonString();
    }

    public static TheoryData<string, string, string, string[]> UnetCases => new()
    {
        { "wrong type: a string for a list", "block_out_channels", "\"32\"", ["key 'block_out_channels' has the wrong type (list of integers expected, found \"32\")"] },
        { "wrong type: a float in an integer list", "block_out_channels", "[16, 32.5]", ["key 'block_out_channels' has the wrong type", "entry 1 is 32.5"] },
        { "null for a required value", "norm_num_groups", "null", ["key 'norm_num_groups'", "a GroupNorm group count is required"] },
        { "unsupported down block type", "down_block_types", "[\"AttnDownBlock2D\", \"DownBlock2D\"]", ["key 'down_block_types'", "'AttnDownBlock2D' is not implemented"] },
        { "block lists of different lengths", "up_block_types", "[\"UpBlock2D\"]", ["key 'up_block_types'", "one entry per block_out_channels entry (2)"] },
        { "an integer too large for int32", "layers_per_block", "99999999999", ["key 'layers_per_block' has the wrong type"] },
    };

    [Theory]
    [MemberData(nameof(UnetCases))]
    public void Unet_config(string name, string key, string value, string[] mentions)
    {
        using var dir = new TempDir();
        var unet = Component(dir, "unet", Patch(UnetConfig, key, value));
        Corpus.FailsCase(name, dir, () => UNet2DConditionModel.FromPretrained(unet).Dispose(), [Path.Combine(unet, "config.json"), .. mentions]);
    }

    [Fact]
    public void Unet_config_claiming_an_enormous_model_is_refused_before_building_it()
    {
        using var dir = new TempDir();
        var unet = Component(dir, "unet", Patch(UnetConfig, "block_out_channels", "[65536, 131072]"));
        var allocated = new Allocated();
        Corpus.Fails(dir, allocated.Measure(() => UNet2DConditionModel.FromPretrained(unet).Dispose()), Path.Combine(unet, "config.json"),
            "the config describes a model of at least", "parameters but the weights hold 1", "refusing to build it");
        FluentAssertions.AssertionExtensions.Should(allocated.Bytes).BeLessThan(16 << 20);
    }

    [Fact]
    public void Text_encoder_config_claiming_an_enormous_model_is_refused_before_building_it()
    {
        using var dir = new TempDir();
        var te = Component(dir, "text_encoder", """{"architectures": ["CLIPTextModel"], "vocab_size": 2000000000, "hidden_size": 4096, "num_attention_heads": 32}""");
        Corpus.Fails(dir, () => CLIPTextModel.FromPretrained(te).Dispose(), Path.Combine(te, "config.json"), "the config describes a model of at least");
    }

    [Fact]
    public void Vae_config_with_an_unsupported_up_block()
    {
        using var dir = new TempDir();
        var vae = Component(dir, "vae", VaeConfig.Replace("\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"", "\"UpDecoderBlock2D\", \"AttnUpDecoderBlock2D\""));
        Corpus.Fails(dir, () => AutoencoderKL.FromPretrained(vae).Dispose(), Path.Combine(vae, "config.json"), "key 'up_block_types'", "only UpDecoderBlock2D is implemented");
    }

    [Fact]
    public void Text_encoder_config_with_an_unknown_activation()
    {
        using var dir = new TempDir();
        var te = Component(dir, "text_encoder", """{"architectures": ["CLIPTextModel"], "hidden_size": 16, "num_attention_heads": 2, "hidden_act": "relu6"}""");
        Corpus.Fails(dir, () => CLIPTextModel.FromPretrained(te).Dispose(), Path.Combine(te, "config.json"), "key 'hidden_act' is 'relu6'");
    }

    /// <summary>(case, config text, mentions) for a unet config.json that is not a usable JSON object at all.</summary>
    public static TheoryData<string, string, string[]> UnusableFiles => new()
    {
        { "a JSON list", "[1, 2]", ["expected a JSON object at the top level"] },
        { "not JSON", "{\"block_out_channels\": [16, 32", ["not valid JSON"] },
        { "nested 100 levels deep", "{\"x\": " + new string('[', 100) + new string(']', 100) + "}", ["nested deeper than 16 levels"] },
        { "a lone surrogate escape", "{\"_class_name\": \"UNet2DConditionModel\\udc00\"}", ["lone UTF-16 surrogate"] },
    };

    [Theory]
    [MemberData(nameof(UnusableFiles))]
    public void Config_file_that_is_not_a_usable_object(string name, string text, string[] mentions)
    {
        using var dir = new TempDir();
        var unet = Component(dir, "unet", text);
        Corpus.FailsCase(name, dir, () => UNet2DConditionModel.FromPretrained(unet).Dispose(), [Path.Combine(unet, "config.json"), .. mentions]);
    }

    [Fact]
    public void Config_file_that_is_not_utf8()
    {
        using var dir = new TempDir();
        var unet = Component(dir, "unet", UnetConfig);
        File.WriteAllBytes(Path.Combine(unet, "config.json"), [.. "{\"_class_name\": \""u8, 0xC3, 0x28, .. "\"}"u8]);
        Corpus.Fails(dir, () => UNet2DConditionModel.FromPretrained(unet).Dispose(), Path.Combine(unet, "config.json"), "not valid UTF-8 text");
    }

    [Fact]
    public void Enormous_config_file_is_refused_before_reading()
    {
        using var dir = new TempDir();
        var unet = Component(dir, "unet", UnetConfig);
        using (var fs = new FileStream(Path.Combine(unet, "config.json"), FileMode.Open)) fs.SetLength(2L << 30); // a sparse 2 GB file
        var allocated = new Allocated();
        Corpus.Fails(dir, allocated.Measure(() => UNet2DConditionModel.FromPretrained(unet).Dispose()), Path.Combine(unet, "config.json"), "2147483648 bytes is too large for a config file");
        FluentAssertions.AssertionExtensions.Should(allocated.Bytes).BeLessThan(1 << 20);
    }

    [Fact]
    public void Pipeline_of_an_unknown_class_without_a_unet()
    {
        using var dir = new TempDir();
        var index = dir.Text("flux/model_index.json", """
            {"_class_name": "FluxPipeline", "_diffusers_version": "0.30.0", "transformer": ["diffusers", "FluxTransformer2DModel"],
             "vae": ["diffusers", "AutoencoderKL"], "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"]}
            """);
        Component(dir, "flux/vae", VaeConfig);
        Corpus.Fails(dir, () => ModelFolder.Open(Path.Combine(dir.Path, "flux")), index, "pipeline 'FluxPipeline' is not supported: it has no unet",
            "transformer (FluxTransformer2DModel)");
    }

    [Fact]
    public void Pipeline_whose_unet_is_another_architecture()
    {
        using var dir = new TempDir();
        var index = dir.Text("svd/model_index.json", """
            {"_class_name": "StableVideoDiffusionPipeline", "unet": ["diffusers", "UNetSpatioTemporalConditionModel"]}
            """);
        Component(dir, "svd/unet", UnetConfig);
        Corpus.Fails(dir, () => ModelFolder.Open(Path.Combine(dir.Path, "svd")), index, "its unet is a UNetSpatioTemporalConditionModel", "only UNet2DConditionModel");
    }

    [Fact]
    public void Model_index_without_its_class_name()
    {
        using var dir = new TempDir();
        var index = dir.Text("sd/model_index.json", """{"unet": ["diffusers", "UNet2DConditionModel"]}""");
        Corpus.Fails(dir, () => ModelFolder.Open(Path.Combine(dir.Path, "sd")), index, "missing key '_class_name'");
    }

    public static TheoryData<string, string, string[]> SchedulerCases => new()
    {
        { "an unknown scheduler class", SchedulerConfigJson.Replace("DDIMScheduler", "LCMScheduler"), ["scheduler class 'LCMScheduler' is not supported"] },
        { "no class name", SchedulerConfigJson.Replace("\"_class_name\": \"DDIMScheduler\", ", ""), ["missing _class_name"] },
        { "a string for an integer", SchedulerConfigJson.Replace("1000", "\"1000\""), ["num_train_timesteps"] },
        { "two billion training timesteps", SchedulerConfigJson.Replace("1000", "2000000000"), ["num_train_timesteps must be between 1 and 100000, got 2000000000"] },
        { "beta_end outside [0, 1]", SchedulerConfigJson.Replace("0.012", "5"), ["beta_end 5 is not in [0, 1]"] },
        { "an unknown beta schedule", SchedulerConfigJson.Replace("scaled_linear", "cosine"), ["beta_schedule 'cosine' is not supported"] },
        { "an unknown prediction type", SchedulerConfigJson.Replace("}", ", \"prediction_type\": \"x0\"}"), ["prediction_type 'x0' is not supported"] },
        { "a repeated key", SchedulerConfigJson.Replace("}", ", \"beta_end\": 0.02}"), ["key 'beta_end' appears more than once"] },
    };

    [Theory]
    [MemberData(nameof(SchedulerCases))]
    public void Scheduler_config(string name, string json, string[] mentions)
    {
        using var dir = new TempDir();
        var scheduler = Component(dir, "scheduler", json, "scheduler_config.json");
        Corpus.FailsCase(name, dir, () => SchedulerFactory.FromPretrained(scheduler).Dispose(), [Path.Combine(scheduler, "scheduler_config.json"), .. mentions]);
    }
}
