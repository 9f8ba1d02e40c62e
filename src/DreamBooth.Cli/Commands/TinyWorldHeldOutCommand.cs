using System.ComponentModel;
using DreamBooth.Evaluation;
using DreamBooth.Runtime;
using Spectre.Console;
using Spectre.Console.Cli;

namespace DreamBooth.Cli.Commands;

/// <summary>`dreambooth tiny-world heldout`: the base model's class and context accuracy on caption combinations held out of pretraining.</summary>
public sealed class TinyWorldHeldOutCommand : Command<TinyWorldHeldOutCommand.Settings>
{
    private static readonly HeldOutOptions Defaults = new();

    public sealed class Settings : CommandSettings
    {
        [CommandOption("-m|--model <DIR>"), Description("Model folder to measure. Default: the embedded models/tiny-world.")]
        public string? Model { get; init; }

        [CommandOption("--probe <DIR>"), Description("Probe for the readings. Default: the shipped models/probe.")]
        public string? Probe { get; init; }

        [CommandOption("-o|--output <DIR>"), Description("Output folder (images, contact sheet, metrics)."), DefaultValue(HeldOutOptions.DefaultOutputDir)]
        public string Output { get; init; } = HeldOutOptions.DefaultOutputDir;

        [CommandOption("--overwrite"), Description("Replace an existing output folder (once the new run has finished).")]
        public bool Overwrite { get; init; }

        [CommandOption("-n|--num-images <N>"), Description("Images per held-out prompt."), DefaultValue(HeldOutOptions.DefaultImagesPerPrompt)]
        public int NumImages { get; init; } = Defaults.ImagesPerPrompt;

        [CommandOption("--steps <N>"), Description("Sampling steps per image."), DefaultValue(HeldOutOptions.DefaultInferenceSteps)]
        public int Steps { get; init; } = Defaults.InferenceSteps;

        [CommandOption("--guidance-scale <G>"), Description("Classifier-free guidance scale (the default of generate and demo)."), DefaultValue(Pipelines.GenerationRequest.DefaultGuidanceScale)]
        public double GuidanceScale { get; init; } = Defaults.GuidanceScale;

        [CommandOption("--seed <N>"), Description("Seed of image 0; image i uses seed + i."), DefaultValue(HeldOutOptions.DefaultSeed)]
        public long Seed { get; init; } = Defaults.Seed;

        [CommandOption("--batch-size <N>"), Description("Images per UNet batch."), DefaultValue(HeldOutOptions.DefaultBatchSize)]
        public int BatchSize { get; init; } = Defaults.BatchSize;
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var options = new HeldOutOptions
        {
            ModelPath = s.Model, ProbeDir = s.Probe, OutputDir = s.Output, Overwrite = s.Overwrite, ImagesPerPrompt = s.NumImages,
            InferenceSteps = s.Steps, GuidanceScale = s.GuidanceScale, Seed = s.Seed, BatchSize = s.BatchSize,
        };
        options.Validate();
        int total = HeldOutEvaluation.Prompts.Count * options.ImagesPerPrompt;
        var result = ProgressDisplay.Run("generating held-out prompts", total, "img", task =>
            new HeldOutEvaluation(options, new SyncProgress<(int Done, int Total)>(p => task.Value = p.Done), ProgressDisplay.Warn).Run(cancellationToken));

        var table = new Table().AddColumn("prompt").AddColumn(new TableColumn("class").RightAligned())
            .AddColumn(new TableColumn("prompt fid.").RightAligned()).AddColumn("predicted context");
        foreach (var p in result.Report.Prompts)
            table.AddRow(Markup.Escape(p.Prompt), EvaluationReport.F(p.ClassAccuracy), EvaluationReport.F(p.PromptFidelity), Markup.Escape(p.PredictedContexts));
        AnsiConsole.Write(table);
        foreach (var (name, value) in result.Report.AttributeAccuracy)
            AnsiConsole.MarkupLineInterpolated($"{name} accuracy: {EvaluationReport.F(value)}");
        var t = result.Target;
        AnsiConsole.MarkupLine($"{(t.Met == true ? "[green]met[/]" : "[red]not met[/]")}  {Markup.Escape($"{t.Name}: {t.Measured} (goal {t.Goal})")}");
        AnsiConsole.MarkupLineInterpolated($"[green]done[/] in {result.Seconds:0} s: {Path.Combine(result.OutputDir, HeldOutEvaluation.ContactSheetFile)}, {Path.Combine(result.OutputDir, HeldOutEvaluation.MetricsMarkdownFile)}");
        return 0;
    }
}
