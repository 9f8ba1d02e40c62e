using DreamBooth.IO;
using DreamBooth.Models.Unet;
using DreamBooth.Tests.IO;
using DreamBooth.Training;
using TorchSharp;
using FluentAssertions;
using Xunit;
using static DreamBooth.Tests.Training.TrainerTestKit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

public class DreamBoothTrainerTests
{
    [Fact]
    public void Full_run_writes_checkpoints_logs_and_a_loadable_model()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        var o = Options(dir.Path, output) with { ValidationPrompt = "a photo of sks dog on the beach", ValidationSteps = 2, NumValidationImages = 2 };
        var reports = new List<TrainingProgress>();
        var result = Train(o, progress: new SyncProgress(reports.Add));
        result.Steps.Should().Be(4);
        ClassImageGenerator.CountImages(o.ClassDataDir!).Should().Be(3);
        TrainingCheckpoint.List(output).Select(c => c.Step).Should().Equal(2, 4);
        File.Exists(Path.Combine(output, "logs", "train_log.csv")).Should().BeTrue();
        File.ReadAllLines(Path.Combine(output, "logs", "train_log.csv")).Should().HaveCount(5);
        File.Exists(Path.Combine(output, "logs", "loss_curve.png")).Should().BeTrue();
        result.ValidationSheets.Select(Path.GetFileName).Should().Equal("step-000002.png", "step-000004.png");
        reports.Where(r => r.Phase == TrainingPhase.Training).Select(r => r.Done).Should().Equal(1, 2, 3, 4);
        var folder = ModelFolder.Open(output);
        using var trained = UNet2DConditionModel.FromPretrained(folder["unet"]);
        using var original = UNet2DConditionModel.FromPretrained(Path.Combine(TinySd1, "unet"));
        trained.state_dict()["conv_in.weight"].equal(original.state_dict()["conv_in.weight"]).all().item<bool>().Should().BeFalse();
    }

    [Fact]
    public void Text_encoder_training_schedule_and_saved_dtype()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        // Linear schedule with 2 warm-up steps over 4 steps; --scale-lr multiplies by batch 1 × accumulation 2.
        var o = Options(dir.Path, output) with
        {
            TrainTextEncoder = true, TextEncoderLearningRate = 1e-5, LrScheduler = LrScheduleKind.Linear, LrWarmupSteps = 2, ScaleLr = true,
            GradientAccumulationSteps = 2, SaveDType = ScalarType.BFloat16, CheckpointingSteps = 10,
        };
        Train(o);
        var lrs = File.ReadAllLines(Path.Combine(output, "logs", "train_log.csv")).Skip(1).Select(l => double.Parse(l.Split(',')[5], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        lrs.Should().HaveCount(4);
        var expected = new[] { 0.0, 0.5, 1.0, 0.5 }.Select(f => f * 1e-4 * 2).ToList();
        for (int i = 0; i < 4; i++) lrs[i].Should().BeApproximately(expected[i], 1e-12, $"step {i + 1}");

        var folder = ModelFolder.Open(output);
        using var reader = folder["text_encoder"].OpenWeights();
        reader.Entries.Values.Should().OnlyContain(e => e.DType == "BF16");
        using var te = DreamBooth.Models.Clip.CLIPTextModel.FromPretrained(folder["text_encoder"]);
        using var baseTe = DreamBooth.Models.Clip.CLIPTextModel.FromPretrained(Path.Combine(TinySd1, "text_encoder"));
        var name = "text_model.encoder.layers.0.self_attn.q_proj.weight";
        (te.state_dict()[name] - baseTe.state_dict()[name]).abs().max().item<float>().Should().BeGreaterThan(1e-4f);
        Safetensors.Open(Path.Combine(output, "unet", "diffusion_pytorch_model.safetensors")).Entries.Values.Should().OnlyContain(e => e.DType == "BF16");
    }
}
