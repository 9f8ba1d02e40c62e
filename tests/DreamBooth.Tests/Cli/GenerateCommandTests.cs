using DreamBooth.Cli;
using DreamBooth.Cli.Commands;
using DreamBooth.Data;
using DreamBooth.Tests.Infrastructure;
using DreamBooth.Tests.IO;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Cli;

/// <summary>
/// `dreambooth generate` through the command line, in-process, on the tiny-sd1 folder of the fixtures: files, PNG
/// metadata, determinism, overwrite protection, and bad input (one line, exit code 2, nothing written).
/// </summary>
public class GenerateCommandTests
{
    private static string Model => Golden.PathOf("tiny-sd1");

    private static string[] Args(string output, params string[] extra) =>
        ["generate", "--model", Model, "--prompt", "a photo of sks dog", "--num-images", "2", "--steps", "2", "--seed", "5", "--output", output, .. extra];

    [Fact]
    public void Writes_named_pngs_with_parameters_and_a_contact_sheet_and_repeats_exactly()
    {
        using var dir = new TempDir();
        string first = Path.Combine(dir.Path, "a"), second = Path.Combine(dir.Path, "b");

        var (code, error) = CliRunner.Run(Args(first, "--negative-prompt", "blurry", "--scheduler", "euler_a", "--batch-size", "2"));
        Assert.True(code == 0, error);
        Assert.Equal(["0000-seed5.png", "0001-seed6.png", GenerateCommand.ContactSheetName],
            Directory.GetFiles(first).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        var parameters = GenerationParameters.Parse(PngText.Get(PngText.Read(Path.Combine(first, "0001-seed6.png")), GenerationParameters.PngKey)!);
        Assert.Equal("a photo of sks dog", parameters.Prompt);
        Assert.Equal("blurry", parameters.NegativePrompt);
        Assert.Equal(2, parameters.Steps);
        Assert.Equal("Euler a", parameters.Sampler);
        Assert.Equal(7.5, parameters.CfgScale);
        Assert.Equal(6, parameters.Seed);
        Assert.Equal((64, 64), (parameters.Width, parameters.Height)); // tiny-sd1: sample_size 32 × VAE factor 2
        Assert.Contains(new KeyValuePair<string, string>("Model", "tiny-sd1"), parameters.Extra);

        // The same command again (batch size 1 this time: images do not depend on it) gives the same pixels.
        (code, error) = CliRunner.Run(Args(second, "--negative-prompt", "blurry", "--scheduler", "euler_a", "--batch-size", "1"));
        Assert.True(code == 0, error);
        foreach (var name in new[] { "0000-seed5.png", "0001-seed6.png" })
        {
            using var a = ImageIO.Load(Path.Combine(first, name));
            using var b = ImageIO.Load(Path.Combine(second, name));
            Assert.Equal([3L, 64, 64], a.shape);
            Assert.True((a - b).abs().max().item<float>() <= 1 / 255f + 1e-6, $"{name} differs between runs");
        }

        // Exactly the same command: identical files, byte for byte.
        (code, error) = CliRunner.Run(Args(first, "--negative-prompt", "blurry", "--scheduler", "euler_a", "--batch-size", "2", "--overwrite"));
        Assert.True(code == 0, error);
        string third = Path.Combine(dir.Path, "c");
        (code, error) = CliRunner.Run(Args(third, "--negative-prompt", "blurry", "--scheduler", "euler_a", "--batch-size", "2"));
        Assert.True(code == 0, error);
        foreach (var name in Directory.GetFiles(first).Select(Path.GetFileName))
            Assert.Equal(File.ReadAllBytes(Path.Combine(first, name!)), File.ReadAllBytes(Path.Combine(third, name!)));
    }

    [Fact]
    public void Refuses_to_overwrite_before_doing_any_work()
    {
        using var dir = new TempDir();
        var existing = dir.Text("out/0001-seed6.png", "not a png");
        var (code, error) = CliRunner.Run(Args(Path.Combine(dir.Path, "out")));
        Assert.Equal(CliApp.ExitBadInput, code);
        Assert.Contains("0001-seed6.png: already exists (use --overwrite", error);
        Assert.Single(error.Trim().Split('\n'));
        Assert.Equal([existing], Directory.GetFiles(Path.Combine(dir.Path, "out")));
        Assert.Equal("not a png", File.ReadAllText(existing));
    }

    [Fact]
    public void Short_flags_work_as_in_the_other_commands()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        var (code, error) = CliRunner.Run("generate", "--model", Model, "--prompt", "x", "-n", "1", "--steps", "1", "--seed", "2", "-o", output);
        Assert.True(code == 0, error);
        Assert.True(File.Exists(Path.Combine(output, "0000-seed2.png")));
    }

