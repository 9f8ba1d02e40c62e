using DreamBooth.Fuzz;
using SharpFuzz;

// The AFL++ harness for the library's parsers (run through ../../fuzz, which builds, instruments and starts afl-fuzz):
//   instrument <DreamBooth.dll>       adds AFL edge-coverage probes to the library (SharpFuzz), in place
//   seeds <target> <dir>              writes the seed corpus of a target
//   run <target> [input file]         the AFL++ persistent-mode loop: every input through FuzzTargets.RunChecked, read
//                                     from the file afl-fuzz names (@@) or else from stdin
//   replay <target> <file|dir>...     runs saved inputs (crashes, hangs, a corpus) once each and prints every outcome
//   list                              the targets
// Instrumented code records every branch into SharpFuzz's trace buffer. Under afl-fuzz, Fuzzer.Run points it at the
// fuzzer's shared memory; until then (workspace set-up) and in every other mode it needs a private buffer.
TraceBuffer.Allocate();

switch (args.FirstOrDefault())
{
    case "instrument" when args.Length == 2:
        Instrument(args[1]);
        return 0;
    case "seeds" when args.Length == 3:
        Seeds.Write(FuzzTargets.Find(args[1]), args[2]);
        return 0;
    case "run" when args.Length is 2 or 3:
    {
        var target = FuzzTargets.Find(args[1]);
        using var workspace = new FuzzWorkspace();
        // Warm-up: run the seeds once so that the JIT and libtorch's lazy set-up happen before afl-fuzz times the first
        // input (without it, inputs that first touch a torch code path fail AFL's dry run with "no instrumentation").
        foreach (var (_, seed) in Seeds.For(target.Name)) FuzzTargets.RunChecked(target, seed, workspace);
        // Persistent mode: one process runs input after input; an exception escaping the action is an AFL++ crash.
        var trace = Environment.GetEnvironmentVariable("FUZZ_TRACE");
        Fuzzer.Run(stream =>
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            byte[] input;
            if (args.Length == 3) input = File.ReadAllBytes(args[2]);
            else
            {
                using var buffer = new MemoryStream();
                stream.CopyTo(buffer);
                input = buffer.ToArray();
            }
            try { FuzzTargets.RunChecked(target, input, workspace); }
            finally { if (trace is not null) File.AppendAllText(trace, $"{input.Length} bytes, {clock.ElapsedMilliseconds} ms\n"); }
        });
        return 0;
    }
    case "replay" when args.Length >= 3:
        return Replay(FuzzTargets.Find(args[1]), args[2..]);
    case "coverage" when args.Length == 3:
    {
        // How many trace-map bytes one input touches (a sanity check of the instrumentation).
        using var workspace = new FuzzWorkspace();
        var before = TraceBuffer.Count();
        TraceBuffer.Clear();
        var message = FuzzTargets.RunChecked(FuzzTargets.Find(args[1]), File.ReadAllBytes(args[2]), workspace);
        Console.WriteLine($"{TraceBuffer.Count()} map entries touched (set-up: {before}); {message ?? "ok"}");
        return 0;
    }
    case "list":
        foreach (var t in FuzzTargets.All) Console.WriteLine($"{t.Name,-12} {t.Description}");
        return 0;
    default:
        Console.Error.WriteLine("usage: DreamBooth.Fuzz instrument <dll> | seeds <target> <dir> | run <target> | replay <target> <file|dir>... | list");
        return 2;
}

static void Instrument(string dll)
{
    // Only the library's own code is instrumented; System.Text.Json, TorchSharp and the BCL are not.
    var types = Fuzzer.Instrument(dll, type => type.StartsWith("DreamBooth.", StringComparison.Ordinal), Options.Value);
    Console.WriteLine($"instrumented {types.Count()} types in {dll}");
}

static int Replay(FuzzTarget target, string[] paths)
{
    using var workspace = new FuzzWorkspace();
    int findings = 0;
    var files = paths.SelectMany<string, string>(p => Directory.Exists(p) ? Directory.EnumerateFiles(p).Where(f => !Path.GetFileName(f).StartsWith("README", StringComparison.Ordinal)).Order() : new[] { p });
    foreach (var file in files)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            var message = FuzzTargets.RunChecked(target, File.ReadAllBytes(file), workspace);
            Console.WriteLine($"{Path.GetFileName(file)}: {(message is null ? "ok" : "DreamBoothException: " + message)} ({started.ElapsedMilliseconds} ms)");
        }
        catch (Exception e)
        {
            findings++;
            Console.WriteLine($"{Path.GetFileName(file)}: FINDING {e.GetType().FullName}: {e.Message}");
            Console.WriteLine(e.StackTrace);
        }
    }
    return findings == 0 ? 0 : 1;
}

internal static class TraceBuffer
{
    private const int Size = 1 << 16;

    public static unsafe void Allocate() => SharpFuzz.Common.Trace.SharedMem = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(Size);

    public static unsafe void Clear() => new Span<byte>(SharpFuzz.Common.Trace.SharedMem, Size).Clear();

    public static unsafe int Count()
    {
        int n = 0;
        foreach (var b in new ReadOnlySpan<byte>(SharpFuzz.Common.Trace.SharedMem, Size)) if (b != 0) n++;
        return n;
    }
}
