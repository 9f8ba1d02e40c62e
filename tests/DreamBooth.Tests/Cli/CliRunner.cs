using DreamBooth.Cli;

namespace DreamBooth.Tests.Cli;

/// <summary>Runs the `dreambooth` command line in-process and captures what it prints on stderr.</summary>
internal static class CliRunner
{
    private static readonly SemaphoreSlim Gate = new(1, 1); // Console.Error is process-wide

    public static (int ExitCode, string Error) Run(params string[] args) => Capture(() => CliApp.RunAsync(args).GetAwaiter().GetResult());

    /// <summary>Runs <paramref name="action"/> with stderr captured.</summary>
    public static (int ExitCode, string Error) Capture(Func<int> action)
    {
        Gate.Wait();
        var original = Console.Error;
        var error = new StringWriter();
        try
        {
            Console.SetError(error);
            int code = action();
            return (code, error.ToString());
        }
        finally
        {
            Console.SetError(original);
            Gate.Release();
        }
    }
}
