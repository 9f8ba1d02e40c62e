using DreamBooth.IO;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.IO;

/// <summary>Opening diffusers pipeline folders and single component folders, and every way they can be wrong.</summary>
public class ModelFolderTests
{
    private const string DefaultIndex = """
        {
          "_class_name": "StableDiffusionPipeline",
          "_diffusers_version": "0.30.3",
          "feature_extractor": ["transformers", "CLIPImageProcessor"],
          "requires_safety_checker": false,
          "safety_checker": [null, null],
          "scheduler": ["diffusers", "DDIMScheduler"],
          "text_encoder": ["transformers", "CLIPTextModel"],
          "tokenizer": ["transformers", "CLIPTokenizer"],
          "unet": ["diffusers", "UNet2DConditionModel"],
          "vae": ["diffusers", "AutoencoderKL"]
        }
        """;

    private static void Weights(string path, params (string Name, long[] Shape)[] tensors)
    {
        var dict = tensors.ToDictionary(t => t.Name, t => ones(t.Shape));
        Safetensors.Save(path, dict, new Dictionary<string, string> { ["format"] = "pt" });
        foreach (var t in dict.Values) t.Dispose();
    }

    /// <summary>A small but complete pipeline folder: unet (10 params), vae (3), text_encoder (5), tokenizer, scheduler.</summary>
    private static string Pipeline(TempDir dir, string index = DefaultIndex)
    {
        dir.Text("sd/model_index.json", index);
        dir.Text("sd/unet/config.json", """{"_class_name": "UNet2DConditionModel", "in_channels": 4}""");
        Weights(dir.File("sd", "unet", "diffusion_pytorch_model.safetensors"), ("conv_in.weight", [2, 4]), ("conv_in.bias", [2]));
        dir.Text("sd/vae/config.json", """{"_class_name": "AutoencoderKL"}""");
        Weights(dir.File("sd", "vae", "diffusion_pytorch_model.safetensors"), ("w", [3]));
        dir.Text("sd/text_encoder/config.json", """{"architectures": ["CLIPTextModel"]}""");
        Weights(dir.File("sd", "text_encoder", "model.safetensors"), ("t", [5]));
        dir.Text("sd/tokenizer/vocab.json", "{}");
        dir.Text("sd/tokenizer/merges.txt", "#version: 0.2\n");
        dir.Text("sd/tokenizer/tokenizer_config.json", """{"tokenizer_class": "CLIPTokenizer"}""");
        dir.Text("sd/scheduler/scheduler_config.json", """{"_class_name": "DDIMScheduler"}""");
        return Path.Combine(dir.Path, "sd");
    }

    private static string Fails(string path, string startsWith, ModelFolderOptions? options = null)
    {
        var act = () => ModelFolder.Open(path, options);
        var message = act.Should().Throw<DreamBoothException>().Which.Message;
        message.Should().StartWith(startsWith + ": ").And.NotContain("\n");
        return message;
    }

    private sealed class Tiny : TorchSharp.torch.nn.Module
    {
        public readonly TorchSharp.Modules.Linear conv_in = TorchSharp.torch.nn.Linear(4, 2);

        public Tiny() : base(nameof(Tiny)) => RegisterComponents();
    }

    private sealed record UnetConfig
    {
        public required int InChannels { get; init; }
    }

    [Fact]
    public void Opens_every_component_of_a_pipeline_folder()
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        var folder = ModelFolder.Open(root);

        folder.Index!.ClassName.Should().Be("StableDiffusionPipeline");
        folder.Index.DiffusersVersion.Should().Be("0.30.3");
        folder.Index.Settings["requires_safety_checker"].GetBoolean().Should().BeFalse();
        folder.Index.Components["safety_checker"].IsPresent.Should().BeFalse();
        folder.Components.Keys.Should().BeEquivalentTo("unet", "vae", "text_encoder", "tokenizer", "scheduler");

