using DreamBooth.IO;
using DreamBooth.Tests.IO;
using DreamBooth.Tests.IO.Pickle;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Corpus;

/// <summary>
/// Bad command lines, run in-process through <c>CliApp.RunAsync</c> for the commands main has (<c>info</c>, with
/// <c>--model</c>, <c>--variant</c>, <c>--allow-pickle</c>): exit code 2, one "error:" line naming the flag or file, no file touched.
/// </summary>
public class CliCorpusTests
{
    /// <summary>A pipeline folder whose unet weights are a torch.save .bin (and nothing else), plus an output folder.</summary>
    private static string PickleModel(TempDir dir, byte[]? bin = null)
    {
        dir.Text("sd/model_index.json", """{"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}""");
        dir.Text("sd/unet/config.json", """{"_class_name": "UNet2DConditionModel"}""");
        using var w = ones(2, 2);
        File.WriteAllBytes(dir.File("sd", "unet", "diffusion_pytorch_model.bin"), bin ?? TorchPickleWriter.SaveZip(new Dictionary<string, Tensor> { ["w"] = w }));
        File.WriteAllText(dir.File("out", "keep.txt"), "untouched");
        return Path.Combine(dir.Path, "sd");
    }

    [Fact]
    public void Unknown_command() => WithDir(dir => Corpus.CliFails(dir, ["frobnicate"], "frobnicate"));

    [Fact]
    public void Unknown_flag() => WithDir(dir => Corpus.CliFails(dir, ["info", "--bogus"], "bogus", "(see --help)"));

    [Fact]
    public void Flag_without_its_value() => WithDir(dir => Corpus.CliFails(dir, ["info", "--model"], "model"));

    [Fact]
    public void Flag_that_needs_another() => WithDir(dir => Corpus.CliFails(dir, ["info", "--allow-pickle"], "--variant and --allow-pickle need --model"));

    [Fact]
    public void Empty_path() => WithDir(dir => Corpus.CliFails(dir, ["info", "--model", ""], "--model: the path is empty"));

    [Fact]
    public void Boolean_flag_given_a_value() => WithDir(dir => Corpus.CliFails(dir, ["info", "--model", PickleModel(dir), "--allow-pickle", "maybe"], "maybe"));

    [Fact]
    public void Model_folder_that_does_not_exist() => WithDir(dir =>
    {
        var missing = Path.Combine(dir.Path, "nope");
        Corpus.CliFails(dir, ["info", "--model", missing], $"error: {missing}: model folder not found");
    });

    [Fact]
    public void Model_that_is_a_weights_file() => WithDir(dir =>
    {
        var file = dir.Text("model.safetensors", "");
        Corpus.CliFails(dir, ["info", "--model", file], file, "is a weights file, expected a diffusers model folder");
    });

    [Fact]
    public void Pickle_weights_without_allow_pickle() => WithDir(dir =>
    {
        var model = PickleModel(dir);
        Corpus.CliFails(dir, ["info", "--model", model], Path.Combine(model, "unet", "diffusion_pytorch_model.bin"), "arbitrary code", "--allow-pickle");
    });

    [Fact]
    public void Hostile_pickle_with_allow_pickle() => WithDir(dir =>
    {
        var model = PickleModel(dir, TorchPickleWriter.Zip(new PickleBuilder().Proto(2).Global("builtins", "eval").Str("1").Op(0x85).Reduce().Stop().ToArray(), []));
        Corpus.CliFails(dir, ["info", "--model", model, "--allow-pickle"], "diffusion_pytorch_model.bin", "refusing pickle global 'builtins.eval'");
    });

    [Fact]
    public void Variant_that_is_a_path() => WithDir(dir =>
        Corpus.CliFails(dir, ["info", "--model", PickleModel(dir), "--variant", "../../etc"], "variant '../../etc' is not a valid variant name"));

    [Fact]
    public void Model_with_a_broken_config() => WithDir(dir =>
    {
        var model = PickleModel(dir);
        var config = dir.Text("sd/unet/config.json", "{\"_class_name\": ");
        Corpus.CliFails(dir, ["info", "--model", model, "--allow-pickle"], config, "not valid JSON");
    });

