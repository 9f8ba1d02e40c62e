using DreamBooth.IO;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.IO;

/// <summary>The whole-or-nothing output folder of `demo` and `tiny-world heldout`.</summary>
public class StagedFolderTests
{
    private static string Fill(string staging, string text)
    {
        File.WriteAllText(Path.Combine(staging, "result.txt"), text);
        return text;
    }

    [Fact]
    public void A_finished_run_appears_whole_and_replaces_an_old_folder_only_with_overwrite()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        StagedFolder.Write(output, false, s => Fill(s, "first"), default).Should().Be("first");
        File.ReadAllText(Path.Combine(output, "result.txt")).Should().Be("first");

        StagedFolder.Write(output, true, s => Fill(s, "second"), default);
        File.ReadAllText(Path.Combine(output, "result.txt")).Should().Be("second");
        Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Should().Equal("out"); // no staging, no old copy left
    }

    [Fact]
    public void A_failed_or_cancelled_run_leaves_the_old_folder_and_no_staging()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        StagedFolder.Write(output, false, s => Fill(s, "kept"), default);
        FluentActions.Invoking(() => StagedFolder.Write<string>(output, true, s => { Fill(s, "half"); throw new InvalidOperationException("boom"); }, default))
            .Should().Throw<InvalidOperationException>();
        using var cts = new CancellationTokenSource();
        FluentActions.Invoking(() => StagedFolder.Write(output, true, s => { cts.Cancel(); return Fill(s, "cancelled"); }, cts.Token))
            .Should().Throw<OperationCanceledException>();
        File.ReadAllText(Path.Combine(output, "result.txt")).Should().Be("kept");
        Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Should().Equal("out");
    }

    [Fact]
    public void When_the_output_appears_during_the_run_the_finished_result_is_kept_where_the_error_says()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        var act = () => StagedFolder.Write(output, false, s =>
        {
            Directory.CreateDirectory(output);
            File.WriteAllText(Path.Combine(output, "someone-else.txt"), "theirs");
            return Fill(s, "ours");
        }, default);
        var error = act.Should().Throw<DreamBoothException>().Which.Message;
        error.Should().Contain("--output").And.Contain(StagedFolder.StagingPath(output));
        File.ReadAllText(Path.Combine(StagedFolder.StagingPath(output), "result.txt")).Should().Be("ours");
        File.ReadAllText(Path.Combine(output, "someone-else.txt")).Should().Be("theirs");
    }
}
