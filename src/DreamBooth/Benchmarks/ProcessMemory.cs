using System.Text.RegularExpressions;

namespace DreamBooth.Benchmarks;

/// <summary>Resident memory of this process and the memory the machine has left, from Linux's /proc (null elsewhere).</summary>
public static class ProcessMemory
{
    /// <summary>The current resident set size (VmRSS) in bytes.</summary>
    public static long? Rss() => Field("/proc/self/status", "VmRSS");

    /// <summary>The peak resident set size (VmHWM) in bytes since the process started or <see cref="ResetPeak"/>.</summary>
    public static long? PeakRss() => Field("/proc/self/status", "VmHWM");

    /// <summary>
    /// What can be allocated without swapping or being killed: MemAvailable from /proc/meminfo, or less when this process
    /// runs in a cgroup (v2) with a memory limit (a container): memory.max − memory.current.
    /// </summary>
    public static long? Available()
    {
        long? machine = Field("/proc/meminfo", "MemAvailable");
        long? limit = Number("/sys/fs/cgroup/memory.max"), used = Number("/sys/fs/cgroup/memory.current");
        if (limit is long max && used is long current)
        {
            long left = Math.Max(0, max - current);
            return machine is long m ? Math.Min(m, left) : left;
        }
        return machine;
    }

    // A cgroup v2 file holding one number ("max", i.e. no limit, and a missing file give null).
    private static long? Number(string file)
    {
        try
        {
            return File.Exists(file) && long.TryParse(File.ReadAllText(file).Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long v) ? v : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Resets the peak (VmHWM) to the current RSS (writing 5 to /proc/self/clear_refs, Linux ≥ 4.0); false when refused.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Gives freed heap memory back to the system (glibc's <c>malloc_trim(0)</c>), so that the next bench case starts from
    /// the memory it needs rather than from what earlier cases left in malloc's free lists; false where glibc is not the
    /// allocator (jemalloc keeps its pages by the settings of ENVIRONMENT.md) or the call is unavailable.
    /// </summary>
    public static bool ReleaseFreedMemory()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("DREAMBOOTH_ALLOCATOR") == "jemalloc") return false;
        try
        {
            return MallocTrim(0) != 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    // glibc's malloc_trim: no managed or TorchSharp API returns native free lists to the OS.
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    private static long? Field(string file, string name)
    {
        try
        {
            var m = Regex.Match(File.ReadAllText(file), $@"^{name}:\s+(\d+) kB", RegexOptions.Multiline);
            return m.Success ? long.Parse(m.Groups[1].Value) * 1024 : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
