using DreamBooth.Tests.IO;
using DreamBooth.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

/// <summary>Checkpoint folders, the CSV log, the data order and the class-image generator.</summary>
public class TrainingStateTests
{
    private static CheckpointContents Contents(int step) => new(step,
        new RunIdentity(new Dictionary<string, string> { ["--seed"] = "1" }),
        new Dictionary<string, Tensor> { ["unet.w"] = full(2, 3, (float)step) },
        new Dictionary<string, Tensor> { ["exp_avg.unet.unet.w"] = ones(2, 3), ["exp_avg_sq.unet.unet.w"] = ones(2, 3) },
        step,
        new Dictionary<string, Tensor> { ["data"] = new Generator(5).get_state() },
        new DataOrderState(1, 2, [2, 0, 1]));

    [Fact]
    public void A_checkpoint_renamed_aside_for_replacement_comes_back_after_a_kill_and_goes_once_replaced()
    {
        using var dir = new TempDir();
        TrainingCheckpoint.Save(dir.Path, Contents(4));
        TrainingCheckpoint.Save(dir.Path, Contents(6));
        // Killed between the two renames of a replacement: checkpoint-4 exists only under its aside name.
        Directory.Move(Path.Combine(dir.Path, "checkpoint-4"), Path.Combine(dir.Path, ".checkpoint-4.0123abcd.replaced"));
        // A replacement of checkpoint-6 that did land: its aside copy is stale.
        Directory.CreateDirectory(Path.Combine(dir.Path, ".checkpoint-6.4567cdef.replaced"));
        TrainingCheckpoint.RemoveDebris(dir.Path).Should().Be(2);
        TrainingCheckpoint.List(dir.Path).Select(c => c.Step).Should().Equal(4, 6);
        TrainingCheckpoint.Load(Path.Combine(dir.Path, "checkpoint-4")).Step.Should().Be(4);
        Directory.GetDirectories(dir.Path, ".*").Should().BeEmpty();

        // A replacement leaves neither the old folder nor an aside copy.
        TrainingCheckpoint.Save(dir.Path, Contents(4) with { OptimizerSteps = 9 });
        TrainingCheckpoint.Load(Path.Combine(dir.Path, "checkpoint-4")).OptimizerSteps.Should().Be(9);
        Directory.GetDirectories(dir.Path, ".*").Should().BeEmpty();
    }