    [Fact]
    public void Allow_pickle_reads_the_bin_weights_and_reports_that_they_cannot_fill_the_config() => WithDir(dir =>
    {
        // The .bin is read (its 4 parameters are counted); the default UNet config needs far more, which info now reports.
        var model = PickleModel(dir);
        Corpus.CliFails(dir, ["info", "--model", model, "--allow-pickle"], "unet", "the weights hold 4");
    });

    [Theory]
    [InlineData("class-images", "--class-data-dir")]
    [InlineData("tiny-world samples", "-o")]
    [InlineData("train", "--class-data-dir")]
    [InlineData("identifiers", "--model")]
    public void An_empty_path_is_one_line_naming_the_flag(string command, string flag) => WithDir(dir =>
        Corpus.CliFails(dir, [.. command.Split(' '), flag, ""], $"{flag}: the path is empty"));

    public static TheoryData<string, string[]> UnwritableOutputs()
    {
        string model = DreamBooth.IO.ShippedModels.Find("tiny-world"), samples = DreamBooth.IO.ShippedModels.Samples();
        const string Nowhere = "/proc/dreambooth-nowhere"; // /proc takes no new files, not even from root
        return new()
        {
            { "--output", ["generate", "--model", model, "--prompt", "a dog", "--num-images", "1", "--steps", "1", "--seed", "1", "--output", Nowhere] },
            { "--output-dir", ["train", "--model", model, "--instance-data-dir", samples, "--instance-prompt", "a photo of wqx dog", "--max-train-steps", "1", "--output-dir", Nowhere] },
            { "--class-data-dir", ["train", "--model", model, "--instance-data-dir", samples, "--instance-prompt", "a photo of wqx dog", "--max-train-steps", "1",
                "--with-prior-preservation", "--class-prompt", "a photo of dog", "--class-data-dir", Nowhere, "--output-dir", "{tmp}/out"] },
            { "--class-data-dir", ["class-images", "--model", model, "--class-prompt", "a dog", "--num-class-images", "1", "--class-data-dir", Nowhere] },
            { "--output", ["tiny-world", "render", "--count", "1", "--output", Nowhere] },
            { "--output", ["tiny-world", "samples", "--output", Nowhere] },
            { "--output", ["tiny-world", "heldout", "--num-images", "1", "--output", Nowhere] },
            { "--output", ["demo", "--output", Nowhere] },
            { "--output", ["evaluate", "--generated", samples, "--output", Nowhere + "/metrics.json"] },
        };
    }

    [Theory]
    [MemberData(nameof(UnwritableOutputs))]
    public void An_unwritable_output_is_one_line_naming_the_flag_before_any_work(string flag, string[] args) => WithDir(dir =>
        Corpus.CliFails(dir, args.Select(a => a.Replace("{tmp}", dir.Path)).ToArray(), flag + " /proc/dreambooth-nowhere", "cannot write there"));

    [Theory]
    [InlineData("identifiers --seed -1", "--seed -1")]
    [InlineData("tiny-world render --output {tmp}/r --seed -2", "--seed -2")]
    [InlineData("tiny-world render --output {tmp}/r --count 2 --start 9223372036854775807", "--start 9223372036854775807")]
    public void Negative_seeds_and_overflowing_indices_are_refused(string command, string named) => WithDir(dir =>
        Corpus.CliFails(dir, command.Replace("{tmp}", dir.Path).Split(' '), named));

