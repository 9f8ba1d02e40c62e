using System.Diagnostics;
using System.Runtime.InteropServices;

namespace DreamBooth.Runtime;

/// <summary>
/// Applies the allocator fix from ENVIRONMENT.md §2 to the current program. Freshly allocated native memory is slow
/// to touch on these machines and glibc hands large blocks back to the kernel, so every large temporary faults again
/// on every step. The fix must be in the environment before the process starts, so a program that finds it missing
/// starts itself again with it set (once; a marker variable prevents loops). The same goes for
/// <c>OMP_WAIT_POLICY=PASSIVE</c> (read when libtorch's OpenMP runtime loads), so idle OpenMP threads do not spin.
/// </summary>
public static class AllocatorSetup
{
    /// <summary>Set in the child so that it does not re-execute again: the allocator it was given, or <c>off</c> to skip the setup.</summary>
    public const string MarkerVariable = "DREAMBOOTH_ALLOCATOR";

    /// <summary>The OpenMP wait policy variable (read by the OpenMP runtime when libtorch loads).</summary>
    public const string OmpWaitPolicyVariable = "OMP_WAIT_POLICY";

    /// <summary>
    /// The wait policy set unless the user chose one: idle OpenMP threads sleep instead of spinning, which on a machine
    /// with 2 shared cores would take them from every other process (and from this one's own non-OpenMP work).
    /// </summary>
    public const string OmpWaitPolicy = "PASSIVE";

    /// <summary>jemalloc's settings: never hand freed pages back, so they are not faulted in again (ENVIRONMENT.md §2).</summary>
    public const string JemallocConf = "dirty_decay_ms:-1,muzzy_decay_ms:-1";

    /// <summary>The glibc tunable that backs malloc with transparent huge pages.</summary>
    public const string HugeTlbTunable = "glibc.malloc.hugetlb=1";

