using System.ComponentModel;
using DreamBooth.Evaluation;
using DreamBooth.IO;
using Spectre.Console;
using Spectre.Console.Cli;

namespace DreamBooth.Cli.Commands;

/// <summary>`dreambooth evaluate`: the paper's metrics (subject fidelity, prompt fidelity, PRES, DIV) on tiny-world images, measured by the probe.</summary>
public sealed class EvaluateCommand : Command<EvaluateCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--real <DIR>"), Description("Real photos of the subject (e.g. samples/). Without it, only prompt metrics and DIV are computed.")]
        public string? Real { get; init; }

        [CommandOption("--generated <DIR>"), Description("Generated images of the subject; prompts from PNG 'parameters' text, NAME.txt or prompts.json.")]
        public string Generated { get; init; } = "";

        [CommandOption("--class-images <DIR>"), Description("Images generated from the class prompt alone (for PRES).")]
        public string? ClassImages { get; init; }

        [CommandOption("--probe <DIR>"), Description("Probe folder (default: the shipped models/probe).")]
        public string? Probe { get; init; }

        [CommandOption("-o|--output <FILE>"), Description("Write the metrics as JSON here, and as Markdown beside it (.md).")]
        public string? Output { get; init; }

        [CommandOption("--overwrite"), Description("Replace an existing --output file and its .md.")]
        public bool Overwrite { get; init; }

        public override ValidationResult Validate() =>
            string.IsNullOrWhiteSpace(Generated) ? ValidationResult.Error("--generated is required")
            : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        foreach (var (flag, dir) in new[] { ("--generated", s.Generated), ("--real", s.Real), ("--class-images", s.ClassImages), ("--probe", s.Probe) })
        {
            if (dir is null) continue;
            if (File.Exists(dir)) throw new DreamBoothException($"{flag} {dir}: is a file, expected a folder");
            if (!Directory.Exists(dir)) throw new DreamBoothException($"{flag} {dir}: folder not found");
        }
        if (s.Output is { } o) CheckOutput(o, s);
        using var probe = Probe.Load(s.Probe ?? Probe.DefaultDirectory);
        // This first listing also tells the user about skipped files (once: the evaluation lists the folders again).
        int total = PromptedImages.Read(s.Generated, requirePrompts: true, ProgressDisplay.Warn).Count
                    + (s.Real is null ? 0 : PromptedImages.Read(s.Real, false, ProgressDisplay.Warn).Count)
                    + (s.ClassImages is null ? 0 : PromptedImages.Read(s.ClassImages, false, ProgressDisplay.Warn).Count);
        var report = ProgressDisplay.Run("analysing images", total, "img", task =>
            DreamBoothEvaluator.EvaluateFolders(probe, s.Real, s.Generated, s.ClassImages, new Progress<int>(n => task.Value = n), cancellationToken));

        var table = new Table().AddColumn("metric").AddColumn(new TableColumn("value").RightAligned()).AddColumn("note");
        foreach (var (m, v, n) in report.Rows()) table.AddRow(Markup.Escape(m), v, Markup.Escape(n));
        AnsiConsole.Write(table);
        if (report.Prompts.Count > 1)
        {
            var per = new Table().AddColumn("prompt").AddColumn(new TableColumn("n").RightAligned()).AddColumn(new TableColumn("subject").RightAligned())
                .AddColumn(new TableColumn("prompt fid.").RightAligned()).AddColumn(new TableColumn("DIV").RightAligned()).AddColumn("predicted context");
            foreach (var p in report.Prompts)
                per.AddRow(Markup.Escape(p.Prompt), p.Images.ToString(), EvaluationReport.F(p.SubjectFidelity), EvaluationReport.F(p.PromptFidelity), EvaluationReport.F(p.Diversity), Markup.Escape(p.PredictedContexts));
            AnsiConsole.Write(per);
        }
        if (s.Output is { } output)
        {
            AtomicFile.WriteAllBytes(output, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(report, ConfigJson.Options));
            var md = Path.ChangeExtension(output, ".md");
            AtomicFile.WriteAllText(md, report.ToMarkdown());
            AnsiConsole.MarkupLineInterpolated($"Wrote [bold]{output}[/] and [bold]{md}[/]");
        }
        return 0;
    }

    // Checked before any image is analysed: the JSON and its Markdown sibling must be two new-or-replaceable files,
    // outside every input folder (an input PNG or the folder's README would otherwise be overwritten).
    private static void CheckOutput(string output, Settings s)
    {
        if (string.IsNullOrWhiteSpace(output)) throw new DreamBoothException("--output: the path is empty");
        var full = Path.GetFullPath(output);
        if (Directory.Exists(full)) throw new DreamBoothException($"--output {output}: must name a file (the metrics JSON), not a folder");
        if (string.Equals(Path.GetExtension(full), ".md", StringComparison.OrdinalIgnoreCase))
            throw new DreamBoothException($"--output {output}: names the JSON file; the Markdown is written beside it as .md (use e.g. metrics.json)");
        foreach (var (flag, dir) in new[] { ("--generated", s.Generated), ("--real", s.Real), ("--class-images", s.ClassImages) })
            if (dir is not null && StagedFolder.IsSameOrInside(full, dir))
                throw new DreamBoothException($"--output {output}: is inside {flag} {dir}; write the metrics elsewhere");
        if (!s.Overwrite)
            foreach (var path in new[] { full, Path.ChangeExtension(full, ".md") })
                if (File.Exists(path)) throw new DreamBoothException($"--output {output}: {path} already exists (use --overwrite to replace it)");
        AtomicFile.CheckWritable(full, "--output", output);
    }
}
