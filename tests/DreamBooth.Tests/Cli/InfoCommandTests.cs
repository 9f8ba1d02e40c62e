using System.Diagnostics;
using DreamBooth.Cli.Commands;
using DreamBooth.Runtime;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Cli;

/// <summary>
/// `dreambooth info` as a separate process started without the launcher (plain <c>dotnet DreamBooth.Cli.dll</c>) and a
/// controlled environment: the program starts itself again with the allocator fix and <c>OMP_WAIT_POLICY=PASSIVE</c>,
/// keeps a wait policy the user chose, can be told not to, and <c>info</c> prints what is in effect.
/// </summary>
public class InfoCommandTests
{
    private static string CliDll => Path.Combine(AppContext.BaseDirectory, "DreamBooth.Cli.dll");

    private static readonly string[] Controlled = ["LD_PRELOAD", "MALLOC_CONF", "GLIBC_TUNABLES", "OMP_WAIT_POLICY", AllocatorSetup.MarkerVariable];

    // The allocator the re-executed program gets on this machine (the same rule as AllocatorSetup.Variables).
    private static string ExpectedAllocator =>
        new[] { "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib64/libjemalloc.so.2", "/usr/lib/libjemalloc.so.2" }.Any(File.Exists)
            ? "jemalloc" : "glibc-hugetlb";

    /// <summary>
    /// Runs <c>info</c> with the controlled variables removed and then <paramref name="set"/>; returns the table rows as
    /// item → values, and the environment variables listed under the table as rows named "environment".
    /// </summary>
    private static ILookup<string, string> Info(params (string Name, string Value)[] set)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(CliDll);
        psi.ArgumentList.Add("info");
        foreach (var name in Controlled) psi.Environment.Remove(name);
        foreach (var (name, value) in set) psi.Environment[name] = value;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        p.ExitCode.Should().Be(0, stderr.Result);
        // Table rows look like "│ item │ value │"; the environment list follows its header, one "  NAME=value" per line.
        var lines = stdout.Replace("\r", "").Split('\n');
        var rows = lines.Select(line => line.Split('│', StringSplitOptions.TrimEntries)).Where(cells => cells.Length == 4).Select(cells => (cells[1], cells[2]));
        var environment = lines.SkipWhile(l => l != InfoCommand.EnvironmentHeader).Skip(1).TakeWhile(l => l.StartsWith("  ", StringComparison.Ordinal))
            .Select(l => ("environment", l.Trim())).Where(e => e.Item2 != "(none set)");
        lines.Should().Contain(InfoCommand.EnvironmentHeader);
        return rows.Concat(environment).ToLookup(r => r.Item1, r => r.Item2);
    }

    [Fact]
    public void Without_the_launcher_the_cli_restarts_itself_with_the_allocator_fix_and_a_passive_openmp_wait_policy()
    {
        var rows = Info();
        rows["allocator"].Should().Equal(ExpectedAllocator);
        rows["OpenMP wait policy"].Should().Equal("PASSIVE");
        rows["environment"].Should().Contain("OMP_WAIT_POLICY=PASSIVE");
        if (ExpectedAllocator == "glibc-hugetlb") rows["environment"].Should().Contain("GLIBC_TUNABLES=" + AllocatorSetup.HugeTlbTunable);
        else rows["environment"].Should().Contain("MALLOC_CONF=" + AllocatorSetup.JemallocConf);
    }

    [Fact]
    public void A_wait_policy_and_glibc_tunables_the_user_set_are_kept()
    {
        var rows = Info(("OMP_WAIT_POLICY", "ACTIVE"), ("GLIBC_TUNABLES", "glibc.malloc.arena_max=2"));
        rows["OpenMP wait policy"].Should().Equal("ACTIVE");
        rows["allocator"].Should().Equal(ExpectedAllocator);
        if (ExpectedAllocator == "glibc-hugetlb")
            rows["environment"].Should().Contain($"GLIBC_TUNABLES={AllocatorSetup.HugeTlbTunable}:glibc.malloc.arena_max=2");
        else
            rows["environment"].Should().Contain("GLIBC_TUNABLES=glibc.malloc.arena_max=2");
    }

    [Fact]
    public void With_the_setup_turned_off_info_says_the_default_allocator_and_an_unset_wait_policy()
    {
        var rows = Info((AllocatorSetup.MarkerVariable, "off"));
        rows["allocator"].Should().ContainSingle().Which.Should().StartWith("glibc default");
        rows["OpenMP wait policy"].Should().ContainSingle().Which.Should().StartWith("unset");
        rows["environment"].Should().BeEmpty();
    }
}