    private static readonly string[] JemallocCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
        "/usr/lib64/libjemalloc.so.2",
        "/usr/lib/libjemalloc.so.2",
    };

    /// <summary>
    /// The allocator fix this process runs with: <c>jemalloc</c> (preloaded), <c>glibc-hugetlb</c> (glibc with
    /// <see cref="HugeTlbTunable"/>), or null for glibc's default malloc. Both must be in the environment when the
    /// process starts, so this reads what the process started with.
    /// </summary>
    public static string? EffectiveAllocator()
    {
        if (JemallocLoaded()) return "jemalloc";
        var tunables = (Environment.GetEnvironmentVariable("GLIBC_TUNABLES") ?? "").Split(':');
        return tunables.Any(t => t.StartsWith("glibc.malloc.hugetlb=", StringComparison.Ordinal) && t != "glibc.malloc.hugetlb=0") ? "glibc-hugetlb" : null;
    }

    /// <summary>The environment variables behind <see cref="EffectiveAllocator"/> and the OpenMP wait policy, as NAME=value (unset ones left out).</summary>
    public static IReadOnlyList<string> EffectiveSettings() =>
        new[] { "LD_PRELOAD", "MALLOC_CONF", "GLIBC_TUNABLES", OmpWaitPolicyVariable, "OMP_NUM_THREADS" }
            .Select(name => (name, value: Environment.GetEnvironmentVariable(name)))
            .Where(v => !string.IsNullOrEmpty(v.value))
            .Select(v => $"{v.name}={v.value}")
            .ToList();

    /// <summary>
    /// The environment variables to add for this process to have the fix: for the allocator (unless one is in effect)
    /// jemalloc where installed, else glibc huge pages, each put in front of what the variable already holds; the
    /// marker; and <see cref="OmpWaitPolicy"/> unless <c>OMP_WAIT_POLICY</c> is set.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Variables()
    {
        var vars = new Dictionary<string, string>();
        string? Prepend(string name, string value, char separator) =>
            Environment.GetEnvironmentVariable(name) is { Length: > 0 } old ? value + separator + old : value;
        var allocator = EffectiveAllocator();
        if (allocator is null)
        {
            var jemalloc = JemallocCandidates.FirstOrDefault(File.Exists);
            if (jemalloc is not null)
            {
                vars["LD_PRELOAD"] = Prepend("LD_PRELOAD", jemalloc, ':')!;
                vars["MALLOC_CONF"] = JemallocConf;
                allocator = "jemalloc";
            }
            else
            {
                vars["GLIBC_TUNABLES"] = Prepend("GLIBC_TUNABLES", HugeTlbTunable, ':')!;
                allocator = "glibc-hugetlb";
            }
        }
        vars[MarkerVariable] = allocator;
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(OmpWaitPolicyVariable))) vars[OmpWaitPolicyVariable] = OmpWaitPolicy;
        return vars;
    }

    private const int SigInt = 2, SigTerm = 15, PrSetPdeathsig = 1;

    /// <summary>Set by the re-exec parent for its child: the parent's process id (see <see cref="TieToParent"/>).</summary>
    public const string ParentVariable = "DREAMBOOTH_REEXEC_PARENT";

    // POSIX kill(2): .NET's Process.Kill sends only SIGKILL.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    [DllImport("libc", EntryPoint = "getppid")]
    private static extern int GetParentPid();

    [DllImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static extern int Prctl(int option, nint arg2, nint arg3, nint arg4, nint arg5);

    /// <summary>
    /// In the child of <see cref="ReExecIfNeeded"/>: asks Linux to send this process SIGTERM when the parent dies, so that
    /// a parent killed with SIGKILL (which it cannot pass on) does not leave the work running as an orphan beside a rerun;
    /// the child then stops as for `kill` (a checkpoint, exit 130). Does nothing in any other process.
    /// </summary>
    public static void TieToParent()
    {
        if (!OperatingSystem.IsLinux()) return;
        if (!int.TryParse(Environment.GetEnvironmentVariable(ParentVariable), out int parent) || parent <= 1) return;
        if (GetParentPid() != parent) return; // not our re-exec parent's child (a variable inherited further down)
        _ = Prctl(PrSetPdeathsig, SigTerm, 0, 0, 0);
        // The parent may have died between our start and the call above; then no signal will come: stop now.
        if (GetParentPid() != parent) _ = SendSignal(Environment.ProcessId, SigTerm);
    }

    /// <summary>
    /// On Linux, when the allocator fix or the OpenMP wait policy is not yet in effect, runs this same program again
    /// with them and returns the child's exit code; otherwise returns null and the caller goes on. Set
    /// DREAMBOOTH_ALLOCATOR=off to skip (the <c>./dreambooth</c> launcher sets both and the marker itself).
    /// </summary>
    public static int? ReExecIfNeeded()
    {
        if (!OperatingSystem.IsLinux()) return null;
        if (Environment.GetEnvironmentVariable(MarkerVariable) is { Length: > 0 }) return null;
        if (EffectiveAllocator() is not null && !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(OmpWaitPolicyVariable))) return null;
        var exe = Environment.ProcessPath;
        if (exe is null) return null;

        var psi = new ProcessStartInfo(exe) { UseShellExecute = false };
        var args = Environment.GetCommandLineArgs();
        // Under `dotnet app.dll`, ProcessPath is dotnet and args[0] is the dll; under the apphost, args[0] is the host.
        bool viaDotnet = Path.GetFileNameWithoutExtension(exe).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
        if (viaDotnet) psi.ArgumentList.Add(args[0]);
        foreach (var a in args.Skip(1)) psi.ArgumentList.Add(a);
        foreach (var (k, v) in Variables()) psi.Environment[k] = v;
        psi.Environment[ParentVariable] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);

        // Ctrl-C in a terminal reaches the whole process group, child included; `kill -INT PID` reaches this parent
        // only. Either way it is passed on: the child treats SIGINTs close together as one, so the group-wide case counts once.
        int childPid = 0;          // 0: not started yet; -1: finished
        ConsoleCancelEventHandler ignore = (_, e) =>
        {
            e.Cancel = true;
            if (Volatile.Read(ref childPid) is > 0 and var pid) _ = SendSignal(pid, SigInt);
        };
        Console.CancelKeyPress += ignore;
        // `kill PID` (SIGTERM) reaches this parent only: pass it on, so the child stops cleanly (a checkpoint, exit 130)
        // instead of running on as an orphan. The child treats SIGTERMs close together as one, so a group-wide SIGTERM
        // that reaches both (timeout, systemd) is harmless. A SIGTERM before the child exists is passed on once it does;
        // only the PID is kept, so a late signal never touches a disposed Process.
        int pending = 0;
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            int pid = Volatile.Read(ref childPid);
            if (pid > 0) _ = SendSignal(pid, SigTerm);
            else if (pid == 0) Volatile.Write(ref pending, 1);
        });
        try
        {
            using var child = Process.Start(psi);
            if (child is null) return null;
            Volatile.Write(ref childPid, child.Id);
            if (Interlocked.Exchange(ref pending, 0) == 1) _ = SendSignal(child.Id, SigTerm);
            child.WaitForExit();
            return child.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // cannot start ourselves again: run as is, only slower
        }
        finally
        {
            Volatile.Write(ref childPid, -1);
            Console.CancelKeyPress -= ignore;
        }
    }

    // jemalloc is in effect when the loader mapped it (LD_PRELOAD); elsewhere than Linux, trust the variable.
    private static bool JemallocLoaded()
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                return File.ReadLines("/proc/self/maps").Any(l => l.Contains("libjemalloc", StringComparison.Ordinal));
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return (Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "").Contains("jemalloc", StringComparison.Ordinal);
    }
}
