using System.Text.Json;
using DreamBooth.Cli;
using DreamBooth.Data;
using DreamBooth.TinyWorld;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Cli;

public sealed class TinyWorldCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "tw-cli-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    [Fact]
    public async Task Render_writes_scenes_captions_and_a_contact_sheet()
    {
        int code = await CliApp.RunAsync(new[] { "tiny-world", "render", "--output", _dir, "--count", "6", "--seed", "9", "--start", "100" });
        code.Should().Be(0);
        ImageIO.ListImages(_dir).Select(Path.GetFileName).Should().Equal("000100.png", "000101.png", "000102.png", "000103.png", "000104.png", "000105.png", "contact-sheet.png");
        var lines = File.ReadAllLines(Path.Combine(_dir, "captions.jsonl"));
        lines.Should().HaveCount(6);
        var first = JsonDocument.Parse(lines[0]).RootElement;
        var dataset = new TinyWorldDataset(9);
        first.GetProperty("caption").GetString().Should().Be(dataset.Example(100).Text);
        PngText.Get(PngText.Read(Path.Combine(_dir, "000100.png")), GenerationParameters.PngKey).Should().Be(dataset.Example(100).Text);
        var image = ImageIO.Load(Path.Combine(_dir, "000100.png"));
        image.shape.Should().Equal(3, 64, 64);
        image.allclose(SceneRenderer.RenderTensor(dataset.Example(100).Scene).mul(255).round().div(255), 0, 1e-6).Should().BeTrue();
        // A second run over the same files only with --overwrite.
        (await CliApp.RunAsync(new[] { "tiny-world", "render", "--output", _dir, "--count", "2", "--seed", "3", "--start", "100" })).Should().Be(CliApp.ExitBadInput);
        PngText.Get(PngText.Read(Path.Combine(_dir, "000100.png")), GenerationParameters.PngKey).Should().Be(dataset.Example(100).Text, "nothing was replaced");
        (await CliApp.RunAsync(new[] { "tiny-world", "render", "--output", _dir, "--count", "2", "--seed", "3", "--start", "100", "--overwrite" })).Should().Be(0);
        PngText.Get(PngText.Read(Path.Combine(_dir, "000100.png")), GenerationParameters.PngKey).Should().Be(new TinyWorldDataset(3).Example(100).Text);
    }

    [Fact]
    public async Task Samples_command_writes_the_demo_photos_and_readme()
    {
        int code = await CliApp.RunAsync(new[] { "tiny-world", "samples", "--output", _dir });
        code.Should().Be(0);
        ImageIO.ListImages(_dir).Should().HaveCount(DemoSubject.PhotoCount);
        File.ReadAllText(Path.Combine(_dir, "README.md")).Should().Contain("tiny-world samples").And.Contain("dog").And.Contain("on the grass");
    }

    [Fact]
    public async Task Bad_arguments_are_one_line_errors()
    {
        (await CliApp.RunAsync(new[] { "tiny-world", "render", "--count", "3" })).Should().Be(CliApp.ExitBadInput);
        (await CliApp.RunAsync(new[] { "tiny-world", "render", "--output", _dir, "--count", "0" })).Should().Be(CliApp.ExitBadInput);
        (await CliApp.RunAsync(new[] { "probe", "train", "--output", _dir, "--steps", "0" })).Should().Be(CliApp.ExitBadInput);
        (await CliApp.RunAsync(new[] { "evaluate", "--generated", _dir, "--probe", Path.Combine(_dir, "no-probe") })).Should().Be(CliApp.ExitBadInput);
    }

    [Fact]
    public void An_option_written_last_without_its_value_is_a_missing_value_error_not_a_folder_named_after_a_placeholder()
    {
        Directory.CreateDirectory(_dir);
        var before = Directory.GetFileSystemEntries(".");
        var (code, error) = CliRunner.Run("tiny-world", "render", "--count", "1", "--output");
        code.Should().Be(CliApp.ExitBadInput);
        error.Trim().Should().Be("error: --output: missing value");
        Directory.GetFileSystemEntries(".").Should().BeEquivalentTo(before);
    }

    [Fact]
    public void Probe_train_refuses_to_replace_an_existing_probe_without_overwrite_and_bad_numbers()
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, "model.safetensors"), "an earlier probe");
        foreach (var args in new[]
                 {
                     new[] { "probe", "train", "--output", _dir, "--steps", "1" },
                     new[] { "probe", "train", "--output", Path.Combine(_dir, "new"), "--learning-rate", "NaN" },
                     new[] { "probe", "train", "--output", Path.Combine(_dir, "new"), "--threads", "100000" },
                 })
        {
            var (code, error) = CliRunner.Run(args);
            code.Should().Be(CliApp.ExitBadInput, error);
            error.Should().StartWith("error: ");
        }
        Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName).Should().Equal("model.safetensors");
        File.ReadAllText(Path.Combine(_dir, "model.safetensors")).Should().Be("an earlier probe");
    }

    [Theory]
    [InlineData("bench", "--quick", "--output", "bench-out-never/b.json")]
    [InlineData("tiny-world", "pretrain", "--output", "pretrain-out-never")]
    public void A_huge_thread_count_is_refused(params string[] args)
    {
        var (code, error) = CliRunner.Run([.. args, "--threads", "100000"]);
        code.Should().Be(CliApp.ExitBadInput, error);
        error.Should().Contain("--threads 100000");
    }

    [Fact]
    public void Evaluate_never_writes_its_metrics_over_its_inputs()
    {
        Directory.CreateDirectory(_dir);
        var gen = Path.Combine(_dir, "gen");
        Directory.CreateDirectory(gen);
        File.WriteAllText(Path.Combine(gen, "README.md"), "keep");
        foreach (var output in new[] { Path.Combine(gen, "metrics.json"), Path.Combine(_dir, "m.md"), gen, "" })
        {
            var (code, error) = CliRunner.Run("evaluate", "--generated", gen, "--output", output);
            code.Should().Be(CliApp.ExitBadInput, error);
            error.Should().StartWith("error: --output");
        }
        Directory.GetFiles(gen).Select(Path.GetFileName).Should().Equal("README.md");
    }

    [Fact]
    public void An_output_path_under_a_file_is_bad_input_not_an_internal_error()
    {
        Directory.CreateDirectory(_dir);
        var file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, "x");
        var (code, error) = CliRunner.Run("tiny-world", "render", "--count", "1", "--output", Path.Combine(file, "scenes"));
        code.Should().Be(CliApp.ExitBadInput, error);
        error.Should().StartWith("error: ").And.NotContain("internal error");
    }
}
