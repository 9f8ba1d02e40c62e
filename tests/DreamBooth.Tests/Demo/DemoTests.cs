using System.Text.Json;
using DreamBooth.Data;
using DreamBooth.Demo;
using DreamBooth.Tests.Corpus;
using DreamBooth.Tests.IO;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Demo;

/// <summary>
/// `dreambooth demo` on the shipped tiny-world model and samples/: a shortened run (fewer steps and images) that must
/// raise subject fidelity above the base model's while prompt fidelity holds, cancellation, and bad command lines.
/// </summary>
public class DemoTests
{
    /// <summary>The demo with fewer class images, steps and generated images: about 80 s on 2 cores.</summary>
    internal static DemoOptions Short(string output) => new()
    {
        OutputDir = output,
        NumClassImages = 8,
        MaxTrainSteps = 150,
        TextEncoderLearningRate = 1e-4, // a faster identifier for the short run (measured on the shipped model: subject fidelity 0.486 → 0.568, prompt fidelity 1.0)
        ImagesPerPrompt = 2,
        ClassPromptImages = 4,
        InferenceSteps = 12,
    };

    [Fact]
    [Trait("Category", "EndToEnd")]
    public void A_short_demo_learns_the_subject_keeps_the_prompts_and_writes_every_result()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "demo");
        var phases = new List<string>();
        var result = new DreamBoothDemo(Short(output), new SyncProgress<DemoProgress>(p => phases.Add(p.Phase))).Run();

        var baseModel = result.Variants.Single(v => v.Key == "base").Report;
        var prior = result.Variants.Single(v => v.Key == "prior").Report;
        prior.SubjectFidelity.Should().BeGreaterThan(baseModel.SubjectFidelity!.Value + 0.04, "fine-tuning on the photos must move the renders toward the subject");
        prior.PromptFidelity.Should().BeGreaterThanOrEqualTo(0.5, "the subject must still appear in the prompted contexts and renditions");
        result.Variants.Select(v => v.Key).Should().Equal("base", "prior");
        result.Identifier.Should().NotBeNullOrEmpty();
        phases.Should().Contain(p => p.StartsWith("class images")).And.Contain(p => p.StartsWith("training")).And.Contain(p => p.StartsWith("generating"));

        // Everything the README promises, and nothing staged left behind.
        foreach (var f in new[] { DreamBoothDemo.ContactSheetFile, DreamBoothDemo.MetricsJsonFile, DreamBoothDemo.MetricsMarkdownFile, DreamBoothDemo.LossCurveFile })
            File.Exists(Path.Combine(output, f)).Should().BeTrue(f);
        Directory.Exists(DreamBoothDemo.StagingPath(output)).Should().BeFalse();
        Directory.GetFiles(Path.Combine(output, "class-images"), "*.png").Should().HaveCount(8);
        Directory.Exists(Path.Combine(output, "prior", "unet")).Should().BeTrue("the fine-tuned model is a diffusers folder");
        Directory.GetDirectories(Path.Combine(output, "prior"), "checkpoint-*").Should().BeEmpty("the checkpoint only duplicates the model");
        int prompts = Short(output).EvaluationPrompts(result.Identifier).Count;
        prompts.Should().BeGreaterThanOrEqualTo(8, "every context (6) and every art rendition (2)");
        var images = Directory.GetFiles(Path.Combine(output, "images", "prior"), "*.png");
        images.Should().HaveCount(prompts * 2);
        Directory.GetFiles(Path.Combine(output, "images", "prior-class"), "*.png").Should().HaveCount(4);
        // The written images give the demo's own figures back through `dreambooth evaluate` (up to 8-bit PNG rounding).
        using (var probe = DreamBooth.Evaluation.Probe.Load(DreamBooth.Evaluation.Probe.DefaultDirectory))
        {
            var again = DreamBooth.Evaluation.DreamBoothEvaluator.EvaluateFolders(probe, DreamBooth.IO.ShippedModels.Samples(),
                Path.Combine(output, "images", "prior"), Path.Combine(output, "images", "prior-class"));
            again.GeneratedImages.Should().Be(prompts * 2);
            again.SubjectFidelity.Should().BeApproximately(prior.SubjectFidelity!.Value, 0.01);
            again.Pres.Should().BeApproximately(prior.Pres!.Value, 0.01);
            again.PromptFidelity.Should().BeApproximately(prior.PromptFidelity, 0.13, "one image in 8 prompts × 2 may flip");
        }
        var parameters = GenerationParameters.Parse(PngText.Get(PngText.Read(images.Where(f => Path.GetFileName(f).StartsWith('p')).Order().First()), GenerationParameters.PngKey)!);
        parameters.Prompt.Should().Contain(result.Identifier);
        parameters.Steps.Should().Be(12);

        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(output, DreamBoothDemo.MetricsJsonFile)));
        json.RootElement.GetProperty("identifier").GetString().Should().Be(result.Identifier);
        json.RootElement.GetProperty("variants").GetArrayLength().Should().Be(2);
        json.RootElement.GetProperty("autoencoder_bound").GetDouble().Should().Be(result.AutoencoderBound!.Value).And.BeGreaterThan(0);
        // The shipped photos are the demo subject's: the table quotes what a perfect generator of it would score.
        var (renders, throughVae) = result.WorldRenderBound!.Value;
        renders.Should().BeGreaterThan(prior.SubjectFidelity!.Value, "the subject itself, rendered by the world, beats any model's rendering of it");
        renders.Should().BeLessThanOrEqualTo(result.RealCeiling + 0.02);
        throughVae.Should().BeInRange(0.2, renders + 0.05);
        json.RootElement.GetProperty("world_render_bound").GetDouble().Should().Be(renders);
        json.RootElement.GetProperty("world_render_vae_bound").GetDouble().Should().Be(throughVae);
        var md = File.ReadAllText(Path.Combine(output, DreamBoothDemo.MetricsMarkdownFile));
        md.Should().Contain("| the world's renders of the subject for the prompts (a perfect generator) |").And.Contain("a perfect generator: ");
        md.Should().Contain("| real photos through the model's VAE (bound) |").And.Contain("| base model |").And.Contain("| DreamBooth (prior preservation) |").And.Contain("PRES");
        var sheet = ImageIO.Load(Path.Combine(output, DreamBoothDemo.ContactSheetFile));
        sheet.shape[2].Should().BeGreaterThan(2 * 64 * 4, "columns: the images of both models");
    }

    [Fact]
    public void A_cancelled_demo_leaves_an_existing_output_untouched_and_no_staging_folder()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "demo");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "earlier-result.txt"), "keep me");
        var before = Snapshot.Of(dir.Path);
        using var cts = new CancellationTokenSource();
        var demo = new DreamBoothDemo(Short(output) with { Overwrite = true }, new SyncProgress<DemoProgress>(p =>
        {
            if (p.Phase.StartsWith("training")) cts.Cancel();
        }));
        FluentActions.Invoking(() => demo.Run(cts.Token)).Should().Throw<OperationCanceledException>();
        Snapshot.Of(dir.Path).Should().Equal(before, "--overwrite replaces the output only once the new run has finished");
    }

    private static void WithDir(Action<TempDir> test)
    {
        using var dir = new TempDir();
        test(dir);
    }

    [Fact]
    public void Output_that_is_a_file() => WithDir(dir =>
    {
        var file = Path.Combine(dir.Path, "out.png");
        File.WriteAllText(file, "x");
        Corpus.Corpus.CliFails(dir, ["demo", "--output", file], "--output", "is a file");
    });

    [Fact]
    public void Existing_output_without_overwrite() => WithDir(dir =>
    {
        var output = Path.Combine(dir.Path, "demo");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "metrics.md"), "an earlier run");
        Corpus.Corpus.CliFails(dir, ["demo", "--output", output], "--output", "--overwrite");
    });

    [Fact]
    public void Output_inside_the_samples_folder() => WithDir(dir =>
    {
        var samples = Path.Combine(dir.Path, "samples");
        Directory.CreateDirectory(samples);
        File.Copy(Directory.GetFiles(DreamBooth.IO.ShippedModels.Samples(), "*.png")[0], Path.Combine(samples, "01.png"));
        Corpus.Corpus.CliFails(dir, ["demo", "--samples", samples, "--output", Path.Combine(samples, "out")], "--output", "overlaps --samples");
    });

    [Fact]
    public void Samples_folder_with_one_photo() => WithDir(dir =>
    {
        var samples = Path.Combine(dir.Path, "one");
        Directory.CreateDirectory(samples);
        File.Copy(Directory.GetFiles(DreamBooth.IO.ShippedModels.Samples(), "*.png")[0], Path.Combine(samples, "01.png"));
        Corpus.Corpus.CliFails(dir, ["demo", "--samples", samples, "--output", Path.Combine(dir.Path, "out")], "--samples", "at least 2");
    });

    [Fact]
    public void Samples_folder_without_images() => WithDir(dir =>
    {
        var samples = Path.Combine(dir.Path, "empty");
        Directory.CreateDirectory(samples);
        Corpus.Corpus.CliFails(dir, ["demo", "--samples", samples, "--output", Path.Combine(dir.Path, "out")], "--samples", "no images");
    });

    [Fact]
    public void A_broken_photo_is_named_not_counted() => WithDir(dir =>
    {
        var samples = Path.Combine(dir.Path, "broken");
        Directory.CreateDirectory(samples);
        File.WriteAllBytes(Path.Combine(samples, "01.png"), []);
        File.WriteAllBytes(Path.Combine(samples, "._02.png"), [0, 5, 22, 7]); // hidden: skipped, not an error
        Corpus.Corpus.CliFails(dir, ["demo", "--samples", samples, "--output", Path.Combine(dir.Path, "out")], "01.png: empty file (0 bytes)");
    });

    [Theory]
    [InlineData("--max-train-steps", "0")]
    [InlineData("--num-class-images", "0")]
    [InlineData("--images-per-prompt", "1")]
    [InlineData("--learning-rate", "0")]
    [InlineData("--steps", "0")]
    [InlineData("--guidance-scale", "NaN")]
    [InlineData("--guidance-scale", "1e30")]
    [InlineData("--seed", "100000000000000")]
    [InlineData("--learning-rate", "1e39")]
    [InlineData("--identifier", "two words")]
    [InlineData("--class-noun", "")]
    [InlineData("--instance-prompt", "a photo of a dog")]
    public void Out_of_range_flag(string flag, string value) => WithDir(dir =>
        Corpus.Corpus.CliFails(dir, ["demo", flag, value, "--output", Path.Combine(dir.Path, "out")], flag));

    [Fact]
    public void Identifier_of_several_tokens() => WithDir(dir =>
        Corpus.Corpus.CliFails(dir, ["demo", "--identifier", "zzqqxxkk", "--output", Path.Combine(dir.Path, "out")], "--identifier zzqqxxkk", "tokens"));

    [Fact]
    public void Missing_model_folder() => WithDir(dir =>
        Corpus.Corpus.CliFails(dir, ["demo", "--model", Path.Combine(dir.Path, "nope"), "--output", Path.Combine(dir.Path, "out")], "--model", "not found"));

    [Fact]
    public void Guidance_that_is_not_a_number() => WithDir(dir =>
        Corpus.Corpus.CliFails(dir, ["demo", "--guidance-scale", "lots", "--output", Path.Combine(dir.Path, "out")], "--guidance-scale", "lots"));

    /// <summary>An <see cref="IProgress{T}"/> that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress<T>(Action<T> action) : IProgress<T>
    {
        public void Report(T value) => action(value);
    }
}
