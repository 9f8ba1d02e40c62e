using System.Globalization;
using System.Text.RegularExpressions;
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

    /// <summary>SIGTERMs this soon after the first are the same request (delivered twice), not a demand to abort.</summary>
    private const long RepeatedTermMilliseconds = 3000;

    /// <summary>SIGINTs this soon after the first are the same request: a group-wide SIGINT can arrive twice at once
    /// (`timeout` passing it on, the re-exec parent forwarding it); a person's second Ctrl-C comes later.</summary>
    private const long RepeatedInterruptMilliseconds = 500;

    /// <summary>
    /// One stop signal's rule: the first asks the running command to stop cleanly (e.g. save a checkpoint) and says so;
    /// repeats within <paramref name="windowMilliseconds"/> are the same request; a later one gets the default action
    /// (the process ends at once: a clean stop that hangs can still be ended).
    /// </summary>
    private sealed class StopSignal(CancellationTokenSource cts, long windowMilliseconds, string message)
    {
        private long _first;

        /// <summary>Handles one delivery; true when the default action (ending the process) is to be suppressed.</summary>
        public bool Handle()
        {
            long now = Environment.TickCount64;
            if (cts.IsCancellationRequested) return now - Interlocked.Read(ref _first) < windowMilliseconds;
            Interlocked.Exchange(ref _first, now);
            Console.Error.WriteLine(message);
            cts.Cancel();
            return true;
        }
    }

    public static async Task<int> RunAsync(string[] args, CliServices? services = null)
    {
        using var cts = new CancellationTokenSource();
        var interrupt = new StopSignal(cts, RepeatedInterruptMilliseconds, "Stopping (Ctrl-C again to abort at once)...");
        ConsoleCancelEventHandler onCancel = (_, e) => e.Cancel = interrupt.Handle();
        Console.CancelKeyPress += onCancel;
        // SIGTERM (`kill`; background jobs ignore SIGINT) stops the same clean way as a first Ctrl-C; SIGTERMs within a few
        // seconds of the first count as one (a group-wide SIGTERM can arrive twice: directly and through the re-exec parent).
        var terminate = new StopSignal(cts, RepeatedTermMilliseconds, "Terminating: stopping cleanly...");
        using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM,
            ctx => ctx.Cancel = terminate.Handle());
        try
        {
            return await Create(services).RunAsync(args, cts.Token);
        }
        catch (Exception ex)
        {
            return ReportError(ex, args);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Builds the command tree; also used by tests to run commands in-process (with their own <paramref name="services"/>).</summary>
    public static CommandApp Create(CliServices? services = null)
    {
        var app = new CommandApp(new ServiceRegistrar(services ?? CliServices.Default));
        app.Configure(c =>
        {
            c.SetApplicationName("dreambooth");
            c.PropagateExceptions();
            c.UseStrictParsing(); // an unknown flag is an error, not an ignored extra argument
            c.SetInterceptor(new MissingValueCheck());
            c.AddCommand<DemoCommand>("demo")
                .WithDescription("DreamBooth end to end on the embedded tiny model and the subject in samples/: class images, fine-tuning, renders, the paper's metrics.")
                .WithExample("demo", "--ablate-prior");
            c.AddCommand<InfoCommand>("info").WithDescription("Show versions, threads, allocator and device.");
            c.AddCommand<GenerateCommand>("generate")
                .WithDescription("Generate images from a prompt with a Stable Diffusion model folder; PNGs carry their parameters.")
                .WithExample("generate", "--model", "out/", "--prompt", "\"a photo of sks dog on the beach\"", "--num-images", "4", "--seed", "1", "--output", "images/");
            c.AddBranch("tiny-world", w =>
            {
                w.SetDescription("The procedural world of the embedded tiny model.");
                w.AddCommand<TinyWorldRenderCommand>("render").WithDescription("Render dataset scenes with captions and a contact sheet.");
                w.AddCommand<TinyWorldSamplesCommand>("samples").WithDescription("Regenerate the demo subject's photos (samples/).");
                w.AddCommand<TinyWorldPretrainCommand>("pretrain").WithDescription("Train the tiny world's Stable Diffusion model from scratch (VAE, text encoder, UNet).");
                w.AddCommand<TinyWorldHeldOutCommand>("heldout").WithDescription("Measure a model's class and context accuracy on caption combinations held out of pretraining.");
            });
            c.AddBranch("probe", p =>
            {
                p.SetDescription("The evaluation probe (a small CNN trained on tiny-world renders).");
                p.AddCommand<ProbeTrainCommand>("train").WithDescription("Train the probe and write a probe folder.");
            });
            c.AddCommand<TrainCommand>("train").WithDescription("Fine-tune a Stable Diffusion model on photos of a subject (DreamBooth, full or LoRA).");
            c.AddCommand<ClassImagesCommand>("class-images").WithDescription("Generate the prior-preservation class images with the frozen model (resumable).");
            c.AddCommand<IdentifiersCommand>("identifiers").WithDescription("Suggest rare single-token identifiers for a model's tokenizer (the paper's recipe).");
            c.AddCommand<BenchCommand>("bench")
                .WithDescription("Speed and memory at Stable Diffusion scale (random weights): training steps, guided step, image; table + JSON.")
                .WithExample("bench", "--quick")
                .WithExample("bench", "--config", "sd15", "--output", "bench-out/bench.json");
            c.AddCommand<EvaluateCommand>("evaluate").WithDescription("Subject fidelity, prompt fidelity, PRES and DIV of generated images (tiny world).");
        });
        return app;
    }

    /// <summary>
    /// Prints one line for an exception and returns the exit code that goes with it. With the command line
    /// <paramref name="args"/>, a value Spectre could not convert is reported with the option that carried it.
    /// </summary>
    public static int ReportError(Exception ex, IReadOnlyList<string>? args = null)
    {
        if (ex is CommandRuntimeException or CommandParseException && args is not null && ConversionError(ex.Message, args) is { } conversion)
        {
            Console.Error.WriteLine("error: " + conversion + " (see --help)");
            return ExitBadInput;
        }
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
            // A path from the command line that cannot be created, read or written (a file in the way, no permission,
            // a read-only or virtual file system): the user's to fix, not an internal error.
            case UnauthorizedAccessException or IOException:
                Console.Error.WriteLine("error: " + OneLine(ex.Message));
                return ExitBadInput;
            // The machine has too little memory for what was asked (libtorch's allocator, or .NET's): the size or batch is
            // the user's to change; the native stack trace helps nobody.
            case OutOfMemoryException:
            case System.Runtime.InteropServices.ExternalException when ex.Message.Contains("can't allocate memory", StringComparison.Ordinal):
                var bytes = Regex.Match(ex.Message, @"allocate (\d+) bytes");
                Console.Error.WriteLine("error: out of memory" + (bytes.Success ? string.Create(CultureInfo.InvariantCulture, $" (an allocation of {double.Parse(bytes.Groups[1].Value, CultureInfo.InvariantCulture) / 1e9:0.00} GB failed)") : "") +
                                        ": choose a smaller size, batch size or image count");
                // .NET also throws OutOfMemoryException for some programming errors (an array too large): keep the trace at hand.
                if (Environment.GetEnvironmentVariable("DREAMBOOTH_DEBUG") is { Length: > 0 }) Console.Error.WriteLine(ex);
                return ExitBadInput;
            default:
                Console.Error.WriteLine($"internal error: {ex.GetType().Name}: {OneLine(WithoutNativeFrames(ex.Message))}");
                if (Environment.GetEnvironmentVariable("DREAMBOOTH_DEBUG") is { Length: > 0 }) Console.Error.WriteLine(ex);
                return ExitInternal;
        }
    }

    // Spectre says "Failed to convert 'abc' to Double." without the option; find the option in the arguments.
    private static string? ConversionError(string message, IReadOnlyList<string> args)
    {
        var m = Regex.Match(message, @"^Failed to convert '(.*)' to (\S+)\.$", RegexOptions.Singleline);
        if (!m.Success) return null;
        string value = m.Groups[1].Value;
        string type = m.Groups[2].Value;
        string what = type switch
        {
            "Double" or "Single" or "Decimal" => "a number",
            "Int32" or "Int64" or "Int16" or "UInt32" or "UInt64" => "a whole number",
            "Nullable`1" => "a number", // Spectre names no inner type; the optional options of this CLI are numbers
            var t => "a " + t,
        };
        // A whole number that did not fit: say so, with the limit when the type is known (a Nullable's inner type is not
        // named, but a double takes any whole number, so it was an integer option).
        string problem = $"is not {what}";
        if (System.Numerics.BigInteger.TryParse(value, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out _))
        {
            string? range = type switch
            {
                "Int32" => $"{int.MinValue} to {int.MaxValue}",
                "Int64" => $"{long.MinValue} to {long.MaxValue}",
                "Int16" => $"{short.MinValue} to {short.MaxValue}",
                "UInt32" => $"0 to {uint.MaxValue}",
                "UInt64" => $"0 to {ulong.MaxValue}",
                _ => null,
            };
            if (range is not null || type == "Nullable`1") problem = range is null ? "is out of range" : $"is out of range ({range})";
        }
        for (int i = 0; i < args.Count; i++)
        {
            if (i + 1 < args.Count && args[i].StartsWith('-') && args[i + 1] == value) return $"{args[i]}: '{value}' {problem}";
            if (args[i].StartsWith('-') && (args[i].EndsWith("=" + value) || args[i].EndsWith(":" + value)))
                return $"{args[i][..(args[i].Length - value.Length - 1)]}: '{value}' {problem}";
        }
        return $"'{value}' {problem}";
    }

    // libtorch appends its C++ stack ("frame #0: ..." or "Exception raised from ...") to the message.
    private static string WithoutNativeFrames(string message)
    {
        int cut = message.Length;
        foreach (var marker in new[] { " frame #0", "\nframe #0", "Exception raised from" })
        {
            int i = message.IndexOf(marker, StringComparison.Ordinal);
            if (i > 0) cut = Math.Min(cut, i);
        }
        return message[..cut].TrimEnd();
    }

    private static string OneLine(string s) => string.Join(" ", s.Split(new[] { '\r', '\n' }, StringSplitOptions.RemoveEmptyEntries).Select(x => x.Trim()));
}
