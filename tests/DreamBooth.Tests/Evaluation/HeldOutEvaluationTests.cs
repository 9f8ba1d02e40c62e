using System.Text.Json;
using DreamBooth.Data;
using DreamBooth.Evaluation;
using DreamBooth.Tests.Corpus;
using DreamBooth.Tests.IO;
using DreamBooth.TinyWorld;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Evaluation;

/// <summary>`dreambooth tiny-world heldout`: the base model's target on caption combinations held out of pretraining.</summary>
public class HeldOutEvaluationTests
{
    [Fact]
    public void A_short_run_on_the_shipped_model_writes_every_held_out_prompt_with_its_parameters_and_the_target()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "heldout");
        var options = new HeldOutOptions { OutputDir = output, ImagesPerPrompt = 2, InferenceSteps = 3, Seed = 7, BatchSize = 24 };
        var reports = new List<(int Done, int Total)>();
        var result = new HeldOutEvaluation(options, new Sync<(int, int)>(reports.Add)).Run();

        int n = HeldOutSplit.Combinations.Count * 2;
        reports.Last().Should().Be((n, n));
        result.Report.GeneratedImages.Should().Be(n);
        result.Report.Prompts.Select(p => p.Prompt).Should().Equal(HeldOutSplit.Combinations.Select(c => c.Prompt));
        result.Target.Met.Should().Be(result.Report.ClassAndContextAccuracy >= HeldOutEvaluation.TargetAccuracy);

        // Image i: prompt i / 2, seed 7 + i, the sampler settings asked for (readable by `dreambooth evaluate`).
        var images = Directory.GetFiles(Path.Combine(output, HeldOutEvaluation.ImagesFolder), "*.png").Order(StringComparer.Ordinal).ToList();
        images.Should().HaveCount(n);
        for (int i = 0; i < n; i++)
        {
            var p = GenerationParameters.Parse(PngText.Get(PngText.Read(images[i]), GenerationParameters.PngKey)!);
            p.Prompt.Should().Be(HeldOutSplit.Combinations[i / 2].Prompt);
            p.Seed.Should().Be(7 + i);
            p.Steps.Should().Be(3);
            p.CfgScale.Should().Be(options.GuidanceScale);
        }

        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(output, HeldOutEvaluation.MetricsJsonFile)));
        var root = json.RootElement;
        root.GetProperty("target").GetProperty("met").GetBoolean().Should().Be(result.Target.Met!.Value);
        root.GetProperty("metrics").GetProperty("class_and_context_accuracy").GetDouble().Should().Be(result.Report.ClassAndContextAccuracy!.Value);
        root.GetProperty("seed").GetInt64().Should().Be(7);
        File.ReadAllText(Path.Combine(output, HeldOutEvaluation.MetricsMarkdownFile))
            .Should().Contain("| class and context correct on held-out combinations |").And.Contain(HeldOutSplit.Combinations[0].Prompt);
        var sheet = ImageIO.Load(Path.Combine(output, HeldOutEvaluation.ContactSheetFile));
        sheet.shape[1].Should().BeGreaterThan(HeldOutSplit.Combinations.Count * 64 * 2, "a row per held-out prompt, images magnified twice");
        Directory.Exists(DreamBooth.IO.StagedFolder.StagingPath(output)).Should().BeFalse();
    }

    [Fact]
    public void Evaluate_reads_a_generate_output_folder_skipping_its_contact_sheet()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "gen");
        var (code, error) = DreamBooth.Tests.Cli.CliRunner.Run("generate", "--model", DreamBooth.IO.ShippedModels.Find("tiny-world"),
            "--prompt", HeldOutSplit.Combinations[0].Prompt, "--num-images", "2", "--steps", "2", "--seed", "1", "--output", output);
        code.Should().Be(0, error);
        File.Exists(Path.Combine(output, ContactSheet.FileName)).Should().BeTrue();
        PromptedImages.Read(output, requirePrompts: true).Should().HaveCount(2);
    }

    [Theory]
    [InlineData(0.90, true)]
    [InlineData(0.8958, false)]
    public void The_target_is_ninety_percent_class_and_context(double accuracy, bool met)
    {
        var report = new EvaluationReport { GeneratedImages = 48, ClassAndContextAccuracy = accuracy };
        HeldOutEvaluation.Target(report).Met.Should().Be(met);
    }

    [Fact]
    public void A_cancelled_run_leaves_an_existing_output_untouched_and_no_staging_folder()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "heldout");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "metrics.md"), "an earlier run");
        var before = Snapshot.Of(dir.Path);
        using var cts = new CancellationTokenSource();
        var run = new HeldOutEvaluation(new HeldOutOptions { OutputDir = output, Overwrite = true, ImagesPerPrompt = 2, InferenceSteps = 2, BatchSize = 4 },
            new Sync<(int Done, int Total)>(p => { if (p.Done > 0) cts.Cancel(); }));
        FluentActions.Invoking(() => run.Run(cts.Token)).Should().Throw<OperationCanceledException>();
        Snapshot.Of(dir.Path).Should().Equal(before, "--overwrite replaces the output only once the new run has finished");
    }

    private static void WithDir(Action<TempDir> test)
    {
        using var dir = new TempDir();
        test(dir);
    }

    [Theory]
    [InlineData("--num-images", "0")]
    [InlineData("--steps", "0")]
    [InlineData("--guidance-scale", "NaN")]
    [InlineData("--guidance-scale", "1e30")]
    [InlineData("--seed", "-1")]
    [InlineData("--batch-size", "0")]
    public void Out_of_range_flag(string flag, string value) => WithDir(dir =>
        Corpus.Corpus.CliFails(dir, ["tiny-world", "heldout", flag, value, "--output", Path.Combine(dir.Path, "out")], flag));

    [Fact]
    public void Output_that_is_a_file() => WithDir(dir =>
    {
        var file = Path.Combine(dir.Path, "out.md");
        File.WriteAllText(file, "x");
        Corpus.Corpus.CliFails(dir, ["tiny-world", "heldout", "--output", file], "--output", "is a file");
    });

    [Fact]
    public void Existing_output_without_overwrite() => WithDir(dir =>
    {
        var output = Path.Combine(dir.Path, "heldout");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "metrics.md"), "an earlier run");
        Corpus.Corpus.CliFails(dir, ["tiny-world", "heldout", "--output", output], "--output", "--overwrite");
    });

    [Fact]
    public void Output_inside_the_model_folder() => WithDir(dir =>
    {
        var model = Path.Combine(dir.Path, "model");
        Directory.CreateDirectory(model);
        File.WriteAllText(Path.Combine(model, "model_index.json"), "{}");
        Corpus.Corpus.CliFails(dir, ["tiny-world", "heldout", "--model", model, "--output", Path.Combine(model, "out")], "--output", "overlaps --model");
    });

    [Fact]
    public void Missing_model_folder() => WithDir(dir =>
        Corpus.Corpus.CliFails(dir, ["tiny-world", "heldout", "--model", Path.Combine(dir.Path, "nope"), "--output", Path.Combine(dir.Path, "out")], "--model", "not found"));

    private sealed class Sync<T>(Action<T> action) : IProgress<T>
    {
        public void Report(T value) => action(value);
    }
}
