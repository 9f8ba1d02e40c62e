using System.Text.RegularExpressions;
using DreamBooth.IO;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.IO;

/// <summary>Loading reads straight into tensor storage: peak memory grows by about one copy of the file, not two.</summary>
/// <remarks>Peak resident memory is process-wide, so nothing else may run meanwhile.</remarks>
[Collection(nameof(SafetensorsMemoryTests))]
public class SafetensorsMemoryTests
{
    private const long FileMB = 192;

    [Fact]
    public void Loading_a_192MB_file_raises_peak_resident_memory_by_about_its_size()
    {
        Assert.True(OperatingSystem.IsLinux(), "this measurement uses /proc (Linux)");
        using var dir = new TempDir();
        long bytes = FileMB << 20;
        var path = dir.Raw("big.safetensors",
            $"{{\"big\":{{\"dtype\":\"F32\",\"shape\":[{bytes / 4}],\"data_offsets\":[0,{bytes}]}}," +
            $"\"small\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[{bytes},{bytes + 4}]}}}}");
        using (var fs = new FileStream(path, FileMode.Open)) fs.SetLength(fs.Length + bytes + 4); // sparse zeros, no disk writes

        using var reader = Safetensors.Open(path);
        // Warm up first: the first tensor of the process loads libtorch, whose pages count as resident memory too.
        using (var small = reader.Load("small")) small.numel().Should().Be(1);
        // Settle the managed heap first: an aggressive collection decommits free memory now, not during the measurement.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        ResetPeak();
        long baseline = Status("VmRSS");
        long managedBefore = GC.GetAllocatedBytesForCurrentThread();
        using var t = reader.Load("big");
        long managed = GC.GetAllocatedBytesForCurrentThread() - managedBefore;
        long growth = Status("VmHWM") - baseline;

        t.numel().Should().Be(bytes / 4);
        managed.Should().BeLessThan(1 << 20, "tensor data must not pass through managed memory");
        // One copy is ~1.0x; reading through a managed buffer or a second tensor would be ~2x.
        // With glibc (what the test settings use) a block this size is a fresh mapping, so the tensor's own pages show up;
        // jemalloc, if preloaded, may reuse pages already resident, so the lower bound holds only without it.
        if (!(Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "").Contains("jemalloc", StringComparison.Ordinal))
            growth.Should().BeGreaterThan(bytes * 9 / 10, "the measurement must see the tensor itself");
        growth.Should().BeLessThan(bytes * 13 / 10, "loading must not hold a second copy of the data");
    }

    // Writing 5 to clear_refs resets the peak resident set size (VmHWM) to the current one (Linux >= 4.0).
    private static void ResetPeak() => File.WriteAllText("/proc/self/clear_refs", "5");

    private static long Status(string field)
    {
        var m = Regex.Match(File.ReadAllText("/proc/self/status"), $@"^{field}:\s+(\d+) kB", RegexOptions.Multiline);
        Assert.True(m.Success, $"/proc/self/status has no {field}");
        return long.Parse(m.Groups[1].Value) * 1024;
    }
}

[CollectionDefinition(nameof(SafetensorsMemoryTests), DisableParallelization = true)]
public class SafetensorsMemoryCollection;