    [Fact]
    public void Samples_replace_different_photos_only_with_overwrite() => WithDir(dir =>
    {
        var output = Path.Combine(dir.Path, "s");
        Corpus.Cli("tiny-world", "samples", "--output", output, "--count", "2").Exit.Should().Be(0);
        Corpus.Cli("tiny-world", "samples", "--output", output, "--count", "2").Exit.Should().Be(0, "the same photos again are fine");
        var first = File.ReadAllBytes(Path.Combine(output, "01.png"));
        Corpus.CliFails(dir, ["tiny-world", "samples", "--output", output, "--count", "2", "--seed", "9"], "--output", "01.png exists with other content", "--overwrite");
        Corpus.Cli("tiny-world", "samples", "--output", output, "--count", "2", "--seed", "9", "--overwrite").Exit.Should().Be(0);
        File.ReadAllBytes(Path.Combine(output, "01.png")).Should().NotEqual(first);
        // A smaller set: the extra photo of the larger one would stay and be read as a subject photo.
        Corpus.CliFails(dir, ["tiny-world", "samples", "--output", output, "--count", "1", "--seed", "9"], "--output", "1 more photo(s) than --count 1", "--overwrite");
        Corpus.Cli("tiny-world", "samples", "--output", output, "--count", "1", "--seed", "9", "--overwrite").Exit.Should().Be(0);
        Directory.GetFiles(output, "*.png").Select(Path.GetFileName).Should().Equal("01.png");
        Corpus.CliFails(dir, ["tiny-world", "samples", "--output", output, "--seed", "-5"], "--seed -5");
    });

    [Fact]
    public void Evaluate_names_the_input_flag_and_keeps_an_existing_report() => WithDir(dir =>
    {
        var file = dir.Text("a-file", "x");
        Corpus.CliFails(dir, ["evaluate", "--generated", file], "--generated", "is a file, expected a folder");
        Corpus.CliFails(dir, ["evaluate", "--generated", Path.Combine(dir.Path, "missing")], "--generated", "folder not found");
        var report = dir.Text("m.json", "{}");
        Corpus.CliFails(dir, ["evaluate", "--generated", DreamBooth.IO.ShippedModels.Samples(), "--output", report], "--output", "already exists", "--overwrite");
    });

    [Fact]
    public void A_model_that_loads_passes_the_check() => WithDir(dir =>
    {
        var (exit, stderr) = Corpus.Cli("info", "--model", DreamBooth.IO.ShippedModels.Find("tiny-world"));
        exit.Should().Be(0, stderr);
        stderr.Should().BeEmpty();
    });

    [Theory]
    [InlineData("tokenizer/vocab.json", "{\"a\": ", "tokenizer")]
    [InlineData("tokenizer/merges.txt", "#version: 0.2\nonlyone\n", "tokenizer")]
    [InlineData("scheduler/scheduler_config.json", "{\"_class_name\": \"WarpScheduler\"}", "scheduler")]
    [InlineData("vae/config.json", "{\"_class_name\": \"AutoencoderKL\", \"block_out_channels\": [0]}", "vae")]
    [InlineData("text_encoder/config.json", "{\"hidden_size\": 4096, \"intermediate_size\": 16384, \"num_hidden_layers\": 48}", "text_encoder")]
    public void A_model_that_would_not_load_fails_info_in_one_line_naming_the_component(string file, string content, string component) => WithDir(dir =>
    {
        // A copy of the shipped model (a few MB of weights) with one file broken.
        var model = Path.Combine(dir.Path, "model");
        Folders.Copy(DreamBooth.IO.ShippedModels.Find("tiny-world"), model);
        File.WriteAllText(Path.Combine(model, file), content);
        Corpus.CliFails(dir, ["info", "--model", model], "--model", component + ": ");
    });

    [Theory]
    [InlineData("text_encoder", "max_position_embeddings", "2")]
    [InlineData("text_encoder", "vocab_size", "10")]
    [InlineData("unet", "cross_attention_dim", "16")]
    public void A_config_that_does_not_match_its_weights_fails_info(string component, string key, string value) => WithDir(dir =>
    {
        // Valid on its own, but the weights' shapes say otherwise: only loading them finds out (the tiny model is loaded).
        var model = Path.Combine(dir.Path, "model");
        Folders.Copy(DreamBooth.IO.ShippedModels.Find("tiny-world"), model);
        var configPath = Path.Combine(model, component, "config.json");
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config[key] = System.Text.Json.Nodes.JsonNode.Parse(value);
        File.WriteAllText(configPath, config.ToJsonString());
        Corpus.CliFails(dir, ["info", "--model", model], "--model", component + ": ");
    });

    private static void WithDir(Action<TempDir> test)
    {
        using var dir = new TempDir();
        test(dir);
    }
}
