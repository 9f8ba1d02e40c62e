using DreamBooth.Cli;
using DreamBooth.IO;
using DreamBooth.TinyWorld.Pretraining;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.TinyWorld.Pretraining;

public sealed class TinyWorldPretrainCommandTests
{
    [Fact]
    public void Cli_RunsAMicroPretraining_AndRecordsTheCommand()
    {
        var root = Directory.CreateTempSubdirectory("pretrain-cli-").FullName;
        try
        {
            var output = Path.Combine(root, "model");
            int exit = CliApp.Create().Run(["tiny-world", "pretrain", "--output", output, "--architecture", "micro", "--seed", "3",
                "--vae-steps", "2", "--vae-batch-size", "2", "--latent-images", "8", "--unet-steps", "2", "--batch-size", "2", "--checkpoint-every", "1"]);
            exit.Should().Be(0);
            ModelFolder.Open(output).Components.Should().HaveCount(5);
            var record = File.ReadAllText(Path.Combine(output, TinyWorldPretrainer.RecordFileName));
            record.Should().Contain("dreambooth tiny-world pretrain --output " + output + " --seed 3 --architecture micro --vae-steps 2 --vae-batch-size 2");
            Directory.Exists(output + ".work").Should().BeTrue("checkpoints go to <output>.work, not into the model folder");
            Directory.EnumerateFiles(output, "*checkpoint*", SearchOption.AllDirectories).Should().BeEmpty();
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Cli_BadValue_IsOneLineNamingTheFlag()
    {
        var act = () => CliApp.Create().Run(["tiny-world", "pretrain", "--output", Path.Combine(Path.GetTempPath(), "unused-" + Guid.NewGuid()),
            "--caption-dropout", "3"]);
        act.Should().Throw<DreamBoothException>().WithMessage("--caption-dropout:*");
    }
}
