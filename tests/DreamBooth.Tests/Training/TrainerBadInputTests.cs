using DreamBooth.IO;
using DreamBooth.Tests.IO;
using DreamBooth.Training;
using FluentAssertions;
using Xunit;
using static DreamBooth.Tests.Training.TrainerTestKit;

namespace DreamBooth.Tests.Training;

/// <summary>Bad input: one-line errors that name the flag or file, and nothing already written is lost.</summary>
public class TrainerBadInputTests
{
    private static void ShouldFail(Action act, string message)
    {
        var e = act.Should().Throw<DreamBoothException>().Which;
        e.Message.Should().Match(message);
        e.Message.Should().NotContain("\n");
    }

    // Every file under a folder with its bytes, to show nothing changed.
    private static Dictionary<string, byte[]> Snapshot(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);

    private static void ShouldBeUnchanged(string dir, Dictionary<string, byte[]> before)
    {
        var after = Snapshot(dir);
        after.Keys.Should().BeEquivalentTo(before.Keys);
        foreach (var (f, bytes) in before) after[f].Should().Equal(bytes, f);
    }

    [Fact]
    public void Option_errors_come_before_anything_is_written()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        var o = Options(dir.Path, output);
        ShouldFail(() => Train(o with { ClassPrompt = null }), "--with-prior-preservation needs --class-prompt*");
        ShouldFail(() => Train(o with { Resolution = 36 }), "--resolution 36: must be a positive multiple of 8");
        ShouldFail(() => Train(o with { Seed = -1 }), "--seed -1: must be in *");
        ShouldFail(() => Train(o with { LearningRate = 1e39 }), "--learning-rate 1E+39: must be in (0, 1E+30]");
        ShouldFail(() => Train(o with { GradientAccumulationSteps = 0 }), "--gradient-accumulation-steps 0*");
        ShouldFail(() => Train(o with { Lora = true, LoraRank = 0 }), "--lora-rank: 0*");
        ShouldFail(() => Train(o with { ModelPath = Path.Combine(dir.Path, "nope") }), "*model folder not found*");
        var photos = Snapshot(o.InstanceDataDir);
        ShouldFail(() => Train(o with { ClassDataDir = o.InstanceDataDir }), "--class-data-dir *: overlaps --instance-data-dir *");
        ShouldFail(() => Train(o with { ClassDataDir = Path.Combine(o.InstanceDataDir, "class") }), "--class-data-dir *: overlaps --instance-data-dir *");
        ShouldBeUnchanged(o.InstanceDataDir, photos);
        Directory.Exists(output).Should().BeFalse();
        Directory.Exists(o.ClassDataDir).Should().BeFalse();
    }

    [Fact]
    public void Instance_prompt_without_the_identifier_is_a_warning()
    {
        var noId = InstancePromptCheck.Warnings(["a photo of dog"], "a photo of dog", null, null);
        noId.Should().ContainSingle().Which.Should().Contain("has no identifier");
        InstancePromptCheck.Warnings(["a photo of sks dog"], "a photo of dog", null, null).Should().BeEmpty();
        InstancePromptCheck.Warnings(["a photo of a dog"], null, "sks", null).Should().ContainSingle().Which.Should().Contain("does not contain the identifier 'sks'");
        InstancePromptCheck.Warnings(["a [V] dog"], null, "[V]", null).Should().BeEmpty();

        using var dir = new TempDir();
        var warnings = new List<string>();
        var o = Options(dir.Path, Path.Combine(dir.Path, "out")) with { InstancePrompt = "a photo of dog", MaxTrainSteps = 1 };
        Train(o, warnings: warnings);
        warnings.Should().Contain(w => w.Contains("has no identifier"));
    }

    [Fact]
    public void Output_folder_of_another_run_or_with_foreign_files_is_refused()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        var o = Options(dir.Path, output) with { MaxTrainSteps = 2, CheckpointingSteps = 1 };
        Train(o);
        var before = Snapshot(output);

        ShouldFail(() => Train(o with { Seed = 99 }), "--output-dir *: belongs to a different training run (--seed: '1234' in the output folder, '99' now)");
        ShouldFail(() => Train(o with { Lora = true, ResumeFromCheckpoint = "latest" }), "*different training run*--lora*");
        ShouldFail(() => Train(o), "*already holds the trained model of this run, which a new run would replace*--resume-from-checkpoint latest with a higher --max-train-steps*");
        ShouldBeUnchanged(output, before);
        // Checkpoints without a finished model (the model removed): the advice is to continue the run.
        File.Delete(Path.Combine(output, "model_index.json"));
        ShouldFail(() => Train(o), "*already holds checkpoints of this run; continue it with --resume-from-checkpoint latest*");

        var foreign = Path.Combine(dir.Path, "foreign");
        Directory.CreateDirectory(foreign);
        File.WriteAllText(Path.Combine(foreign, "notes.txt"), "mine");
        ShouldFail(() => Train(o with { OutputDir = foreign }), "--output-dir *: is not empty and holds no training run of this tool*");
        File.ReadAllText(Path.Combine(foreign, "notes.txt")).Should().Be("mine");
        Directory.EnumerateFileSystemEntries(foreign).Should().HaveCount(1);
    }

    [Fact]
    public void Checkpoint_of_another_model_is_refused()
    {
        using var dir = new TempDir();
        var o = Options(dir.Path, Path.Combine(dir.Path, "a")) with { MaxTrainSteps = 2, CheckpointingSteps = 2 };
        Train(o);

        // The same architecture with other weights: a copy of tiny-sd1 whose UNet is the first run's trained UNet.
        var other = Path.Combine(dir.Path, "other-model");
        Folders.Copy(TinySd1, other);
        File.Copy(Path.Combine(o.OutputDir, "unet", "diffusion_pytorch_model.safetensors"), Path.Combine(other, "unet", "diffusion_pytorch_model.safetensors"), overwrite: true);

        var b = o with { ModelPath = other, OutputDir = Path.Combine(dir.Path, "b"), ResumeFromCheckpoint = Path.Combine(o.OutputDir, "checkpoint-2") };
        ShouldFail(() => Train(b), "*checkpoint-2: belongs to a different training run (model: *");
    }

    [Fact]
    public void Non_finite_loss_stops_and_keeps_the_last_good_checkpoint()
    {
        using var dir = new TempDir();
        // An absurd learning rate: step 1 moves every weight by ~1e30, so step 2's loss is not finite.
        var o = Options(dir.Path, Path.Combine(dir.Path, "out")) with { LearningRate = 1e30, MaxTrainSteps = 4, CheckpointingSteps = 1 };
        ShouldFail(() => Train(o), "* became * at step 2 (epoch *); stopped without saving, the last good checkpoint is *checkpoint-1; try a lower --learning-rate*");
        TrainingCheckpoint.List(o.OutputDir).Select(c => c.Step).Should().Equal(1);
        var loaded = TrainingCheckpoint.Load(Path.Combine(o.OutputDir, "checkpoint-1"));
        loaded.Step.Should().Be(1);
        File.Exists(Path.Combine(o.OutputDir, "model_index.json")).Should().BeFalse();
        File.Exists(Path.Combine(o.OutputDir, "logs", "loss_curve.png")).Should().BeTrue();
    }

    [Fact]
    public void A_finished_run_is_not_replaced_by_training_again()
    {
        using var dir = new TempDir();
        // No checkpoint (checkpointing every 10 steps, 2 steps run): only the trained model shows the run finished.
        var o = Options(dir.Path, Path.Combine(dir.Path, "out")) with { MaxTrainSteps = 2, CheckpointingSteps = 10 };
        Train(o);
        File.Exists(Path.Combine(o.OutputDir, "model_index.json")).Should().BeTrue();
        var before = Snapshot(o.OutputDir);
        ShouldFail(() => Train(o), "--output-dir *: already holds the trained model of this run, which a new run would replace*");
        ShouldFail(() => Train(o with { LearningRate = 2e-4 }), "*already holds the trained model*");
        ShouldBeUnchanged(o.OutputDir, before);
    }

    [Fact]
    public void A_run_that_saved_nothing_does_not_block_a_retry_with_other_settings()
    {
        using var dir = new TempDir();
        // Step 2's loss is not finite and no checkpoint was due: the folder holds the manifest and logs only.
        var o = Options(dir.Path, Path.Combine(dir.Path, "out")) with { LearningRate = 1e30, MaxTrainSteps = 4, CheckpointingSteps = 10 };
        ShouldFail(() => Train(o), "* became * at step 2*");
        File.Exists(Path.Combine(o.OutputDir, RunManifest.FileName)).Should().BeTrue();
        TrainingCheckpoint.List(o.OutputDir).Should().BeEmpty();
        var result = Train(o with { LearningRate = 1e-4, Seed = 99 });
        result.Should().NotBeNull();
        File.Exists(Path.Combine(o.OutputDir, "model_index.json")).Should().BeTrue();
        RunManifest.Read(o.OutputDir)!.Values["--seed"].Should().Be("99");
    }

    private sealed class FailingValidation(int resolution) : IImageSampler
    {
        private readonly FakeSampler _classes = new(resolution);

        public TorchSharp.torch.Tensor Generate(string prompt, IReadOnlyList<long> seeds, CancellationToken cancellationToken = default) =>
            prompt.Contains("beach") ? throw new DreamBoothException("sampling produced non-finite values") : _classes.Generate(prompt, seeds, cancellationToken);
    }

    /// <summary>Cancels the run the first time it is asked for a validation image, as a Ctrl-C during validation does.</summary>
    private sealed class CancelAtValidation(int resolution, CancellationTokenSource cts) : IImageSampler
    {
        private readonly FakeSampler _images = new(resolution);

        public TorchSharp.torch.Tensor Generate(string prompt, IReadOnlyList<long> seeds, CancellationToken cancellationToken = default)
        {
            if (!prompt.Contains("beach")) return _images.Generate(prompt, seeds, cancellationToken);
            cts.Cancel();
            throw new OperationCanceledException(cts.Token);
        }
    }

    [Fact]
    public void A_run_stopped_during_a_validation_makes_that_image_when_resumed()
    {
        using var dir = new TempDir();
        var o = Options(dir.Path, Path.Combine(dir.Path, "out")) with { MaxTrainSteps = 3, CheckpointingSteps = 2, ValidationPrompt = "a photo of sks dog on the beach", ValidationSteps = 2 };
        using var cts = new CancellationTokenSource();
        var stop = () => new DreamBoothTrainer(o, Loader, models => new CancelAtValidation(models.Resolution, cts), null).Run(cts.Token);
        stop.Should().Throw<OperationCanceledException>();
        File.Exists(Path.Combine(o.OutputDir, "validation", "step-000002.png")).Should().BeFalse();

        new DreamBoothTrainer(o with { ResumeFromCheckpoint = "latest" }, Loader, models => new FakeSampler(models.Resolution), null).Run();
        Directory.GetFiles(Path.Combine(o.OutputDir, "validation")).Select(Path.GetFileName).Should().Equal("step-000002.png", "step-000003.png");
    }

    [Fact]
    public void A_validation_that_fails_is_a_warning_and_training_finishes()
    {
        using var dir = new TempDir();
        var o = Options(dir.Path, Path.Combine(dir.Path, "out")) with { MaxTrainSteps = 2, CheckpointingSteps = 10, ValidationPrompt = "a photo of sks dog on the beach", ValidationSteps = 1 };
        var warnings = new List<string>();
        new DreamBoothTrainer(o, Loader, models => new FailingValidation(models.Resolution), null, warnings.Add).Run();
        warnings.Should().Contain(w => w.StartsWith("validation at step 1 skipped: sampling produced non-finite values"));
        File.Exists(Path.Combine(o.OutputDir, "model_index.json")).Should().BeTrue("the run finished and saved its model");
    }

    [Fact]
    public void A_takeover_refuses_class_images_made_for_another_class_prompt()
    {
        using var dir = new TempDir();
        // The default class folder inside the output; the first run fails after making its class images.
        var o = Options(dir.Path, Path.Combine(dir.Path, "out")) with { ClassDataDir = null, LearningRate = 1e30, MaxTrainSteps = 4, CheckpointingSteps = 10 };
        ShouldFail(() => Train(o), "* became * at step 2*");
        ClassImageGenerator.CountImages(o.EffectiveClassDataDir).Should().Be(3);
        ShouldFail(() => Train(o with { LearningRate = 1e-4, ClassPrompt = "a photo of cat" }), "--output-dir *: holds class images of an earlier run with another class prompt*");
        Train(o with { LearningRate = 1e-4 }).Should().NotBeNull("the same class prompt reuses them");
    }

    [Fact]
    public void Bad_instance_images_leave_no_output_folder_behind()
    {
        using var dir = new TempDir();
        var empty = Path.Combine(dir.Path, "empty");
        Directory.CreateDirectory(empty);
        var o = Options(dir.Path, Path.Combine(dir.Path, "out")) with { WithPriorPreservation = false, ClassPrompt = null, ClassDataDir = null, InstanceDataDir = empty };
        ShouldFail(() => Train(o), "--instance-data-dir *empty: the directory has no files");
        Directory.Exists(o.OutputDir).Should().BeFalse();
        // An existing (empty) folder is the user's: it stays.
        Directory.CreateDirectory(o.OutputDir);
        ShouldFail(() => Train(o), "--instance-data-dir *empty: the directory has no files");
        Directory.Exists(o.OutputDir).Should().BeTrue();
    }

    [Fact]
    public void Bad_instance_folders_are_named()
    {
        using var dir = new TempDir();
        var o = Options(dir.Path, Path.Combine(dir.Path, "out"));
        var empty = Path.Combine(dir.Path, "empty");
        Directory.CreateDirectory(empty);
        ShouldFail(() => Train(o with { InstanceDataDir = empty }), "--instance-data-dir *empty: the directory has no files");
        var text = Path.Combine(dir.Path, "text");
        Directory.CreateDirectory(text);
        File.WriteAllText(Path.Combine(text, "a.txt"), "hello");
        ShouldFail(() => Train(o with { InstanceDataDir = text }), "--instance-data-dir *text: no images among its 1 file(s)*");

        // A corrupt photo among good ones is skipped with a warning naming it.
        File.WriteAllBytes(Path.Combine(o.InstanceDataDir, "broken.png"), [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
        var warnings = new List<string>();
        Train(o with { MaxTrainSteps = 1 }, warnings: warnings);
        warnings.Should().Contain(w => w.Contains("broken.png"));
    }
}
