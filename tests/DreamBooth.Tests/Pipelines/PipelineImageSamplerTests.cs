using DreamBooth.Cli;
using DreamBooth.Data;
using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Pipelines;
using DreamBooth.Schedulers;
using DreamBooth.Tests.IO;
using DreamBooth.Tokenization;
using DreamBooth.Training;
using FluentAssertions;
using Xunit;
using static DreamBooth.Tests.Training.TrainerTestKit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Pipelines;

/// <summary>The trainer's sampler over the real pipeline (class images and validation with the production services).</summary>
public class PipelineImageSamplerTests
{
    [Fact]
    public void Image_k_is_the_pipeline_image_of_seed_k_for_any_seed_list()
    {
        var folder = ModelFolder.Open(TinySd1);
        using var unet = UNet2DConditionModel.FromPretrained(folder["unet"]);
        using var te = CLIPTextModel.FromPretrained(folder["text_encoder"]);
        using var vae = AutoencoderKL.FromPretrained(folder["vae"]);
        var tokenizer = ClipTokenizer.FromPretrained(folder["tokenizer"].Directory);
        var models = new SamplerModels(folder, unet, te, vae, tokenizer, 32, SamplerPurpose.ClassImages, BatchSize: 2);
        var sampler = new PipelineImageSampler(models) { Steps = 3 };

        using var images = sampler.Generate("a photo of dog", [5, 6, 11]);
        images.shape.Should().Equal(3, 3, 32, 32);
        images.dtype.Should().Be(ScalarType.Float32);
        (images.min().item<float>() >= 0 && images.max().item<float>() <= 1).Should().BeTrue();

        using var model = new StableDiffusionModel(tokenizer, te, unet, vae, SchedulerConfig.Read(folder["scheduler"].ConfigPath!), ownsModules: false);
        using var one = new StableDiffusionPipeline(model).Generate(new GenerationRequest
        {
            Prompts = ["a photo of dog"], Steps = 3, Width = 32, Height = 32, Seed = 11,
        });
        images[2].allclose(one.Images[0], rtol: 0, atol: 1e-5).Should().BeTrue("image k starts from the noise of seeds[k]");
        images[0].allclose(images[1]).Should().BeFalse();

        // The modules are borrowed: still usable afterwards.
        unet.parameters().First().numel().Should().BeGreaterThan(0);
    }

    [Fact]
    [Trait("Category", "EndToEnd")]
    public async Task Class_images_command_generates_with_the_production_services()
    {
        using var dir = new TempDir();
        var classDir = Path.Combine(dir.Path, "class");
        var previous = Console.Error;
        using var errors = new StringWriter();
        Console.SetError(errors);
        int exit;
        try
        {
            exit = await CliApp.RunAsync(["class-images", "--model", TinySd1, "--class-data-dir", classDir, "--class-prompt", "a photo of dog",
                "--num-class-images", "3", "--sample-batch-size", "2", "--resolution", "32", "--seed", "4"], CliServices.Default);
        }
        finally
        {
            Console.SetError(previous);
        }
        exit.Should().Be(0, errors.ToString());
        var files = Directory.GetFiles(classDir, "*.png");
        files.Should().HaveCount(3);
        var text = PngText.Get(PngText.Read(files.Order().First()), "parameters");
        var parameters = GenerationParameters.Parse(text!);
        parameters.Prompt.Should().Be("a photo of dog");
        parameters.Seed.Should().Be(4);
        parameters.Width.Should().Be(32);
        parameters.Height.Should().Be(32);
        // The settings the frozen model sampled with, as generate records them (class images follow the pipeline defaults).
        parameters.Steps.Should().Be(GenerationRequest.DefaultSteps);
        parameters.CfgScale.Should().Be(GenerationRequest.DefaultGuidanceScale);
        parameters.Sampler.Should().NotBeNullOrEmpty();
        parameters.Extra.Should().Contain(new KeyValuePair<string, string>("Model", Path.GetFileName(Path.TrimEndingDirectorySeparator(TinySd1))));
    }
}
