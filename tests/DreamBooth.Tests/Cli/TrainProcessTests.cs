using System.Diagnostics;
using DreamBooth.IO;
using DreamBooth.Tests.IO;
using DreamBooth.Training;
using FluentAssertions;
using Xunit;
using Xunit.Abstractions;
using static DreamBooth.Tests.Training.TrainerTestKit;

namespace DreamBooth.Tests.Cli;

/// <summary>
/// The CLI as a separate process, stopped from outside: Ctrl-C (SIGINT) saves a checkpoint and exits with 130; SIGKILL
/// at random moments (also in the middle of writing a checkpoint) never leaves a broken checkpoint, and the run resumed
/// after every kill ends with exactly the weights of an uninterrupted run.
/// </summary>
public class TrainProcessTests(ITestOutputHelper output)
{
    private static string CliDll => Path.Combine(AppContext.BaseDirectory, "DreamBooth.Cli.dll");

    // Class images are prepared beforehand: the CLI process has no image generation of its own in tests.
    private static string[] Args(string root, string outputDir, int steps, int checkpointingSteps = 1) =>
    [
        "train", "--model", TinySd1, "--instance-data-dir", Path.Combine(root, "instance"), "--instance-prompt", "a photo of sks dog",
        "--with-prior-preservation", "--class-prompt", "a photo of dog", "--class-data-dir", Path.Combine(root, "class"), "--num-class-images", "2",
        "--output-dir", outputDir, "--resolution", "32", "--train-batch-size", "1", "--seed", "3", "--max-train-steps", steps.ToString(),
        "--checkpointing-steps", checkpointingSteps.ToString(), "--learning-rate", "1e-4", "--lr-warmup-steps", "0", "--random-flip",
    ];

    private static void Prepare(string root)
    {
        InstanceFolder(root);
        ClassImageGenerator.Generate(Path.Combine(root, "class"), "a photo of dog", 2, 2, 9, () => new FakeSampler(32));
    }

    private static Process Start(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static int RunToEnd(IEnumerable<string> args)
    {
        using var p = Start(args);
        p.WaitForExit();
        return p.ExitCode;
    }

    private static Dictionary<string, TorchSharp.torch.Tensor> Weights(string outputDir) =>
        Safetensors.LoadAll(Path.Combine(outputDir, "unet", "diffusion_pytorch_model.safetensors"));

    [Fact]
    [Trait("Category", "EndToEnd")]
    public void Sigint_saves_a_checkpoint_and_exits_with_130()
    {
        using var dir = new TempDir();
        Prepare(dir.Path);
        var outputDir = Path.Combine(dir.Path, "out");
        using var p = Start(Args(dir.Path, outputDir, 1000, checkpointingSteps: 500));
        // Wait until training is under way (the log has a row), then Ctrl-C.
        var log = Path.Combine(outputDir, "logs", "train_log.csv");
        var clock = Stopwatch.StartNew();
        while (!(File.Exists(log) && File.ReadAllLines(log).Length >= 2) && !p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(5)) Thread.Sleep(100);
        p.HasExited.Should().BeFalse();
        using (var kill = Process.Start("kill", ["-INT", p.Id.ToString()])) kill.WaitForExit();
        p.WaitForExit(120_000).Should().BeTrue();
        p.ExitCode.Should().Be(130);
        var checkpoints = TrainingCheckpoint.List(outputDir);
        checkpoints.Should().ContainSingle();
        TrainingCheckpoint.Load(checkpoints[0].Path).Step.Should().BeGreaterThan(0);
    }

    [Fact]
    [Trait("Category", "EndToEnd")]
    public void Sigkill_at_random_moments_never_breaks_a_checkpoint_and_the_resumed_run_is_bit_identical()
    {
        using var dir = new TempDir();
        Prepare(dir.Path);
        const int steps = 4;
        var reference = Path.Combine(dir.Path, "reference");
        RunToEnd(Args(dir.Path, reference, steps)).Should().Be(0);
        var expected = Weights(reference);

        var outputDir = Path.Combine(dir.Path, "killed");
        var random = new Random(11);
        int kills = 0;
        for (int trial = 0; trial < 8; trial++)
        {
            bool resume = TrainingCheckpoint.List(outputDir).Count > 0;
            using var p = Start(resume ? Args(dir.Path, outputDir, steps).Concat(["--resume-from-checkpoint", "latest"]) : Args(dir.Path, outputDir, steps));
            // Kill shortly after the next checkpoint appears (random delay, so some kills land inside a checkpoint write).
            int before = TrainingCheckpoint.List(outputDir).Count;
            var clock = Stopwatch.StartNew();
            while (!p.HasExited && TrainingCheckpoint.List(outputDir).Count <= before && clock.Elapsed < TimeSpan.FromMinutes(3)) Thread.Sleep(20);
            Thread.Sleep(random.Next(0, 400));
            if (p.HasExited)
            {
                p.ExitCode.Should().Be(0);
                break;
            }
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            kills++;
            // Whatever was being written, every listed checkpoint is complete and loads.
            foreach (var (step, path) in TrainingCheckpoint.List(outputDir))
            {
                var c = TrainingCheckpoint.Load(path);
                c.Step.Should().Be(step);
                foreach (var t in c.Parameters.Values.Concat(c.Optimizer.Values).Concat(c.Generators.Values)) t.Dispose();
            }
            int partial = Directory.GetDirectories(outputDir, ".checkpoint-*").Length;
            output.WriteLine($"kill {kills}: checkpoints {string.Join(",", TrainingCheckpoint.List(outputDir).Select(c => c.Step))}; unfinished checkpoint folders left: {partial}");
        }
        kills.Should().BeGreaterThan(0);
        if (!File.Exists(Path.Combine(outputDir, "model_index.json")))
            RunToEnd(Args(dir.Path, outputDir, steps).Concat(["--resume-from-checkpoint", "latest"])).Should().Be(0);

        var actual = Weights(outputDir);
        foreach (var (name, t) in expected) Training.TensorEquality.Equal(actual[name], t).Should().BeTrue(name);
    }
}
