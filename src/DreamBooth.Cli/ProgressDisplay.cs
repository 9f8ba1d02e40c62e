using Spectre.Console;
using Spectre.Console.Rendering;

namespace DreamBooth.Cli;

/// <summary>The progress bar every long-running command shows: description, bar, percentage, rate, elapsed time and ETA.</summary>
internal static class ProgressDisplay
{
    /// <summary>Runs <paramref name="work"/> with one progress task of <paramref name="total"/> units named <paramref name="unit"/> ("img", "step").</summary>
    public static T Run<T>(string description, double total, string unit, Func<ProgressTask, T> work) =>
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new RateColumn(unit), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx => work(ctx.AddTask(description, maxValue: total)));

    /// <summary>Items per second from Spectre's running speed estimate.</summary>
    private sealed class RateColumn(string unit) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(task.Speed is { } s ? $"{s:0.0} {unit}/s" : $"- {unit}/s", new Style(Color.Grey));
    }
}