    [Fact]
    public void An_empty_prompt_is_allowed()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        var (code, error) = CliRunner.Run("generate", "--model", Model, "--prompt", "", "--num-images", "1", "--steps", "1", "--seed", "0", "--output", output);
        Assert.True(code == 0, error);
        Assert.True(File.Exists(Path.Combine(output, "0000-seed0.png")));
    }

    public static TheoryData<string, string[]> BadInputs() => new()
    {
        { "model folder not found", ["--model", "/nonexistent/model"] },
        { "--steps must be at least 1, got 0", ["--steps", "0"] },
        { "--steps must be at least 1, got -3", ["--steps", "-3"] },
        { "--steps: '2.5' is not a whole number", ["--steps", "2.5"] },
        { "--steps: '99999999999' is out of range (-2147483648 to 2147483647)", ["--steps", "99999999999"] },
        { "--width: '99999999999' is out of range", ["--width", "99999999999"] },
        { "--guidance-scale: 'abc' is not a number", ["--guidance-scale", "abc"] },
        { "--guidance-scale must be a finite number", ["--guidance-scale", "NaN"] },
        { "--guidance-scale 1E+30: at most 1000", ["--guidance-scale", "1e30"] },
        { "--guidance-rescale must be between 0 and 1", ["--guidance-rescale", "2"] },
        { "--scheduler: unknown scheduler 'warp'", ["--scheduler", "warp"] },
        { "--steps 1000000 with --scheduler ddim: ", ["--scheduler", "ddim", "--steps", "1000000"] },
        { "--width 100 must be a positive multiple of 8", ["--width", "100"] },
        { "--height 36 must be a positive multiple of 8", ["--height", "36"] },
        { "--num-images must be at least 1, got 0", ["--num-images", "0"] },
        { "--num-images must be at least 1, got -2", ["--num-images", "-2"] },
        { "--num-images 100001: at most 100000 per run", ["--num-images", "100001"] },
        { "--num-images: '2147483648' is out of range", ["--num-images", "2147483648"] },
        // Far beyond any machine's memory: refused before the output folder exists, not killed by the OOM killer.
        { "a 8000000x8000000 image (batch size 1) needs at least", ["--width", "8000000", "--height", "8000000"] },
        { "--batch-size must be at least 1", ["--batch-size", "0"] },
        { "--clip-skip must be ≥ 0", ["--clip-skip", "-1"] },
        { "clip skip 9 is out of range", ["--clip-skip", "9"] },
        { "--seed: 'lucky' is not a number", ["--seed", "lucky"] },
        { "--seed must be ≥ 0", ["--seed", "-1"] },
        { "--dtype: unknown dtype 'fp64'", ["--dtype", "fp64"] },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Bad_input_is_one_line_exit_2_and_writes_nothing(string message, string[] overrides)
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        // Later options win in Spectre, so the overrides follow the valid defaults.
        var (code, error) = CliRunner.Run([.. Args(output), .. overrides]);
        Assert.Equal(CliApp.ExitBadInput, code);
        Assert.Contains(message, error);
        Assert.Single(error.Trim().Split('\n'));
        Assert.False(Directory.Exists(output), "nothing may be written on bad input");
    }

    [Fact]
    public void A_folder_that_is_not_a_model_or_is_broken_is_one_line()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        var empty = Directory.CreateDirectory(Path.Combine(dir.Path, "empty")).FullName;
        var (code, error) = CliRunner.Run([.. Args(output), "--model", empty]);
        Assert.Equal(CliApp.ExitBadInput, code);
        Assert.Contains("not a model folder", error);

        dir.Text("broken/model_index.json", "{ this is not json");
        (code, error) = CliRunner.Run([.. Args(output), "--model", Path.Combine(dir.Path, "broken")]);
        Assert.Equal(CliApp.ExitBadInput, code);
        Assert.Contains("model_index.json", error);
        Assert.Single(error.Trim().Split('\n'));
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void An_output_path_that_is_a_file_is_refused()
    {
        using var dir = new TempDir();
        var file = dir.Text("taken.png", "x");
        var (code, error) = CliRunner.Run(Args(file));
        Assert.Equal(CliApp.ExitBadInput, code);
        Assert.Contains("is a file, expected a folder", error);
        Assert.Single(error.Trim().Split('\n'));
        Assert.Equal([file], Directory.GetFiles(dir.Path));
        Assert.Equal("x", File.ReadAllText(file));
    }

    [Fact]
    public void Missing_model_or_prompt_is_refused()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        var (code, error) = CliRunner.Run("generate", "--prompt", "x", "--output", output);
        Assert.Equal(CliApp.ExitBadInput, code);
        Assert.Contains("--model is required", error);
        (code, error) = CliRunner.Run("generate", "--model", Model, "--output", output);
        Assert.Equal(CliApp.ExitBadInput, code);
        Assert.Contains("--prompt is required", error);
        Assert.False(Directory.Exists(output));
    }
}
