using DreamBooth.IO;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.IO;

public class AtomicFileTests
{
    [Fact]
    public void Stale_temporary_files_of_dead_writers_are_removed_and_live_ones_kept()
    {
        using var dir = new TempDir();
        var sub = Path.Combine(dir.Path, "unet");
        Directory.CreateDirectory(sub);
        // int.MaxValue - 1 is above any Linux pid_max, so no process has it.
        var dead = Path.Combine(sub, $".diffusion_pytorch_model.safetensors.{int.MaxValue - 1}.0123abcd{AtomicFile.TempSuffix}");
        var live = Path.Combine(dir.Path, $".log.csv.{Environment.ProcessId}.4567cdef{AtomicFile.TempSuffix}");
        var other = Path.Combine(dir.Path, "model.partial.txt");
        foreach (var f in new[] { dead, live, other }) File.WriteAllText(f, "x");

        AtomicFile.RemoveStaleTemps(dir.Path).Should().Be(1);
        File.Exists(dead).Should().BeFalse();
        File.Exists(live).Should().BeTrue("a running writer's temporary file is in use");
        File.Exists(other).Should().BeTrue();

        AtomicFile.WriteAllText(Path.Combine(dir.Path, "a.txt"), "done");
        File.ReadAllText(Path.Combine(dir.Path, "a.txt")).Should().Be("done");
        Directory.GetFiles(dir.Path, "*" + AtomicFile.TempSuffix).Should().Equal(live);
    }

    [Fact]
    public void An_unwritable_folder_is_named_not_the_probe_file()
    {
        // /proc refuses new files even for root, which a chmod'ed folder would not.
        var act = () => AtomicFile.CheckWritable("/proc/dreambooth-nowhere/out.png", "--output");
        var message = act.Should().Throw<DreamBoothException>().Which.Message;
        message.Should().StartWith("--output /proc/dreambooth-nowhere/out.png: cannot write there (").And.Contain("/proc takes no new files");
        message.Should().NotContain(AtomicFile.TempSuffix).And.NotContain("out.png.");
    }
}
