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
/// after every kill ends with exactly the weights of an uninterrupted run; a full disk while writing a checkpoint ends the
/// run with a one-line error and leaves the previous checkpoint intact and resumable.
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

    private static Process Start(IEnumerable<string> args, bool asPlainDotnet = false)
    {
        // A test run started in the background by a shell without job control inherits SIGINT as ignored (POSIX), and so
        // would the CLI: `env --default-signal=INT` (GNU coreutils ≥ 8.31) gives it the default disposition, as a terminal would.
        var psi = new ProcessStartInfo(DefaultSignalEnv.Value ? "env" : "dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (DefaultSignalEnv.Value) foreach (var a in new[] { "--default-signal=INT", "dotnet" }) psi.ArgumentList.Add(a);
        // As a user starts it (`dotnet DreamBooth.Cli.dll`, no allocator settings): the CLI restarts itself as a child.
        if (asPlainDotnet)
            foreach (var name in new[] { "LD_PRELOAD", "MALLOC_CONF", "GLIBC_TUNABLES", "OMP_WAIT_POLICY", DreamBooth.Runtime.AllocatorSetup.MarkerVariable })
                psi.Environment.Remove(name);
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static readonly Lazy<bool> DefaultSignalEnv = new(() =>
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("env", ["--default-signal=INT", "true"]) { UseShellExecute = false, RedirectStandardError = true })!;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    });

    private static int RunToEnd(IEnumerable<string> args)
    {
        using var p = Start(args);
        p.WaitForExit();
        return p.ExitCode;
    }

    /// <summary>
    /// Runs the CLI under a file-size limit of <paramref name="limitKiB"/> KiB (RLIMIT_FSIZE, bash's <c>ulimit -f</c>),
    /// with SIGXFSZ ignored so that a write past the limit fails with EFBIG, as on a full disk, instead of killing the process.
    /// W^X is off for that process: the runtime backs its executable memory with a memfd, which the limit would also cap
    /// (CoreCLR then fails to start or aborts in the JIT).
    /// </summary>
    private static (int ExitCode, string Stderr) RunWithFileSizeLimit(long limitKiB, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        foreach (var a in new[] { "-c", "trap '' XFSZ; ulimit -f \"$1\"; shift; exec dotnet \"$@\"", "bash", limitKiB.ToString(), CliDll }.Concat(args))
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        stdout.Wait();
        return (p.ExitCode, stderr.Result.Replace("\r", ""));
    }

    private static Dictionary<string, TorchSharp.torch.Tensor> Weights(string outputDir) =>
        Safetensors.LoadAll(Path.Combine(outputDir, "unet", "diffusion_pytorch_model.safetensors"));

    [Theory]
    [Trait("Category", "EndToEnd")]
    [InlineData(1)]
    [InlineData(2)] // as from `timeout` passing on a group-wide SIGINT: the same request twice, not a second Ctrl-C
    public void Sigint_saves_a_checkpoint_and_exits_with_130(int copies)
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
        for (int i = 0; i < copies; i++)
            using (var kill = Process.Start("kill", ["-INT", p.Id.ToString()])) kill.WaitForExit();
        p.WaitForExit(120_000).Should().BeTrue();
        p.ExitCode.Should().Be(130);
        var checkpoints = TrainingCheckpoint.List(outputDir);
        checkpoints.Should().ContainSingle();
        TrainingCheckpoint.Load(checkpoints[0].Path).Step.Should().BeGreaterThan(0);
    }

    [Theory]
    [Trait("Category", "EndToEnd")]
    [InlineData("TERM", 130)]
    [InlineData("INT", 130)]  // `kill -INT PID`: was ignored by the parent, and the run went on
    [InlineData("KILL", 137)] // the parent cannot pass SIGKILL on; Linux tells the child (PR_SET_PDEATHSIG), which stops cleanly
    public void A_signal_to_the_restarting_parent_reaches_the_child_which_saves_a_checkpoint(string signal, int parentExit)
    {
        using var dir = new TempDir();
        Prepare(dir.Path);
        var outputDir = Path.Combine(dir.Path, "out");
        using var p = Start(Args(dir.Path, outputDir, 1000, checkpointingSteps: 500), asPlainDotnet: true);
        var log = Path.Combine(outputDir, "logs", "train_log.csv");
        var clock = Stopwatch.StartNew();
        while (!(File.Exists(log) && File.ReadAllLines(log).Length >= 2) && !p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(5)) Thread.Sleep(100);
        p.HasExited.Should().BeFalse();
        // `kill PID` reaches the parent only; with SIGTERM it used to exit 143 and leave the child training as an orphan.
        using (var kill = Process.Start("kill", [$"-{signal}", p.Id.ToString()])) kill.WaitForExit();
        p.WaitForExit(120_000).Should().BeTrue();
        p.ExitCode.Should().Be(parentExit, "the child stopped cleanly and the parent returns its exit code (or was killed)");
        string Running()
        {
            using var pgrep = Process.Start(new ProcessStartInfo("pgrep", ["-f", outputDir]) { RedirectStandardOutput = true })!;
            pgrep.WaitForExit();
            return pgrep.StandardOutput.ReadToEnd().Trim();
        }
        var wait = Stopwatch.StartNew(); // a killed parent does not wait for its child
        while (Running() != "" && wait.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(200);
        Running().Should().BeEmpty("no training process may outlive the command");
        TrainingCheckpoint.List(outputDir).Should().ContainSingle();
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

    [Fact]
    [Trait("Category", "EndToEnd")]
    public void A_full_disk_while_writing_a_checkpoint_is_a_clear_error_and_the_previous_checkpoint_stays_intact_and_resumable()
    {
        using var dir = new TempDir();
        Prepare(dir.Path);
        const int first = 2, steps = 4;
        var reference = Path.Combine(dir.Path, "reference");
        RunToEnd(Args(dir.Path, reference, steps, checkpointingSteps: first)).Should().Be(0);
        var expected = Weights(reference);

        // 1. The run writes its first checkpoint (it ends there; step counts may change on resume).
        var outputDir = Path.Combine(dir.Path, "out");
        RunToEnd(Args(dir.Path, outputDir, first, checkpointingSteps: first)).Should().Be(0);
        var (firstStep, firstPath) = TrainingCheckpoint.List(outputDir).Should().ContainSingle().Subject;
        firstStep.Should().Be(first);
        var firstFiles = Corpus.Snapshot.Of(firstPath);
        long largest = Directory.GetFiles(firstPath).Max(f => new FileInfo(f).Length);

        // 2. It continues under a file-size limit of half the first checkpoint's largest file: the second checkpoint's
        //    write fails part-way, as on a full disk. The logs and everything else the run writes before are smaller.
        long limitKiB = largest / 2 / 1024;
        limitKiB.Should().BeGreaterThan(0);
        var (exit, stderr) = RunWithFileSizeLimit(limitKiB, [.. Args(dir.Path, outputDir, steps, checkpointingSteps: first), "--resume-from-checkpoint", "latest"]);
        output.WriteLine($"largest checkpoint file {largest} bytes, limit {limitKiB} KiB, exit {exit}; stderr:\n{stderr}");
        exit.Should().NotBe(0);
        var errors = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains("error", StringComparison.OrdinalIgnoreCase)).ToList();
        var error = errors.Should().ContainSingle("the failure is reported in one line").Subject;
        error.Should().StartWith("error: ")
            .And.Contain(Path.Combine(outputDir, TrainingCheckpoint.Prefix + steps))
            .And.Contain("could not write the checkpoint")
            .And.Contain("disk full or file size limit reached")
            .And.Contain("earlier checkpoints are intact");

        // 3. Nothing half-written counts as a checkpoint, the temporary folder is gone, the first checkpoint is unchanged.
        TrainingCheckpoint.List(outputDir).Should().Equal([(firstStep, firstPath)]);
        TrainingCheckpoint.Resolve("latest", outputDir).Should().Be(firstPath);
        Directory.Exists(Path.Combine(outputDir, TrainingCheckpoint.Prefix + steps)).Should().BeFalse();
        Directory.GetDirectories(outputDir, "." + TrainingCheckpoint.Prefix + "*").Should().BeEmpty();
        Corpus.Snapshot.Of(firstPath).Should().Equal(firstFiles, "the previous checkpoint must not change");
        var loaded = TrainingCheckpoint.Load(firstPath);
        loaded.Step.Should().Be(first);
        foreach (var t in loaded.Parameters.Values.Concat(loaded.Optimizer.Values).Concat(loaded.Generators.Values)) t.Dispose();

        // 4. With space again, the run resumes from it and ends with exactly the weights of an uninterrupted run.
        RunToEnd([.. Args(dir.Path, outputDir, steps, checkpointingSteps: first), "--resume-from-checkpoint", "latest"]).Should().Be(0);
        TrainingCheckpoint.List(outputDir).Select(c => c.Step).Should().Equal(first, steps);
        var actual = Weights(outputDir);
        foreach (var (name, t) in expected) Training.TensorEquality.Equal(actual[name], t).Should().BeTrue(name);
    }
}