    [Fact]
    public void Checkpoints_round_trip_and_only_complete_folders_count()
    {
        using var dir = new TempDir();
        foreach (var s in new[] { 10, 2, 30 }) TrainingCheckpoint.Save(dir.Path, Contents(s));
        // Debris of interrupted writes and look-alikes: a temporary folder, a folder without state.json, a foreign name.
        Directory.CreateDirectory(Path.Combine(dir.Path, ".checkpoint-40.123.abc.partial"));
        File.WriteAllText(Path.Combine(dir.Path, ".checkpoint-40.123.abc.partial", "state.json"), "{}");
        Directory.CreateDirectory(Path.Combine(dir.Path, "checkpoint-50"));
        Directory.CreateDirectory(Path.Combine(dir.Path, "checkpoint-007"));
        File.WriteAllText(Path.Combine(dir.Path, "checkpoint-007", "state.json"), "{}");

        TrainingCheckpoint.List(dir.Path).Select(c => c.Step).Should().Equal(2, 10, 30);
        Directory.CreateDirectory(Path.Combine(dir.Path, ".checkpoint-41.9.abc.partial"));
        Directory.CreateDirectory(Path.Combine(dir.Path, ".checkpoint-3.xyz.deleting"));
        TrainingCheckpoint.RemoveDebris(dir.Path).Should().Be(3);
        Directory.GetDirectories(dir.Path, ".*").Should().BeEmpty();
        TrainingCheckpoint.Resolve("latest", dir.Path).Should().EndWith("checkpoint-30");
        TrainingCheckpoint.Resolve("checkpoint-10", dir.Path).Should().EndWith("checkpoint-10");
        var noState = () => TrainingCheckpoint.Resolve(Path.Combine(dir.Path, "checkpoint-50"), dir.Path);
        noState.Should().Throw<DreamBoothException>().WithMessage("*not a complete checkpoint*");
        var missing = () => TrainingCheckpoint.Resolve("checkpoint-99", dir.Path);
        missing.Should().Throw<DreamBoothException>().WithMessage("--resume-from-checkpoint checkpoint-99: no such checkpoint folder*");
        TrainingCheckpoint.Resolve("latest", Path.Combine(dir.Path, "none")).Should().BeNull();

        var c = TrainingCheckpoint.Load(Path.Combine(dir.Path, "checkpoint-10"));
        c.Step.Should().Be(10);
        c.OptimizerSteps.Should().Be(10);
        c.Identity.Values.Should().Contain("--seed", "1");
        c.Data.Should().BeEquivalentTo(new DataOrderState(1, 2, [2, 0, 1]));
        TensorEquality.Equal(c.Parameters["unet.w"], full(2, 3, 10f)).Should().BeTrue();
        TensorEquality.Equal(c.Generators["data"], new Generator(5).get_state()).Should().BeTrue();

        TrainingCheckpoint.Prune(dir.Path, 2).Select(Path.GetFileName).Should().Equal("checkpoint-2");
        TrainingCheckpoint.List(dir.Path).Select(c => c.Step).Should().Equal(10, 30);
        Directory.EnumerateDirectories(dir.Path).Should().NotContain(d => d.EndsWith(".deleting"));

        // Saving a step again replaces its folder.
        TrainingCheckpoint.Save(dir.Path, Contents(10) with { OptimizerSteps = 77 });
        TrainingCheckpoint.Load(Path.Combine(dir.Path, "checkpoint-10")).OptimizerSteps.Should().Be(77);

        // A state whose step disagrees with its folder, or of another format version, was edited or mixed up.
        var state30 = Path.Combine(dir.Path, "checkpoint-30", "state.json");
        var original = File.ReadAllText(state30);
        File.WriteAllText(state30, original.Replace("\"step\": 30", "\"step\": 999"));
        FluentActions.Invoking(() => TrainingCheckpoint.Load(Path.Combine(dir.Path, "checkpoint-30"))).Should().Throw<DreamBoothException>()
            .WithMessage("*state.json: step 999 does not match the checkpoint folder checkpoint-30");
        File.WriteAllText(state30, original.Replace("\"version\": 1", "\"version\": \"abc\""));
        FluentActions.Invoking(() => TrainingCheckpoint.Load(Path.Combine(dir.Path, "checkpoint-30"))).Should().Throw<DreamBoothException>()
            .WithMessage("*state.json: checkpoint format version \"abc\" is not one this build reads (1)");
        File.WriteAllText(state30, original);

        File.Delete(Path.Combine(dir.Path, "checkpoint-30", "optimizer.safetensors"));
        var incomplete = () => TrainingCheckpoint.Load(Path.Combine(dir.Path, "checkpoint-30"));
        incomplete.Should().Throw<DreamBoothException>().WithMessage("*incomplete checkpoint, optimizer.safetensors is missing");
        File.WriteAllText(Path.Combine(dir.Path, "checkpoint-10", "state.json"), "{\"format\": 3");
        var corrupt = () => TrainingCheckpoint.Load(Path.Combine(dir.Path, "checkpoint-10"));
        corrupt.Should().Throw<DreamBoothException>().WithMessage("*state.json: unreadable checkpoint state*");
    }

