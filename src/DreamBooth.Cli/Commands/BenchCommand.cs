using System.ComponentModel;
using System.Globalization;
using DreamBooth.Benchmarks;
using DreamBooth.IO;
using DreamBooth.Runtime;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace DreamBooth.Cli.Commands;

/// <summary>
/// `dreambooth bench`: speed and memory at real Stable Diffusion scale with random weights (no download): matmul peak,
/// DreamBooth training steps (full fp32 / bf16 mixed, with and without checkpointing, LoRA, text encoder), the guided
/// UNet step, a 25-step image and the tiny world's step rate. Prints a table and writes the same as JSON.
/// </summary>
public sealed class BenchCommand : Command<BenchCommand.Settings>
{
    /// <summary>Resolution, iterations and drift steps of <c>--quick</c>.</summary>
    public const int QuickResolution = 256, QuickIterations = 2, QuickDriftSteps = 10;

    public sealed class Settings : CommandSettings
    {
        [CommandOption("--config <NAME>"), Description("sd15, sd21, sdxl (published configs, embedded), or a diffusers folder whose configs are used (weights ignored)."), DefaultValue("sd15")]
        public string Config { get; init; } = "sd15";

        [CommandOption("--quick"), Description($"Reduced set in under 5 minutes: 256 px, 2 iterations, no full fine-tune, LoRA fp32 or fp32 image, 10 drift steps.")]
        public bool Quick { get; init; }

        [CommandOption("--cases <LIST>"), Description("Comma-separated cases to run (default: all, or the quick set).")]
        public string? Cases { get; init; }

        [CommandOption("--iterations <N>"), Description("Measured steps per case; the median is reported. Default 3 (quick: 2).")]
        public int? Iterations { get; init; }

        [CommandOption("--warmup <N>"), Description("Unmeasured steps before each case's measured ones."), DefaultValue(1)]
        public int Warmup { get; init; } = 1;

        [CommandOption("--threads <N>"), Description("Torch CPU threads; 0 = library default."), DefaultValue(0)]
        public int Threads { get; init; }

        [CommandOption("--resolution <PX>"), Description("Image side in pixels. Default 512 (quick: 256).")]
        public int? Resolution { get; init; }

        [CommandOption("--rss-drift-steps <N>"), Description("Training steps of the RSS drift case. Default 50 (quick: 10).")]
        public int? RssDriftSteps { get; init; }

        [CommandOption("--profile"), Description("Also print each training case's time split: data, forward, backward, optimizer.")]
        public bool Profile { get; init; }

        [CommandOption("-o|--output <FILE>"), Description("JSON report, written atomically."), DefaultValue("bench-out/bench.json")]
        public string Output { get; init; } = "bench-out/bench.json";

        public override ValidationResult Validate() =>
            Iterations is < 1 ? ValidationResult.Error($"--iterations {Iterations}: must be at least 1")
            : Warmup < 0 ? ValidationResult.Error($"--warmup {Warmup}: must be 0 or more")
            : TorchThreads.Check(Threads) is { } threads ? ValidationResult.Error(threads)
            : RssDriftSteps is < 2 ? ValidationResult.Error($"--rss-drift-steps {RssDriftSteps}: must be at least 2")
            : string.IsNullOrWhiteSpace(Output) ? ValidationResult.Error("--output: the path is empty")
            : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var options = ToOptions(settings);
        options.Validate();
        CheckOutput(settings.Output);
        if (settings.Threads > 0) set_num_threads(settings.Threads);

        BenchReport report = ProgressDisplay.Run("bench", options.Cases.Count, "case", task =>
        {
            var progress = new SyncProgress<BenchProgress>(p =>
            {
                task.Description = Markup.Escape($"{p.Case}: {p.Phase} {p.Step}/{p.Steps}");
                task.Value = p.CaseIndex + (p.Steps > 0 ? (double)p.Step / p.Steps : 0);
            });
            var r = new BenchRunner(options, progress).Run(cancellationToken);
            task.Description = "bench";
            task.Value = task.MaxValue;
            return r;
        });
        Print(report, settings.Profile);
        BenchTargets.Write(settings.Output, report);
        ProgressDisplay.Note($"wrote {settings.Output}");
        return 0;
    }

