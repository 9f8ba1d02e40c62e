using DreamBooth.IO;
using DreamBooth.Models.Unet;
using DreamBooth.Tests.IO;
using DreamBooth.Training;
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
}
