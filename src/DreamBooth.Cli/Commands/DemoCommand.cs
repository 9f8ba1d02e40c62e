using System.ComponentModel;
using DreamBooth.Demo;
using DreamBooth.Evaluation;
using DreamBooth.Runtime;
using Spectre.Console;
using Spectre.Console.Cli;

namespace DreamBooth.Cli.Commands;

/// <summary>`dreambooth demo`: DreamBooth end to end on the embedded tiny-world model and the subject in samples/, with the paper's metrics.</summary>
public sealed class DemoCommand : Command<DemoCommand.Settings>
{
    private static readonly DemoOptions Defaults = new();

    public sealed class Settings : CommandSettings
    {
        [CommandOption("-o|--output <DIR>"), Description("Output folder (contact sheet, metrics, images, trained models)."), DefaultValue("demo-out")]
        public string Output { get; init; } = "demo-out";

        [CommandOption("--overwrite"), Description("Replace an existing output folder (once the new run has finished).")]
        public bool Overwrite { get; init; }

        [CommandOption("--ablate-prior"), Description("Also fine-tune without prior preservation and compare (PRES, DIV): the paper's ablation.")]
        public bool AblatePrior { get; init; }

        [CommandOption("-m|--model <DIR>"), Description("Base model folder. Default: the embedded models/tiny-world.")]
        public string? Model { get; init; }

        [CommandOption("--samples <DIR>"), Description("Photos of the subject. Default: the shipped samples/.")]
        public string? Samples { get; init; }

        [CommandOption("--probe <DIR>"), Description("Probe for the metrics. Default: the shipped models/probe.")]
        public string? Probe { get; init; }

        [CommandOption("--identifier <TOKEN>"), Description("The rare identifier [[V]]. Default: the first suggestion of `dreambooth identifiers`.")]
        public string? Identifier { get; init; }

        [CommandOption("--instance-prompt <TEXT>"), Description("Prompt of the subject's photos, [[V]] standing for the identifier. Default: \"a photo of [[V]] dog\" (the paper's form).")]
        public string? InstancePrompt { get; init; }

        [CommandOption("--class-noun <WORD>"), Description("Class noun of the subject; the class prompt is \"a photo of a(n) <noun>\". Default: dog (the shipped subject's class).")]
        public string? ClassNoun { get; init; }

        [CommandOption("--num-class-images <N>"), Description("Class images for prior preservation."), DefaultValue(DemoOptions.DefaultNumClassImages)]
        public int? NumClassImages { get; init; }

        [CommandOption("--max-train-steps <N>"), Description("Optimizer steps per fine-tuning run."), DefaultValue(DemoOptions.DefaultMaxTrainSteps)]
        public int? MaxTrainSteps { get; init; }

        [CommandOption("--train-batch-size <N>"), Description("Instance (and class) examples per step."), DefaultValue(DemoOptions.DefaultTrainBatchSize)]
        public int? TrainBatchSize { get; init; }

        [CommandOption("--learning-rate <LR>"), Description("UNet learning rate."), DefaultValue(DemoOptions.DefaultLearningRate)]
        public double? LearningRate { get; init; }

        [CommandOption("--text-encoder-lr <LR>"), Description("Text-encoder learning rate."), DefaultValue(DemoOptions.DefaultTextEncoderLearningRate)]
        public double? TextEncoderLr { get; init; }

        [CommandOption("--no-train-text-encoder"), Description("Keep the text encoder frozen (fine-tune the UNet only).")]
        public bool NoTrainTextEncoder { get; init; }

        [CommandOption("--prior-loss-weight <W>"), Description("λ of the prior-preservation loss."), DefaultValue(DemoOptions.DefaultPriorLossWeight)]
        public double? PriorLossWeight { get; init; }

        [CommandOption("--images-per-prompt <N>"), Description("Images per evaluation prompt."), DefaultValue(DemoOptions.DefaultImagesPerPrompt)]
        public int? ImagesPerPrompt { get; init; }

        [CommandOption("--class-prompt-images <N>"), Description("Class-prompt images per model (PRES)."), DefaultValue(DemoOptions.DefaultClassPromptImages)]
        public int? ClassPromptImages { get; init; }

        [CommandOption("--steps <N>"), Description("Sampling steps per image."), DefaultValue(DemoOptions.DefaultInferenceSteps)]
        public int? Steps { get; init; }

        [CommandOption("--guidance-scale <G>"), Description("Classifier-free guidance scale."), DefaultValue(DemoOptions.DefaultGuidanceScale)]
        public double? GuidanceScale { get; init; }

