using DreamBooth.Cli;
using DreamBooth.IO;
using DreamBooth.Models.Unet;
using DreamBooth.Tests.IO;
using DreamBooth.Training;
using DreamBooth.Training.Lora;
using FluentAssertions;
using Xunit;
using static DreamBooth.Tests.Training.TrainerTestKit;

namespace DreamBooth.Tests.Cli;

/// <summary>`dreambooth train` and `dreambooth class-images` end to end on tiny-sd1, in process.</summary>
public class TrainCommandTests
{
    private static readonly CliServices Services = new(ImageSetImages.Loader, Sampler);

    private static (int Exit, string Errors) Run(params string[] args)
    {
        var previous = Console.Error;
        using var errors = new StringWriter();
        Console.SetError(errors);
        try
        {
            int exit = CliApp.RunAsync(args, Services).GetAwaiter().GetResult();
            return (exit, errors.ToString());
        }
        finally
        {
            Console.SetError(previous);
        }
    }

    private static string[] TrainArgs(string root, string output, params string[] extra) =>
    [
        "train", "--model", TinySd1, "--instance-data-dir", InstanceFolder(root), "--instance-prompt", "a photo of sks dog",
        "--output-dir", output, "--resolution", "64", "--train-batch-size", "1", "--seed", "7", .. extra,
    ];