        var unet = folder["unet"];
        unet.Kind.Should().Be(ComponentKind.Model);
        (unet.Library, unet.ClassName).Should().Be(("diffusers", "UNet2DConditionModel"));
        unet.ConfigPath.Should().Be(Path.Combine(root, "unet", "config.json"));
        unet.Weights!.Path.Should().Be(Path.Combine(root, "unet", "diffusion_pytorch_model.safetensors"));
        unet.Weights.IsSharded.Should().BeFalse();
        unet.Weights.ParameterCount.Should().Be(10);
        unet.ReadConfig<UnetConfig>().InChannels.Should().Be(4);

        folder["text_encoder"].Weights!.Path.Should().EndWith(Path.Combine("text_encoder", "model.safetensors"));
        folder["tokenizer"].Kind.Should().Be(ComponentKind.Tokenizer);
        folder["tokenizer"].ConfigPath.Should().EndWith("tokenizer_config.json");
        folder["tokenizer"].Weights.Should().BeNull();
        folder["scheduler"].Kind.Should().Be(ComponentKind.Scheduler);
        folder["scheduler"].ConfigPath.Should().EndWith("scheduler_config.json");
        folder.Has("vae").Should().BeTrue();
        folder.Has("text_encoder_2").Should().BeFalse();
        ((Action)(() => folder["scheduler"].OpenWeights())).Should().Throw<DreamBoothException>().WithMessage("*has no weights");
    }

    [Fact]
    public void Describe_summarizes_components_classes_dtypes_and_parameter_counts()
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        var d = ModelFolder.Open(root).Describe();
        d.PipelineClass.Should().Be("StableDiffusionPipeline");
        d.Components.Select(c => c.Name).Should().Equal("unet", "vae", "text_encoder", "tokenizer", "scheduler");
        d.Components[0].ParameterCount.Should().Be(10);
        d.Components[0].TensorCount.Should().Be(2);
        d.Components[0].ElementsByDType.Should().Equal(new Dictionary<string, long> { ["F32"] = 10 });
        d.ParameterCount.Should().Be(18);
        d.Unused.Should().Equal(new UnusedComponent("feature_extractor", "transformers", "CLIPImageProcessor"));

        var text = d.ToString();
        text.Should().StartWith($"{root}: StableDiffusionPipeline (diffusers 0.30.3), 18 parameters");
        text.Should().MatchRegex(@"\n  unet +diffusers\.UNet2DConditionModel +10 parameters in 2 tensors, F32, diffusion_pytorch_model\.safetensors");
        text.Should().MatchRegex(@"\n  tokenizer +transformers\.CLIPTokenizer +vocab\.json, merges\.txt, tokenizer_config\.json");
        text.Should().MatchRegex(@"\n  feature_extractor +transformers\.CLIPImageProcessor +not used");
    }

    [Fact]
    public void State_dict_loads_in_the_requested_float_type_and_keeps_integers()
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        using (var ids = tensor(new long[] { 1, 2 })) using (var w = full(3, 1.0f / 3))
            Safetensors.Save(Path.Combine(root, "vae", "diffusion_pytorch_model.safetensors"), new Dictionary<string, Tensor> { ["ids"] = ids, ["w"] = w });
        var vae = ModelFolder.Open(root)["vae"];
        foreach (var dtype in new[] { ScalarType.BFloat16, ScalarType.Float16, ScalarType.Float32 })
        {
            var sd = vae.LoadStateDict(dtype);
            sd["w"].dtype.Should().Be(dtype);
            sd["ids"].dtype.Should().Be(ScalarType.Int64);
            using (var expected = full(3, 1.0f / 3).to_type(dtype)) sd["w"].bytes.ToArray().Should().Equal(expected.bytes.ToArray());
            foreach (var t in sd.Values) t.Dispose();
        }
        ((Action)(() => vae.LoadStateDict(ScalarType.Int32))).Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Folder_missing_or_a_file()
    {
        using var dir = new TempDir();
        var missing = Path.Combine(dir.Path, "nope");
        Fails(missing, missing).Should().Be($"{missing}: model folder not found");
        var file = dir.Text("x.txt", "hi");
        Fails(file, file).Should().Contain("is a file, expected a diffusers model folder");
        var ckpt = dir.Text("v1-5-pruned.ckpt", "");
        Fails(ckpt, ckpt).Should().Contain("single-file checkpoint").And.Contain("from_single_file");
    }

    [Fact]
    public void Folder_that_is_not_a_model_says_what_it_found()
    {
        using var dir = new TempDir();
        var empty = dir.File("empty");
        Directory.CreateDirectory(empty);
        Fails(empty, empty).Should().Contain("not a model folder: no model_index.json");

        var parts = Pipeline(dir);
        File.Delete(Path.Combine(parts, "model_index.json"));
        Fails(parts, parts).Should().Contain("it has component folders unet, vae, text_encoder, tokenizer, scheduler");

        var single = dir.File("single");
        Directory.CreateDirectory(single);
        dir.Text("single/sd15.safetensors", "");
        Fails(single, single).Should().Contain("sd15.safetensors may be a single-file checkpoint");
    }

    [Theory]
    [InlineData("{\"_class_name\": ", "not valid JSON")]
    [InlineData("[\"StableDiffusionPipeline\"]", "expected a JSON object at the top level")]
    [InlineData("{\"unet\": [\"diffusers\", \"UNet2DConditionModel\"]}", "missing key '_class_name'")]
    [InlineData("{\"_class_name\": 5}", "key '_class_name' must be the pipeline class name")]
    [InlineData("{\"_class_name\": \"P\", \"_diffusers_version\": 0.3}", "key '_diffusers_version' must be a string")]
    [InlineData("{\"_class_name\": \"P\", \"unet\": [\"diffusers\"]}", "component 'unet' must be [\"library\", \"ClassName\"] or [null, null], found [\"diffusers\"]")]
    [InlineData("{\"_class_name\": \"P\", \"unet\": [1, 2]}", "component 'unet' must be")]
    [InlineData("{\"_class_name\": \"P\", \"unet\": [\"diffusers\", null]}", "component 'unet' must be")]
    [InlineData("{\"_class_name\": \"P\", \"unet\": [\"diffusers\", \"\"]}", "component 'unet' must be")]
    [InlineData("{\"_class_name\": \"P\", \"../evil\": [\"diffusers\", \"X\"]}", "component name '../evil' is not a plain folder name")]
    [InlineData("{\"_class_name\": \"P\", \"unet\": [\"a\", \"B\"], \"unet\": [\"a\", \"B\"]}", "key 'unet' appears twice")]
    [InlineData("{\"_class_name\": \"P\", \"x\": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}", "nested deeper than 16 levels")]
    public void Invalid_model_index(string json, string mention)
    {
        using var dir = new TempDir();
        var root = Pipeline(dir, json);
        Fails(root, Path.Combine(root, "model_index.json")).Should().Contain(mention);
    }

    [Fact]
    public void Listed_component_without_its_folder()
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        Directory.Delete(Path.Combine(root, "vae"), recursive: true);
        Fails(root, Path.Combine(root, "model_index.json")).Should()
            .Be($"{Path.Combine(root, "model_index.json")}: lists component 'vae' (diffusers AutoencoderKL) but folder {Path.Combine(root, "vae")} is missing");
    }

    [Theory]
    [InlineData("unet", "config.json", "no config.json (unet, UNet2DConditionModel)")]
    [InlineData("scheduler", "scheduler_config.json", "no scheduler_config.json (scheduler, DDIMScheduler)")]
    [InlineData("tokenizer", "merges.txt", "no merges.txt (tokenizer, CLIPTokenizer)")]
    [InlineData("tokenizer", "vocab.json", "no vocab.json (tokenizer, CLIPTokenizer)")]
    public void Component_folder_without_its_config(string component, string file, string mention)
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        File.Delete(Path.Combine(root, component, file));
        Fails(root, Path.Combine(root, component)).Should().Be($"{Path.Combine(root, component)}: {mention}");
    }

    [Theory]
    [InlineData("unet/config.json", "{\"in_channels\": ", "not valid JSON")]
    [InlineData("unet/config.json", "[4]", "expected a JSON object at the top level")]
    [InlineData("scheduler/scheduler_config.json", "{,}", "not valid JSON")]
    [InlineData("tokenizer/tokenizer_config.json", "\"CLIPTokenizer\"", "expected a JSON object at the top level")]
    public void Component_config_that_is_not_a_json_object(string file, string content, string mention)
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        var path = dir.Text("sd/" + file, content);
        Fails(root, path).Should().Contain(mention);
    }

    [Fact]
    public void Config_with_a_wrong_field_type_through_the_folder_api()
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        var path = dir.Text("sd/unet/config.json", """{"_class_name": "UNet2DConditionModel", "in_channels": "4"}""");
        var unet = ModelFolder.Open(root)["unet"];
        ((Action)(() => unet.ReadConfig<UnetConfig>())).Should().Throw<DreamBoothException>()
            .WithMessage($"{path}: key 'in_channels' has the wrong type (integer expected, found \"4\")");
    }

    [Fact]
    public void Component_folder_without_weights()
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        var unet = Path.Combine(root, "unet");
        File.Delete(Path.Combine(unet, "diffusion_pytorch_model.safetensors"));
        // A temporary file left by an interrupted atomic write is not weights.
        File.WriteAllText(Path.Combine(unet, ".diffusion_pytorch_model.safetensors.1.abc" + AtomicFile.TempSuffix), "");
        Fails(root, unet).Should().Be($"{unet}: no weights file (diffusion_pytorch_model.safetensors expected)");

        File.WriteAllText(Path.Combine(unet, "diffusion_flax_model.msgpack"), "");
        Fails(root, unet).Should().Be($"{unet}: only .safetensors weights are supported, found diffusion_flax_model.msgpack");

        File.Delete(Path.Combine(unet, "diffusion_flax_model.msgpack"));
        File.WriteAllText(Path.Combine(unet, "unet.safetensors"), "");
        Fails(root, unet).Should().Contain("found unet.safetensors, but weights must use the diffusers/transformers file names");
    }

    [Theory]
    [InlineData("unet", "diffusion_pytorch_model.bin")]
    [InlineData("text_encoder", "pytorch_model.bin")]
    [InlineData("unet", "model.ckpt")]
    [InlineData("vae", "vae.pt")]
    [InlineData("vae", "weights.pth")]
    public void Pickle_weights_are_refused_with_how_to_convert(string component, string file)
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        var folder = Path.Combine(root, component);
        foreach (var f in Directory.GetFiles(folder, "*.safetensors")) File.Delete(f);
        var pickle = Path.Combine(folder, file);
        File.WriteAllText(pickle, "not really a pickle");
        Fails(root, pickle).Should().Contain("refusing to load a pickle checkpoint").And.Contain("arbitrary code")
            .And.Contain("save_pretrained(out, safe_serialization=True)").And.Contain("dreambooth convert");
    }

    [Fact]
    public void Safetensors_are_preferred_over_pickle_files_beside_them()
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        File.WriteAllText(Path.Combine(root, "unet", "diffusion_pytorch_model.bin"), "never read");
        ModelFolder.Open(root)["unet"].Weights!.Path.Should().EndWith("diffusion_pytorch_model.safetensors");
    }

    [Fact]
    public void Truncated_weights_fail_at_open_with_the_safetensors_error()
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        var weights = Path.Combine(root, "unet", "diffusion_pytorch_model.safetensors");
        using (var fs = new FileStream(weights, FileMode.Open)) fs.SetLength(fs.Length - 4);
        Fails(root, weights).Should().Contain("not a valid safetensors file: tensor 'conv_in.weight'").And.Contain("truncated?");
    }

    [Fact]
    public void Variants_are_loaded_only_when_asked_for_and_other_components_fall_back_to_default_files()
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        var unet = Path.Combine(root, "unet");
        using (var w = ones(new long[] { 2, 4 }, ScalarType.Float16)) using (var b = ones(new long[] { 2 }, ScalarType.Float16))
            Safetensors.Save(Path.Combine(unet, "diffusion_pytorch_model.fp16.safetensors"), new Dictionary<string, Tensor> { ["conv_in.weight"] = w, ["conv_in.bias"] = b });

        ModelFolder.Open(root)["unet"].Weights!.ElementsByDType.Keys.Should().Equal("F32");
        var fp16 = ModelFolder.Open(root, new ModelFolderOptions("fp16"));
        fp16["unet"].Weights!.Variant.Should().Be("fp16");
        fp16["unet"].Weights!.ElementsByDType.Keys.Should().Equal("F16");
        fp16["vae"].Weights!.Variant.Should().BeNull("the vae has no fp16 files, so its default files are used, as in diffusers");
        fp16["vae"].Weights!.Path.Should().EndWith("diffusion_pytorch_model.safetensors");
        fp16.Describe().ToString().Should().Contain("variant fp16").And.Contain("diffusion_pytorch_model.fp16.safetensors");

        // Alone, the unet folder must have the default files unless the variant is asked for.
        File.Delete(Path.Combine(unet, "diffusion_pytorch_model.safetensors"));
        Fails(root, unet).Should().Be($"{unet}: no diffusion_pytorch_model.safetensors, only variant weights (fp16); ask for variant 'fp16'");
        ModelComponent.Open(unet, new ModelFolderOptions("fp16")).Weights!.Variant.Should().Be("fp16");
    }

    [Fact]
    public void Missing_variant_is_an_error_when_no_component_has_it_or_for_a_single_component()
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        Fails(root, root, new ModelFolderOptions("fp16")).Should()
            .Be($"{root}: no component has 'fp16' variant weights (e.g. unet/diffusion_pytorch_model.fp16.safetensors)");
        var te = Path.Combine(root, "text_encoder");
        Fails(te, te, new ModelFolderOptions("fp16")).Should()
            .Be($"{te}: no 'fp16' variant weights (model.fp16.safetensors); the folder has model.safetensors, loaded when no variant is asked for");
        ((Action)(() => ModelFolder.Open(root, new ModelFolderOptions("../x")))).Should().Throw<DreamBoothException>()
            .WithMessage("variant '../x' is not a valid variant name*");
    }

    [Fact]
    public void Sharded_component_weights_load_from_every_shard()
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        var unet = Path.Combine(root, "unet");
        File.Delete(Path.Combine(unet, "diffusion_pytorch_model.safetensors"));
        Weights(Path.Combine(unet, "diffusion_pytorch_model.fp16-00001-of-00002.safetensors"), ("conv_in.weight", [2, 4]));
        Weights(Path.Combine(unet, "diffusion_pytorch_model.fp16-00002-of-00002.safetensors"), ("conv_in.bias", [2]));
        dir.Text("sd/unet/diffusion_pytorch_model.safetensors.index.fp16.json", """
            {"metadata": {"total_size": 40}, "weight_map": {
              "conv_in.bias": "diffusion_pytorch_model.fp16-00002-of-00002.safetensors",
              "conv_in.weight": "diffusion_pytorch_model.fp16-00001-of-00002.safetensors"}}
            """);
        Fails(root, unet).Should().Contain("only variant weights (fp16)");

        var c = ModelFolder.Open(root, new ModelFolderOptions("fp16"))["unet"];
        c.Weights!.IsSharded.Should().BeTrue();
        c.Weights.Files.Should().HaveCount(2);
        c.Weights.ParameterCount.Should().Be(10);
        var sd = c.LoadStateDict();
        sd.Keys.Should().BeEquivalentTo("conv_in.weight", "conv_in.bias");
        foreach (var t in sd.Values) t.Dispose();

        // The way models load: WeightLoader over the reader, strict across all shards.
        using var module = new Tiny();
        using (var weights = c.OpenWeights()) WeightLoader.Load(module, weights);
        module.conv_in.weight!.sum().item<float>().Should().Be(8);
        module.conv_in.bias!.sum().item<float>().Should().Be(2);
        ModelFolder.Open(root, new ModelFolderOptions("fp16")).Describe().ToString()
            .Should().Contain("diffusion_pytorch_model.fp16-00001-of-00002.safetensors, diffusion_pytorch_model.fp16-00002-of-00002.safetensors");
    }

    [Fact]
    public void Asking_for_a_component_the_model_does_not_have()
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        var folder = ModelFolder.Open(root);
        ((Action)(() => _ = folder["safety_checker"])).Should().Throw<DreamBoothException>()
            .WithMessage($"{root}: the model has no 'safety_checker' (model_index.json lists it as [null, null]; components: *");
        ((Action)(() => _ = folder["feature_extractor"])).Should().Throw<DreamBoothException>()
            .WithMessage($"{root}: component 'feature_extractor' (transformers CLIPImageProcessor) is not one this project loads*");
        ((Action)(() => _ = folder["text_encoder_2"])).Should().Throw<DreamBoothException>()
            .WithMessage($"{root}: the model has no 'text_encoder_2' component (components: unet, vae, text_encoder, tokenizer, scheduler)");
    }

    [Fact]
    public void A_folder_that_is_one_component_opens_alone()
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        var unetDir = Path.Combine(root, "unet");
        var single = ModelFolder.Open(unetDir + Path.DirectorySeparatorChar);
        single.Index.Should().BeNull();
        single.Components.Keys.Should().Equal("unet");
        single["unet"].ClassName.Should().Be("UNet2DConditionModel");
        ((Action)(() => _ = single["vae"])).Should().Throw<DreamBoothException>().WithMessage("*is a single unet component, not a pipeline with a 'vae'");
        single.Describe().ToString().Should().StartWith($"{unetDir}: single component, 10 parameters");

        ModelFolder.Open(Path.Combine(root, "scheduler")).Components.Keys.Should().Equal("scheduler");
        ModelFolder.Open(Path.Combine(root, "tokenizer"))["tokenizer"].ClassName.Should().Be("CLIPTokenizer");
        ((Action)(() => ModelComponent.Open(root))).Should().Throw<DreamBoothException>().WithMessage($"{root}: is a pipeline folder*");
        ((Action)(() => ModelComponent.Open(Path.Combine(root, "nope")))).Should().Throw<DreamBoothException>().WithMessage("*component folder not found");
    }

    [Fact]
    public void A_single_component_is_named_by_its_class_when_the_folder_name_says_nothing()
    {
        using var dir = new TempDir();
        var root = Pipeline(dir);
        Directory.Move(Path.Combine(root, "unet"), Path.Combine(dir.Path, "my-unet"));
        Directory.Move(Path.Combine(root, "text_encoder"), Path.Combine(dir.Path, "clip"));
        ModelComponent.Open(Path.Combine(dir.Path, "my-unet")).Name.Should().Be("unet");
        var clip = ModelComponent.Open(Path.Combine(dir.Path, "clip"));
        (clip.Name, clip.Library, clip.ClassName).Should().Be(("text_encoder", "transformers", "CLIPTextModel"));
        clip.Weights!.Path.Should().EndWith("model.safetensors");
    }
}
