using DreamBooth.Training;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace DreamBooth.Cli;

/// <summary>
/// The live display of training commands: one progress bar per phase (class images, caching, training, validation,
/// saving), the training bar showing step, loss, learning rate, it/s and ETA. The library reports through
/// <see cref="IProgress{TrainingProgress}"/>; this turns reports into Spectre.Console progress tasks.
/// </summary>
internal static class ProgressDisplay
{
    /// <summary>Runs <paramref name="work"/> with a display it reports to.</summary>
    public static void Run(Action<IProgress<TrainingProgress>> work) =>
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx => work(new Reporter(ctx)));

    /// <summary>
    /// Runs <paramref name="work"/> with one progress task of <paramref name="total"/> units named <paramref name="unit"/>
    /// ("img", "step"): description, bar, percentage, rate, elapsed time and ETA.
    /// </summary>
    public static T Run<T>(string description, double total, string unit, Func<ProgressTask, T> work) =>
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new RateColumn(unit), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx => work(ctx.AddTask(description, maxValue: total)));

    /// <summary>
    /// Prints a warning line. Into a file or pipe it goes to stderr, whole (as generate's and the errors do; Spectre would
    /// hard-wrap it at 80 columns on stdout, so `2&gt;log` missed it and a grep found half); on a terminal it goes through
    /// Spectre, in yellow, so that it lands above a live progress display instead of through it.
    /// </summary>
    public static void Warn(string message)
    {
        if (Console.IsOutputRedirected || Console.IsErrorRedirected) Console.Error.WriteLine("warning: " + message.ReplaceLineEndings(" "));
        else AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] {message}");
    }

    /// <summary>Prints a note: on stdout, whole when that is a file or pipe (see <see cref="Warn"/>), grey on a terminal.</summary>
    public static void Note(string message)
    {
        if (Console.IsOutputRedirected) Console.Out.WriteLine(message.ReplaceLineEndings(" "));
        else AnsiConsole.MarkupLineInterpolated($"[grey]{message}[/]");
    }

    private sealed class Reporter(ProgressContext context) : IProgress<TrainingProgress>
    {
        private readonly Dictionary<TrainingPhase, ProgressTask> _tasks = [];

        public void Report(TrainingProgress p)
        {
            if (!_tasks.TryGetValue(p.Phase, out var task))
                _tasks[p.Phase] = task = context.AddTask(Name(p.Phase), maxValue: Math.Max(1, p.Total));
            task.MaxValue = Math.Max(1, p.Total);
            task.Value = Math.Min(p.Done, task.MaxValue);
            if (p.Phase == TrainingPhase.Training)
                task.Description = Markup.Escape($"step {p.Done}/{p.Total}  loss {p.SmoothedLoss:0.0000}  lr {p.LearningRate:0.##e+0}  " +
                                                 $"{p.StepsPerSecond:0.00} it/s  ETA {Format(p.Eta)}");
            if (p.Phase == TrainingPhase.Validation) task.Description = $"validation (step {p.Done})";
            context.Refresh();
        }

        private static string Name(TrainingPhase phase) => phase switch
        {
            TrainingPhase.ClassImages => "class images",
            TrainingPhase.Caching => "encoding images",
            TrainingPhase.Training => "training",
            TrainingPhase.Validation => "validation",
            _ => "saving",
        };

        private static string Format(TimeSpan? t) => t is not { } v ? "-" : v.TotalHours >= 1 ? $"{(int)v.TotalHours}:{v:mm\\:ss}" : $"{v:mm\\:ss}";
    }

    /// <summary>Items per second from Spectre's running speed estimate.</summary>
    private sealed class RateColumn(string unit) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(task.Speed is { } s ? $"{s:0.0} {unit}/s" : $"- {unit}/s", new Style(Color.Grey));
    }
}