    /// <summary>The library options for these flags (quick defaults applied); throws on a bad --config or --cases.</summary>
    public static BenchOptions ToOptions(Settings s)
    {
        var models = BenchModels.Resolve(s.Config);
        var cases = s.Cases is null ? (s.Quick ? BenchCases.Quick : BenchCases.All)
            : s.Cases.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToList();
        return new BenchOptions
        {
            Models = models,
            Resolution = s.Resolution ?? (s.Quick ? QuickResolution : 512),
            Warmup = s.Warmup,
            Iterations = s.Iterations ?? (s.Quick ? QuickIterations : 3),
            RssDriftSteps = s.RssDriftSteps ?? (s.Quick ? QuickDriftSteps : 50),
            Cases = cases,
            Quick = s.Quick,
            Reduced = s.Quick ? $"--quick: {s.Resolution ?? QuickResolution} px instead of 512, {s.Iterations ?? QuickIterations} iterations, " +
                                $"{s.RssDriftSteps ?? QuickDriftSteps} drift steps, cases {string.Join(",", cases)} (no full fine-tune, no fp32 image)" : null,
        };
    }

    // The report must be writable: refuse a folder, or a path under a file, before minutes of work.
    private static void CheckOutput(string output)
    {
        var full = Path.GetFullPath(output);
        if (Directory.Exists(full)) throw new DreamBoothException($"--output {output}: is a folder; give a file path such as {Path.Combine(output, "bench.json")}");
        AtomicFile.CheckWritable(full, "--output", output); // also names a file standing where a folder of the path should be
    }

    private static void Print(BenchReport r, bool profile)
    {
        string F(double? v, string format) => v is double x && double.IsFinite(x) ? x.ToString(format, CultureInfo.InvariantCulture) : "-";
        var title = $"dreambooth bench --config {r.Config}: {r.Resolution} px, {r.Threads} threads, warm-up {r.Warmup}, {r.Iterations} iterations (median), allocator {r.Allocator ?? "glibc default"}";
        if (r.Reduced is not null) title += "\n" + r.Reduced;
        var table = new Table().Title(Markup.Escape(title))
            .AddColumn("case").AddColumn(new TableColumn("s/step").RightAligned()).AddColumn(new TableColumn("GFLOP/step").RightAligned())
            .AddColumn(new TableColumn("GFLOP/s").RightAligned()).AddColumn(new TableColumn("% of peak").RightAligned())
            .AddColumn(new TableColumn("peak RSS").RightAligned()).AddColumn("note");
        foreach (var c in r.Cases)
        {
            string note = c.Status == BenchCaseResult.Ok ? "" : $"{c.Status.ToUpperInvariant()}: {c.Reason}";
            if (c.Extra is { } extra)
                note += string.Join(", ", extra.Select(kv => kv.Key.EndsWith("_bytes", StringComparison.Ordinal)
                    ? $"{kv.Key[..^6]} {kv.Value / 1e9:0.00} GB" : $"{kv.Key} {kv.Value:0.00}"));
            table.AddRow(Markup.Escape(c.Name), F(c.SecondsPerStep, "0.000"), F(c.GflopPerStep, "0.0"), F(c.EffectiveGflops, "0.0"),
                F(c.ShareOfPeak * 100, "0"), c.PeakRssBytes is long b ? F(b / 1e9, "0.00") + " GB" : "-", Markup.Escape(note));
        }
        AnsiConsole.Write(table);
        foreach (var c in r.Cases) AnsiConsole.MarkupLineInterpolated($"  [grey]{c.Name}: {c.Description}[/]");
        AnsiConsole.MarkupLineInterpolated($"peak: fp32 {F(r.PeakGflopsFp32, "0")} GFLOP/s, bf16 {F(r.PeakGflopsBf16, "0")} GFLOP/s (matmul); GFLOP counts convolutions, linear layers and attention (backward 2× forward for trained weights)");

        var targets = new Table().Title("targets (issue 6)").AddColumn("target").AddColumn("goal").AddColumn("measured").AddColumn("met");
        foreach (var t in r.Targets)
            targets.AddRow(Markup.Escape(t.Name), Markup.Escape(t.Target), Markup.Escape(t.Measured), t.Met switch { true => "yes", false => "NO", null => "n/a" });
        AnsiConsole.Write(targets);

        if (!profile) return;
        var p = new Table().Title("training step profile (median seconds and share)").AddColumn("case");
        string[] phases = ["data", "forward", "backward", "optimizer"];
        foreach (var ph in phases) p.AddColumn(new TableColumn(ph).RightAligned());
        foreach (var c in r.Cases.Where(c => c.Profile is not null))
        {
            double total = c.Profile!.Values.Sum();
            p.AddRow([Markup.Escape(c.Name), .. phases.Select(ph => c.Profile.TryGetValue(ph, out var v) ? $"{v:0.000} ({100 * v / total:0}%)" : "-")]);
        }
        AnsiConsole.Write(p);
    }
}
