using System.ComponentModel;
using DreamBooth.Evaluation;
using DreamBooth.IO;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace DreamBooth.Cli.Commands;

/// <summary>`dreambooth probe train`: trains the evaluation probe on fresh tiny-world renders and writes a probe folder.</summary>
public sealed class ProbeTrainCommand : Command<ProbeTrainCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("-o|--output <DIR>"), Description("Output probe folder (config.json, model.safetensors, training.json, README.md).")]
        public string Output { get; init; } = "";

        [CommandOption("--overwrite"), Description("Replace an existing, non-empty output folder (once the new probe is complete).")]
        public bool Overwrite { get; init; }

        [CommandOption("--seed <N>"), Description("Training seed (the shipped probe's is in models/probe/training.json)."), DefaultValue(1L)]
        public long Seed { get; init; } = 1;

        [CommandOption("--steps <N>"), Description("Optimizer steps."), DefaultValue(1500)]
        public int Steps { get; init; } = 1500;

        [CommandOption("--instances <N>"), Description("Subject instances per batch (two renders each)."), DefaultValue(32)]
        public int Instances { get; init; } = 32;

        [CommandOption("--learning-rate <LR>"), Description("Peak AdamW learning rate."), DefaultValue(2e-3)]
        public double LearningRate { get; init; } = 2e-3;

        [CommandOption("--threads <N>"), Description("Torch CPU threads (bit-identical reruns need the same count); 0 = library default."), DefaultValue(0)]
        public int Threads { get; init; }

        public override ValidationResult Validate() =>
            string.IsNullOrWhiteSpace(Output) ? ValidationResult.Error("--output is required")
            : Steps < 1 ? ValidationResult.Error("--steps must be >= 1")
            : Instances < 2 ? ValidationResult.Error("--instances must be >= 2")
            : !(LearningRate > 0 && double.IsFinite(LearningRate)) ? ValidationResult.Error("--learning-rate must be a positive number")
            : TorchThreads.Check(Threads) is { } threads ? ValidationResult.Error(threads)
            : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        // Checked before training: an existing probe (the shipped one, say) is replaced only with --overwrite, and then
        // only once the new one is complete.
        string output = Path.GetFullPath(s.Output);
        StagedFolder.CheckOutput(output, s.Overwrite, "probe training");
        if (s.Threads > 0) set_num_threads(s.Threads);
        var options = new ProbeTrainingOptions { Seed = s.Seed, Steps = s.Steps, InstancesPerBatch = s.Instances, LearningRate = s.LearningRate };
        var command = $"dreambooth probe train --output {s.Output} --seed {s.Seed} --steps {s.Steps}"
                      + (s.Instances != 32 ? $" --instances {s.Instances}" : "")
                      + (s.LearningRate != 2e-3 ? $" --learning-rate {s.LearningRate}" : "")
                      + (s.Threads > 0 ? $" --threads {s.Threads}" : "");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var network = ProgressDisplay.Run("training probe", s.Steps, "step", task =>
            ProbeTrainer.Train(options, new Progress<ProbeTrainingProgress>(p =>
            {
                task.Value = p.Step;
                task.Description = $"training probe  loss {p.Loss:0.000} (heads {p.HeadLoss:0.000}, identity {p.IdentityLoss:0.000})";
            }), cancellationToken));
        var trainTime = clock.Elapsed;

        using var probe = new Probe(network);
        var record = AnsiConsole.Status().Start("measuring the probe on fresh renders...", _ => ProbeReport.Measure(probe, options, command, trainTime, get_num_threads()));
        StagedFolder.Write(output, s.Overwrite, staging =>
        {
            probe.Save(staging, record);
            ProbeReport.WriteReadme(staging, record);
            return 0;
        }, cancellationToken);
        AnsiConsole.Write(Table(record));
        AnsiConsole.MarkupLineInterpolated($"Probe written to [bold]{s.Output}[/] ({trainTime:mm\\:ss} training).");
        return 0;
    }

    private static Table Table(ProbeTrainingRecord r)
    {
        var table = new Table().AddColumn("head").AddColumn(new TableColumn("accuracy").RightAligned()).AddColumn(new TableColumn("degraded").RightAligned());
        foreach (var (k, v) in r.Accuracy) table.AddRow(k, $"{v:0.000}", $"{r.AccuracyAugmented[k]:0.000}");
        table.AddRow("identity: same instance / other instance", $"{r.SameInstanceSimilarity:0.000}", $"{r.OtherInstanceSimilarity:0.000}");
        table.AddRow("identity: instance retrieval", $"{r.InstanceRetrieval:0.000}", "");
        table.AddRow("demo: photos / subject elsewhere / other dogs", $"{r.Demo.PhotoCeiling:0.000} / {r.Demo.SubjectElsewhere:0.000}", $"{r.Demo.OtherDogs:0.000}");
        return table;
    }
}