    [Fact]
    public void Log_keeps_rows_up_to_the_resumed_step_and_drops_a_torn_line()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "logs", "train_log.csv");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using (var log = TrainingLog.Open(path, 0))
            for (int s = 1; s <= 4; s++) log.Append(new TrainingLogRow(s, 0, 1.0 / s, 0.5 / s, s == 2 ? null : 0.1, 1e-4, 2, 0.5));
        File.AppendAllText(path, "5,0,0.2,0.1");   // a kill in the middle of a line
        File.ReadAllLines(path).Should().HaveCount(6);

        using (var log = TrainingLog.Open(path, 3))
        {
            log.Rows.Select(r => r.Step).Should().Equal(1, 2, 3);
            log.Rows[1].PriorLoss.Should().BeNull();
            log.Rows[0].Loss.Should().Be(1.0);
            log.Append(new TrainingLogRow(4, 1, 0.3, 0.2, 0.1, 1e-4, 2, 0.5));
        }
        var lines = File.ReadAllLines(path);
        lines[0].Should().Be(TrainingLog.Header);
        lines.Skip(1).Select(l => l.Split(',')[0]).Should().Equal("1", "2", "3", "4");
        lines[4].Should().StartWith("4,1,0.3,0.2,0.1,");
        TrainingPlots.LossCurve(TrainingLog.Open(path, 10).Rows).Take(8).Should().Equal(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 });
    }

    [Fact]
    public void Data_order_shuffles_each_epoch_and_restores_its_position()
    {
        using var g = new Generator(3);
        var order = new DataOrder(5, 2);
        order.BatchesPerEpoch.Should().Be(3);
        var epoch = new List<int>();
        for (int b = 0; b < 3; b++)
        {
            var (batch, end) = order.Next(g);
            batch.Should().HaveCount(b < 2 ? 2 : 1);
            end.Should().Be(b == 2);
            epoch.AddRange(batch);
        }
        epoch.Order().Should().Equal(0, 1, 2, 3, 4);
        order.Epoch.Should().Be(1);

        var (first, _) = order.Next(g);
        var state = order.State;
        var genState = g.get_state();
        var (second, _) = order.Next(g);

        var copy = new DataOrder(5, 2);
        copy.Restore(state, "test");
        using var g2 = new Generator(99);
        g2.set_state(genState);
        copy.Next(g2).Examples.Should().Equal(second);

        var wrong = () => new DataOrder(6, 2).Restore(state, "ckpt");
        wrong.Should().Throw<DreamBoothException>().WithMessage("ckpt: the saved data order does not fit 6 examples*");
        DataOrder.Pair(7, 3, 5).Should().Be((1, 2));
        DataOrder.Pair(7, 3, null).Should().Be((1, (int?)null));
        first.Should().HaveCount(2);
    }

    private sealed class CountingSampler : IImageSampler
    {
        public List<long> Seeds { get; } = [];

        public Tensor Generate(string prompt, IReadOnlyList<long> seeds, CancellationToken cancellationToken = default)
        {
            Seeds.AddRange(seeds);
            return stack(seeds.Select(s => full([3, 8, 8], (float)(s % 7) / 7)).ToArray());
        }
    }

    [Fact]
    public void Class_images_are_topped_up_resumably_with_per_image_seeds()
    {
        using var dir = new TempDir();
        var once = Path.Combine(dir.Path, "once");
        var sampler = new CountingSampler();
        ClassImageGenerator.Generate(once, "a dog", 5, 2, 100, () => sampler).Should().Be(new ClassImagesResult(0, 5));
        sampler.Seeds.Should().Equal(100, 101, 102, 103, 104);

        // Interrupted after 3 images, then resumed: same files; a user image counts.
        var twice = Path.Combine(dir.Path, "twice");
        using var cts = new CancellationTokenSource();
        var first = () => ClassImageGenerator.Generate(twice, "a dog", 5, 3, 100, () => new CountingSampler(),
            new SyncProgress(p => { if (p.Done == 3) cts.Cancel(); }), cts.Token);
        first.Should().Throw<OperationCanceledException>();
        ClassImageGenerator.CountImages(twice).Should().Be(3);
        var resumed = new CountingSampler();
        ClassImageGenerator.Generate(twice, "a dog", 5, 3, 100, () => resumed).Should().Be(new ClassImagesResult(3, 2));
        resumed.Seeds.Should().Equal(103, 104);
        Directory.GetFiles(twice).Select(Path.GetFileName).Should().BeEquivalentTo(Directory.GetFiles(once).Select(Path.GetFileName));

        bool built = false;
        ClassImageGenerator.Generate(twice, "a dog", 4, 3, 100, () => { built = true; return resumed; }).Should().Be(new ClassImagesResult(5, 0));
        built.Should().BeFalse("no sampler is needed when the folder is full");
        File.WriteAllText(Path.Combine(twice, ".00009-x.png.partial"), "");
        File.WriteAllText(Path.Combine(twice, "notes.txt"), "");
        ClassImageGenerator.CountImages(twice).Should().Be(5);

        // A user deletes a bad image: the top-up makes a new one after the highest index, and the folder is full again.
        File.Delete(Directory.GetFiles(twice, "00001-*.png").Single());
        var topUp = new CountingSampler();
        ClassImageGenerator.Generate(twice, "a dog", 5, 3, 100, () => topUp).Should().Be(new ClassImagesResult(4, 1));
        topUp.Seeds.Should().Equal(105);
        ClassImageGenerator.CountImages(twice).Should().Be(5);
        Directory.GetFiles(twice, "00005-*.png").Should().ContainSingle();

        // Files that only look like images (empty, text) are not class images: the top-up replaces them.
        File.WriteAllText(Path.Combine(twice, "empty.png"), "");
        File.WriteAllText(Path.Combine(twice, "text.png"), "not a PNG");
        ClassImageGenerator.CountImages(twice).Should().Be(5);
        ClassImageGenerator.Generate(twice, "a dog", 7, 3, 100, () => topUp).Should().Be(new ClassImagesResult(5, 2));
        ClassImageGenerator.CountImages(twice).Should().Be(7);
    }

    private sealed class SyncProgress(Action<ClassImagesProgress> report) : IProgress<ClassImagesProgress>
    {
        public void Report(ClassImagesProgress value) => report(value);
    }
}