    [Fact]
    [Trait("Category", "EndToEnd")]
    public void Train_with_prior_preservation_for_20_steps_writes_everything()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        var (exit, errors) = Run(TrainArgs(dir.Path, output, "--with-prior-preservation", "--class-prompt", "a photo of dog",
            "--num-class-images", "4", "--max-train-steps", "20", "--checkpointing-steps", "10", "--checkpoints-total-limit", "1",
            "--learning-rate", "5e-5", "--lr-warmup-steps", "0", "--validation-prompt", "a photo of sks dog in a bucket", "--validation-steps", "10",
            "--num-validation-images", "2"));
        exit.Should().Be(0, errors);
        ClassImageGenerator.CountImages(Path.Combine(output, "class_images")).Should().Be(4);
        TrainingCheckpoint.List(output).Select(c => c.Step).Should().Equal(20);
        File.ReadAllLines(Path.Combine(output, "logs", "train_log.csv")).Should().HaveCount(21);
        File.Exists(Path.Combine(output, "logs", "loss_curve.png")).Should().BeTrue();
        Directory.GetFiles(Path.Combine(output, "validation")).Select(Path.GetFileName).Should().BeEquivalentTo("step-000010.png", "step-000020.png");
        var folder = ModelFolder.Open(output);
        folder.Components.Keys.Should().BeEquivalentTo(ModelFolder.Open(TinySd1).Components.Keys);
        using var unet = UNet2DConditionModel.FromPretrained(folder["unet"]);
        File.ReadAllBytes(Path.Combine(output, "unet", "config.json")).Should().Equal(File.ReadAllBytes(Path.Combine(TinySd1, "unet", "config.json")));
        File.ReadAllBytes(Path.Combine(output, "text_encoder", "model.safetensors")).Should().Equal(File.ReadAllBytes(Path.Combine(TinySd1, "text_encoder", "model.safetensors")));
    }

    [Fact]
    [Trait("Category", "EndToEnd")]
    public void Train_lora_writes_a_diffusers_lora_file_that_applies_to_the_base_model()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        var (exit, errors) = Run(TrainArgs(dir.Path, output, "--with-prior-preservation", "--class-prompt", "a photo of dog",
            "--num-class-images", "2", "--max-train-steps", "20", "--checkpointing-steps", "10", "--lora", "--rank", "4", "--lora-alpha", "8",
            "--train-text-encoder", "--mixed-precision", "bf16", "--gradient-checkpointing", "--validation-prompt", "a sks dog", "--validation-steps", "20",
            "--num-validation-images", "1"));
        exit.Should().Be(0, errors);
        var lora = Path.Combine(output, LoraWeights.FileName);
        using (var reader = Safetensors.Open(lora))
        {
            reader.Entries.Keys.Should().Contain(k => k.StartsWith("unet.") && k.EndsWith(".lora.down.weight"));
            reader.Entries.Keys.Should().Contain(k => k.StartsWith("text_encoder.") && k.EndsWith(".lora_linear_layer.up.weight"));
        }
        File.Exists(Path.Combine(output, "checkpoint-10", LoraWeights.FileName)).Should().BeTrue();
        File.Exists(Path.Combine(output, "model_index.json")).Should().BeFalse();
        using var unet = UNet2DConditionModel.FromPretrained(Path.Combine(TinySd1, "unet"));
        using var te = DreamBooth.Models.Clip.CLIPTextModel.FromPretrained(Path.Combine(TinySd1, "text_encoder"));
        var applied = LoraWeights.Apply(unet, te, lora);
        applied.UnetLayers.Should().BeGreaterThan(0);
        applied.TextEncoderLayers.Should().BeGreaterThan(0);
    }

    [Fact]
    public void Bad_input_exits_with_code_2_and_one_line()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        var cases = new (string[] Args, string Message)[]
        {
            (TrainArgs(dir.Path, output, "--with-prior-preservation"), "*--with-prior-preservation needs --class-prompt*"),
            (TrainArgs(dir.Path, output, "--resolution", "36"), "*--resolution 36: must be a positive multiple of 8*"),
            (TrainArgs(dir.Path, output, "--mixed-precision", "fp16"), "*--mixed-precision fp16: not supported*"),
            (TrainArgs(dir.Path, output, "--lora", "--lora-alpha", "1e308"), "*--lora-alpha: 1E+308 is too large for rank 4: alpha / rank must be at most 1000*"),
            (TrainArgs(dir.Path, output, "--lora", "--lora-rank", "99999999"), "*--lora-rank 99999999: above the widest adapted layer of this model*"),
            (TrainArgs(dir.Path, output, "--resolution", "8000000"), "*--resolution 8000000 with --sample-batch-size * needs at least * of memory and * is available*"),
            (TrainArgs(dir.Path, output, "--lr-scheduler", "sawtooth"), "*--lr-scheduler: unknown schedule 'sawtooth'*"),
            (TrainArgs(dir.Path, output, "--dtype", "int8"), "*--dtype*"),
            (TrainArgs(dir.Path, output, "--no-such-flag"), "*no-such-flag*"),
            (["train", "--instance-data-dir", dir.Path], "*--pretrained-model-name-or-path (--model): required*"),
            (["class-images", "--model", TinySd1, "--class-data-dir", Path.Combine(dir.Path, "c")], "*--class-prompt: required*"),
        };
        foreach (var (args, message) in cases)
        {
            var (exit, errors) = Run(args);
            exit.Should().Be(CliApp.ExitBadInput, string.Join(" ", args));
            errors.Trim().Should().Match(message).And.NotContain("\n");
        }
        Directory.Exists(output).Should().BeFalse();
    }

    [Fact]
    public void Class_images_command_tops_up_the_folder()
    {
        using var dir = new TempDir();
        var classes = Path.Combine(dir.Path, "classes");
        var (exit, errors) = Run("class-images", "--model", TinySd1, "--class-data-dir", classes, "--class-prompt", "a photo of dog",
            "--num-class-images", "3", "--sample-batch-size", "2", "--seed", "5");
        exit.Should().Be(0, errors);
        ClassImageGenerator.CountImages(classes).Should().Be(3);
        var first = Directory.GetFiles(classes).Order().ToList();
        (exit, errors) = Run("class-images", "--model", TinySd1, "--class-data-dir", classes, "--class-prompt", "a photo of dog", "--num-class-images", "4", "--seed", "5");
        exit.Should().Be(0, errors);
        var second = Directory.GetFiles(classes).Order().ToList();
        second.Should().HaveCount(4).And.Contain(first);
        new FileInfo(second[3]).Name.Should().StartWith("00003-");
        DreamBooth.Data.ImageIO.Load(second[0]).shape.Should().Equal(3, 64, 64);
    }
}