        [CommandOption("--seed <N>"), Description("Seed of class images, training and generated images."), DefaultValue(DemoOptions.DefaultSeed)]
        public long? Seed { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var options = ToOptions(s);
        options.Validate();
        DemoResult result = null!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                var progress = new SyncProgress<DemoProgress>(p =>
                {
                    if (!tasks.TryGetValue(p.Phase, out var task)) tasks[p.Phase] = task = ctx.AddTask(Markup.Escape(p.Phase), maxValue: Math.Max(1, p.Total));
                    task.MaxValue = Math.Max(1, p.Total);
                    task.Value = Math.Min(p.Done, task.MaxValue);
                    task.Description = Markup.Escape(p.Detail is null ? p.Phase : $"{p.Phase}  {p.Detail}");
                    ctx.Refresh();
                });
                result = new DreamBoothDemo(options, progress, ProgressDisplay.Warn, ProgressDisplay.Note).Run(cancellationToken);
            });

        var table = new Table().AddColumn("model").AddColumn(new TableColumn("subject fidelity").RightAligned())
            .AddColumn(new TableColumn("% of ceiling").RightAligned()).AddColumn(new TableColumn("prompt fidelity").RightAligned())
            .AddColumn(new TableColumn("PRES ↓").RightAligned()).AddColumn(new TableColumn("DIV ↑").RightAligned());
        table.AddRow("real photos (ceiling)", EvaluationReport.F(result.RealCeiling), "100 %", "", "", "");
        foreach (var v in result.Variants)
            table.AddRow(Markup.Escape(v.Name), EvaluationReport.F(v.Report.SubjectFidelity),
                v.Report.SubjectFidelityRatio is { } r ? $"{r * 100:0.0} %" : "–", EvaluationReport.F(v.Report.PromptFidelity),
                EvaluationReport.F(v.Report.Pres), EvaluationReport.F(v.Report.Diversity));
        AnsiConsole.Write(table);
        foreach (var t in result.Targets)
            AnsiConsole.MarkupLine($"{(t.Met is null ? "[grey]–[/]" : t.Met.Value ? "[green]met[/]" : "[red]not met[/]")}  {Markup.Escape($"{t.Name}: {t.Measured} (goal {t.Goal})")}");
        AnsiConsole.MarkupLineInterpolated($"[green]done[/] in {result.TotalSeconds:0} s: {Path.Combine(result.OutputDir, DreamBoothDemo.ContactSheetFile)}, {Path.Combine(result.OutputDir, DreamBoothDemo.MetricsMarkdownFile)}, {Path.Combine(result.OutputDir, DreamBoothDemo.MetricsJsonFile)}");
        return 0;
    }

    /// <summary>The library options for the parsed flags (unset flags keep the tuned defaults of <see cref="DemoOptions"/>).</summary>
    internal static DemoOptions ToOptions(Settings s) => new()
    {
        OutputDir = s.Output,
        Overwrite = s.Overwrite,
        AblatePrior = s.AblatePrior,
        ModelPath = s.Model,
        SamplesDir = s.Samples,
        ProbeDir = s.Probe,
        Identifier = s.Identifier,
        InstancePromptTemplate = s.InstancePrompt,
        ClassNoun = s.ClassNoun ?? Defaults.ClassNoun,
        NumClassImages = s.NumClassImages ?? Defaults.NumClassImages,
        MaxTrainSteps = s.MaxTrainSteps ?? Defaults.MaxTrainSteps,
        TrainBatchSize = s.TrainBatchSize ?? Defaults.TrainBatchSize,
        LearningRate = s.LearningRate ?? Defaults.LearningRate,
        TextEncoderLearningRate = s.TextEncoderLr ?? Defaults.TextEncoderLearningRate,
        TrainTextEncoder = !s.NoTrainTextEncoder && Defaults.TrainTextEncoder,
        PriorLossWeight = s.PriorLossWeight ?? Defaults.PriorLossWeight,
        ImagesPerPrompt = s.ImagesPerPrompt ?? Defaults.ImagesPerPrompt,
        ClassPromptImages = s.ClassPromptImages ?? Defaults.ClassPromptImages,
        InferenceSteps = s.Steps ?? Defaults.InferenceSteps,
        GuidanceScale = s.GuidanceScale ?? Defaults.GuidanceScale,
        Seed = s.Seed ?? Defaults.Seed,
    };
}
