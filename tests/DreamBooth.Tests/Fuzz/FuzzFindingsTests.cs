using DreamBooth.Fuzz;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Fuzz;

/// <summary>
/// Every input that AFL++ found breaking the rules (a crash, a hang, an unexpected exception, a message that was not
/// one line) is kept under <c>Fuzz/Findings/TARGET/</c> and replayed here: it must now load or fail with a one-line
/// <see cref="DreamBoothException"/>. Add a finding by copying the file from <c>fuzz-out/TARGET/default/crashes</c>.
/// </summary>
public class FuzzFindingsTests
{
    private static string FindingsDir => Path.Combine(AppContext.BaseDirectory, "Fuzz", "Findings");

    public static TheoryData<string, string> Findings()
    {
        var data = new TheoryData<string, string>();
        foreach (var dir in Directory.EnumerateDirectories(FindingsDir).Order(StringComparer.Ordinal))
            foreach (var file in Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal))
                data.Add(Path.GetFileName(dir), Path.GetFileName(file));
        return data;
    }

    [Theory]
    [MemberData(nameof(Findings))]
    public void Finding_now_loads_or_fails_with_one_line(string target, string file)
    {
        using var workspace = new FuzzWorkspace();
        var input = File.ReadAllBytes(Path.Combine(FindingsDir, target, file));
        var act = () => FuzzTargets.RunChecked(FuzzTargets.Find(target), input, workspace);
        act.Should().NotThrow();
    }

    [Fact]
    public void There_are_findings_for_the_parsers_fuzzed()
    {
        Findings().Count.Should().BeGreaterThan(0);
    }
}
