using DreamBooth.IO;
using DreamBooth.Tests.IO;
using DreamBooth.Training;
using DreamBooth.Training.Lora;
using FluentAssertions;
using Xunit;
using static DreamBooth.Tests.Training.TrainerTestKit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

/// <summary>An interrupted run, resumed from a checkpoint, ends with exactly the weights of an uninterrupted run.</summary>
public class TrainerResumeTests
{
    public static TheoryData<string> Setups => new() { "full", "lora-te-bf16" };

    private static DreamBoothTrainingOptions Setup(string name, string root, string output)
    {
        // 2 instance + 3 class images, batch 1, accumulation 2: 3 batches per epoch, so optimizer steps straddle epoch ends.
        var o = Options(root, output) with { MaxTrainSteps = 4, CheckpointingSteps = 2, GradientAccumulationSteps = 2, RandomFlip = true };
        return name switch
        {
            "full" => o,
            _ => o with
            {
                Lora = true, LoraRank = 2, LoraAlpha = 3, TrainTextEncoder = true, TextEncoderLearningRate = 3e-4, ComputeDType = ScalarType.BFloat16,
                GradientCheckpointing = true, SnrGamma = 5, OffsetNoise = true, LearningRate = 1e-3,
            },
        };
    }

    // Every tensor of the trained result: the diffusers weights, or the LoRA file.
    private static Dictionary<string, Tensor> Result(string output, bool lora) => lora
        ? Safetensors.LoadAll(Path.Combine(output, LoraWeights.FileName))
        : Safetensors.LoadAll(Path.Combine(output, "unet", "diffusion_pytorch_model.safetensors"));

    // The CSV without the timing column.
    private static string[] LogWithoutTimes(string output) =>
        File.ReadAllLines(Path.Combine(output, "logs", "train_log.csv")).Select(l => l[..l.LastIndexOf(',')]).ToArray();

    [Theory]
    [MemberData(nameof(Setups))]
    public void Cancelled_and_resumed_run_ends_bit_identical(string setup)
    {
        using var dir = new TempDir();
        bool lora = setup != "full";
        var straight = Setup(setup, dir.Path, Path.Combine(dir.Path, "straight"));
        var straightResult = Train(straight);

        // Cancel right after step 3 (checkpoint-2 exists): a checkpoint is saved and the run stops.
        var interrupted = Setup(setup, dir.Path, Path.Combine(dir.Path, "interrupted"));
        using var cts = new CancellationTokenSource();
        var act = () => Train(interrupted, cts.Token, progress: new SyncProgress(p =>
        {
            if (p.Phase == TrainingPhase.Training && p.Done == 3) cts.Cancel();
        }));
        act.Should().Throw<OperationCanceledException>();
        TrainingCheckpoint.List(interrupted.OutputDir).Select(c => c.Step).Should().Equal(2, 3);
        File.Exists(Path.Combine(interrupted.OutputDir, lora ? LoraWeights.FileName : "model_index.json")).Should().BeFalse();

        var resumed = Train(interrupted with { ResumeFromCheckpoint = "latest" });
        resumed.Steps.Should().Be(4);
        resumed.FinalLoss.Should().Be(straightResult.FinalLoss, "the smoothed loss carries over a resume");

        var expected = Result(straight.OutputDir, lora);
        var actual = Result(interrupted.OutputDir, lora);
        actual.Keys.Should().BeEquivalentTo(expected.Keys);
        foreach (var (name, t) in expected) TensorEquality.Equal(actual[name], t).Should().BeTrue(name);
        LogWithoutTimes(interrupted.OutputDir).Should().Equal(LogWithoutTimes(straight.OutputDir));
    }

    [Fact]
    public void Cancelling_during_validation_saves_the_steps_trained_since_the_last_checkpoint()
    {
        using var dir = new TempDir();
        var o = Setup("full", dir.Path, Path.Combine(dir.Path, "out")) with
        {
            ValidationPrompt = "a photo of sks dog", ValidationSteps = 3, NumValidationImages = 1,
        };
        using var cts = new CancellationTokenSource();
        var act = () => Train(o, cts.Token, progress: new SyncProgress(p =>
        {
            if (p.Phase == TrainingPhase.Validation && p.Done == 3) cts.Cancel();
        }));
        act.Should().Throw<OperationCanceledException>();
        TrainingCheckpoint.List(o.OutputDir).Select(c => c.Step).Should().Equal(2, 3);
        Train(o with { ResumeFromCheckpoint = "latest" }).Steps.Should().Be(4);
    }

    [Fact]
    public void A_run_resumed_into_a_new_folder_from_a_checkpoint_elsewhere_can_be_resumed_again()
    {
        using var dir = new TempDir();
        var first = Setup("full", dir.Path, Path.Combine(dir.Path, "first")) with { MaxTrainSteps = 2 };
        Train(first);
        var moved = first with
        {
            OutputDir = Path.Combine(dir.Path, "moved"), MaxTrainSteps = 4, CheckpointingSteps = 1,
            ResumeFromCheckpoint = Path.Combine(first.OutputDir, "checkpoint-2"),
        };
        using var cts = new CancellationTokenSource();
        var act = () => Train(moved, cts.Token, progress: new SyncProgress(p =>
        {
            if (p.Phase == TrainingPhase.Training && p.Done == 3) cts.Cancel();
        }));
        act.Should().Throw<OperationCanceledException>();
        Train(moved with { ResumeFromCheckpoint = "latest" }).Steps.Should().Be(4);
    }

    [Fact]
    public void Resuming_from_an_older_checkpoint_replays_the_same_steps()
    {
        using var dir = new TempDir();
        var straight = Setup("full", dir.Path, Path.Combine(dir.Path, "straight"));
        Train(straight);
        var expected = Result(straight.OutputDir, false);
        var expectedLog = LogWithoutTimes(straight.OutputDir);

        // Resume the finished run from checkpoint-2: steps 3..4 run again, the log is cut back first, checkpoint-4 is replaced.
        Train(straight with { ResumeFromCheckpoint = Path.Combine(straight.OutputDir, "checkpoint-2") });
        var actual = Result(straight.OutputDir, false);
        foreach (var (name, t) in expected) TensorEquality.Equal(actual[name], t).Should().BeTrue(name);
        LogWithoutTimes(straight.OutputDir).Should().Equal(expectedLog);
        TrainingCheckpoint.List(straight.OutputDir).Select(c => c.Step).Should().Equal(2, 4);
    }
}
