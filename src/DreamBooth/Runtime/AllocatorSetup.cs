using System.Diagnostics;

namespace DreamBooth.Runtime;

/// <summary>
/// Applies the allocator fix from ENVIRONMENT.md §2 to the current program. Freshly allocated native memory is slow
/// to touch on these machines and glibc hands large blocks back to the kernel, so every large temporary faults again
/// on every step. The fix must be in the environment before the process starts, so a program that finds it missing
/// starts itself again with it set (once; a marker variable prevents loops).
/// </summary>
public static class AllocatorSetup
{
    /// <summary>Set in the child so that it does not re-execute again.</summary>
    public const string MarkerVariable = "DREAMBOOTH_ALLOCATOR";

    private static readonly string[] JemallocCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
        "/usr/lib64/libjemalloc.so.2",
        "/usr/lib/libjemalloc.so.2",
    };

    /// <summary>The environment variables that fix the allocator here: jemalloc where installed, else glibc huge pages.</summary>
    public static IReadOnlyDictionary<string, string> Variables()
    {
        var vars = new Dictionary<string, string>();
        var jemalloc = JemallocCandidates.FirstOrDefault(File.Exists);
        if (jemalloc is not null)
        {
            vars["LD_PRELOAD"] = jemalloc;
            vars["MALLOC_CONF"] = "dirty_decay_ms:-1,muzzy_decay_ms:-1";
            vars[MarkerVariable] = "jemalloc";
        }
        else
        {
            vars["GLIBC_TUNABLES"] = "glibc.malloc.hugetlb=1";
            vars[MarkerVariable] = "glibc-hugetlb";
        }
        return vars;
    }

    /// <summary>
    /// On Linux, when the allocator fix is not yet in effect, runs this same program again with it and returns the
    /// child's exit code; otherwise returns null and the caller goes on. Set DREAMBOOTH_ALLOCATOR=off to skip.
    /// </summary>
    public static int? ReExecIfNeeded()
    {
        if (!OperatingSystem.IsLinux()) return null;
        if (Environment.GetEnvironmentVariable(MarkerVariable) is { Length: > 0 }) return null;
        var tunables = Environment.GetEnvironmentVariable("GLIBC_TUNABLES") ?? "";
        if (tunables.Contains("hugetlb") || (Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "").Contains("jemalloc"))
            return null;
        var exe = Environment.ProcessPath;
        if (exe is null) return null;

        var psi = new ProcessStartInfo(exe) { UseShellExecute = false };
        var args = Environment.GetCommandLineArgs();
        // Under `dotnet app.dll`, ProcessPath is dotnet and args[0] is the dll; under the apphost, args[0] is the host.
        bool viaDotnet = Path.GetFileNameWithoutExtension(exe).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
        if (viaDotnet) psi.ArgumentList.Add(args[0]);
        foreach (var a in args.Skip(1)) psi.ArgumentList.Add(a);
        foreach (var (k, v) in Variables()) psi.Environment[k] = v;

        // The terminal sends Ctrl-C to the whole process group: the child handles it; this parent just waits.
        ConsoleCancelEventHandler ignore = (_, e) => e.Cancel = true;
        Console.CancelKeyPress += ignore;
        try
        {
            using var child = Process.Start(psi);
            if (child is null) return null;
            child.WaitForExit();
            return child.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // cannot start ourselves again: run as is, only slower
        }
        finally
        {
            Console.CancelKeyPress -= ignore;
        }
    }
}
