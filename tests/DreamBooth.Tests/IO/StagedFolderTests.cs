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

    [Fact]
    public void An_input_reached_through_a_symbolic_link_still_overlaps_the_output()
    {
        using var dir = new TempDir();
        var model = Path.Combine(dir.Path, "model");
        Directory.CreateDirectory(model);
        File.WriteAllText(Path.Combine(model, "model_index.json"), "{}");
        var link = Path.Combine(dir.Path, "link");
        Directory.CreateSymbolicLink(link, model);
        var act = () => StagedFolder.CheckOutput(model, true, "run", ("--model", link));
        act.Should().Throw<DreamBoothException>().WithMessage("--output *: overlaps --model*");
        var inside = () => StagedFolder.CheckOutput(Path.Combine(link, "out"), true, "run", ("--model", model));
        inside.Should().Throw<DreamBoothException>().WithMessage("--output *: overlaps --model*");
        StagedFolder.RealPath(Path.Combine(link, "x", "y")).Should().Be(Path.Combine(StagedFolder.RealPath(model), "x", "y"));
    }

    [Fact]
    public void A_folder_named_like_the_staging_folder_that_is_not_ours_is_never_deleted()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "results");
        var foreign = StagedFolder.StagingPath(output);
        Directory.CreateDirectory(foreign);
        File.WriteAllText(Path.Combine(foreign, "notes.txt"), "mine");
        var check = () => StagedFolder.CheckOutput(output, false, "run");
        check.Should().Throw<DreamBoothException>().WithMessage("*not staged by this tool*");
        var write = () => StagedFolder.Write(output, false, s => Fill(s, "x"), default);
        write.Should().Throw<DreamBoothException>();
        File.ReadAllText(Path.Combine(foreign, "notes.txt")).Should().Be("mine");

        // Our own leftover (a killed run) is replaced.
        Directory.Delete(foreign, true);
        StagedFolder.Create(output);
        File.WriteAllText(Path.Combine(foreign, "half.txt"), "");
        StagedFolder.CheckOutput(output, false, "run");
        StagedFolder.Write(output, false, s => Fill(s, "whole"), default);
        Directory.GetFiles(output).Select(Path.GetFileName).Should().Equal("result.txt");
    }

    // A process id that no process has (Linux pids stay below 2^22).
    private const int DeadPid = int.MaxValue - 7;

    [Fact]
    public void A_run_killed_between_the_two_renames_gets_its_earlier_result_back_on_the_next_run()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        var old = output + $".old-{DeadPid}-abcdef012345";
        Directory.CreateDirectory(old);
        File.WriteAllText(Path.Combine(old, "result.txt"), "earlier");

        var act = () => StagedFolder.CheckOutput(output, false, "run");
        act.Should().Throw<DreamBoothException>().WithMessage("*exists and is not empty; pass --overwrite*", "the earlier result is back in place");
        File.ReadAllText(Path.Combine(output, "result.txt")).Should().Be("earlier");
        Directory.Exists(old).Should().BeFalse();
    }

    [Fact]
    public void A_run_killed_before_its_clean_up_leaves_an_old_copy_the_next_run_deletes_and_a_live_runs_copy_is_kept()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        StagedFolder.Write(output, false, s => Fill(s, "new"), default);
        var dead = output + $".old-{DeadPid}-abcdef012345";
        var live = output + $".old-{Environment.ProcessId}-abcdef012345";
        foreach (var d in new[] { dead, live }) { Directory.CreateDirectory(d); File.WriteAllText(Path.Combine(d, "result.txt"), "earlier"); }

        StagedFolder.CheckOutput(output, true, "run");
        Directory.Exists(dead).Should().BeFalse();
        Directory.Exists(live).Should().BeTrue("a process that still runs may be in the middle of its publish");
        File.ReadAllText(Path.Combine(output, "result.txt")).Should().Be("new");
    }

    [Fact]
    public void The_staging_marker_is_removed_after_the_move_so_a_kill_in_between_never_blocks_the_next_run()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        // What a kill right after the move leaves: the published folder with the marker still inside, no staging folder.
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "result.txt"), "first");
        File.WriteAllText(Path.Combine(output, StagedFolder.MarkerFile), "");
        StagedFolder.CheckOutput(output, true, "run");
        StagedFolder.Write(output, true, s => Fill(s, "second"), default);
        Directory.GetFiles(output).Select(Path.GetFileName).Should().Equal("result.txt");
        File.ReadAllText(Path.Combine(output, "result.txt")).Should().Be("second");
    }
}
