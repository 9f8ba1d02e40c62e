using DreamBooth.Cli.Commands;
using Spectre.Console;
using Spectre.Console.Cli;

namespace DreamBooth.Cli;

/// <summary>The `dreambooth` command line: a thin shell over the library. Exit codes: 0 ok, 1 internal error, 2 bad input, 130 cancelled.</summary>
public static class CliApp
{
    public const int ExitBadInput = 2;
    public const int ExitInternal = 1;
    public const int ExitCancelled = 130;

    public static async Task<int> RunAsync(string[] args)
    {
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            // First Ctrl-C: ask the running command to stop cleanly (e.g. save a checkpoint). Second: default (kill).
            if (cts.IsCancellationRequested) return;
            e.Cancel = true;
            Console.Error.WriteLine("Stopping (Ctrl-C again to abort at once)...");
            cts.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        // SIGTERM (`kill`; background jobs ignore SIGINT) stops the same clean way as a first Ctrl-C, e.g. after a checkpoint.
        using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx =>
        {
            if (cts.IsCancellationRequested) return;
            ctx.Cancel = true;
            Console.Error.WriteLine("Terminating: stopping cleanly...");
            cts.Cancel();
        });
        try
        {
            return await Create().RunAsync(args, cts.Token);
        }
        catch (Exception ex)
        {
            return ReportError(ex);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Builds the command tree; also used by tests to run commands in-process.</summary>
    public static CommandApp Create()
    {
        var app = new CommandApp();
        app.Configure(c =>
        {
            c.SetApplicationName("dreambooth");
            c.PropagateExceptions();
            c.AddCommand<InfoCommand>("info").WithDescription("Show versions, threads, allocator and device.");
            c.AddBranch("tiny-world", w =>
            {
                w.SetDescription("The procedural world of the embedded tiny model.");
                w.AddCommand<TinyWorldPretrainCommand>("pretrain").WithDescription("Train the tiny world's Stable Diffusion model from scratch (VAE, text encoder, UNet).");
            });
            c.AddCommand<IdentifiersCommand>("identifiers").WithDescription("Suggest rare single-token identifiers for a model's tokenizer (the paper's recipe).");
        });
        return app;
    }

    /// <summary>Prints one line for an exception and returns the exit code that goes with it.</summary>
    public static int ReportError(Exception ex)
    {
        switch (ex)
        {
            case OperationCanceledException:
                Console.Error.WriteLine("Cancelled.");
                return ExitCancelled;
            case DreamBoothException:
                Console.Error.WriteLine("error: " + OneLine(ex.Message));
                return ExitBadInput;
            case CommandParseException or CommandRuntimeException:
                Console.Error.WriteLine("error: " + OneLine(ex.Message) + " (see --help)");
                return ExitBadInput;
            default:
                Console.Error.WriteLine($"internal error: {ex.GetType().Name}: {OneLine(ex.Message)}");
                if (Environment.GetEnvironmentVariable("DREAMBOOTH_DEBUG") is { Length: > 0 }) Console.Error.WriteLine(ex);
                return ExitInternal;
        }
    }

    private static string OneLine(string s) => string.Join(" ", s.Split(new[] { '\r', '\n' }, StringSplitOptions.RemoveEmptyEntries).Select(x => x.Trim()));
}
