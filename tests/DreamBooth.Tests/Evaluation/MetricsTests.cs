using System.Text.Json;
using DreamBooth.Cli;
using DreamBooth.Data;
using DreamBooth.Evaluation;
using DreamBooth.TinyWorld;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Evaluation;

/// <summary>The metrics on ground-truth renders, where the right answers are known.</summary>
public sealed class MetricsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "metrics-" + Guid.NewGuid().ToString("N"));
    private static readonly Lazy<Probe> Shipped = new(() => Probe.Load(Path.Combine(Golden.RepoRoot, "models", "probe")));

    public MetricsTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    private static List<Tensor> Real() => DemoSubject.Photos().Select(SceneRenderer.RenderTensor).ToList();

    /// <summary>The subject (or other dogs) rendered in every context and both art styles, two each, with prompts.</summary>
    private static List<(Tensor, string)> Rendered(bool subject, long seed)
    {
        var rng = new WorldRandom((ulong)seed);
        var list = new List<(Tensor, string)>();
        foreach (var style in new[] { RenderStyle.Photo, RenderStyle.Painting })
            foreach (var ctx in Enum.GetValues<WorldContext>())
                for (int k = 0; k < 2; k++)
                {
                    var scene = subject ? DemoSubject.In(ctx, style, ref rng)
                        : SceneSampler.SampleSceneOf(ref rng, SceneSampler.SampleAppearance(ref rng, SubjectClass.Dog), ctx, style);
                    var prompt = new CaptionParts { Style = style, Class = SubjectClass.Dog, Identifier = subject ? "sks" : null, Context = ctx }.ToString();
                    list.Add((SceneRenderer.RenderTensor(scene), prompt));
                }
        return list;
    }

    [Fact]
    public void Ground_truth_subject_renders_score_near_the_ceiling_and_other_dogs_low()
    {
        var subject = DreamBoothEvaluator.Evaluate(Shipped.Value, Real(), Rendered(subject: true, 1), Rendered(subject: false, 2).Select(x => (x.Item1, (string?)"a photo of a dog")).ToList());
        subject.RealCeiling.Should().BeGreaterThan(0.9);
        subject.SubjectFidelityRatio.Should().BeGreaterThan(0.9);
        subject.PromptFidelity.Should().BeGreaterThan(0.9);
        subject.ClassAccuracy.Should().BeGreaterThan(0.95);
        subject.Pres.Should().BeLessThan(subject.SubjectFidelity!.Value - 0.3, "random dogs are far from the subject");
        subject.Diversity.Should().BeGreaterThan(0.01);
        subject.Prompts.Should().HaveCount(12);

        // An overfit generator that ignores the prompt and repeats one training photo per prompt: the subject is perfect,
        // but the context is wrong and same-prompt images do not vary (DIV 0, below the renders' pose variation).
        var real = Real();
        var copies = new[] { "on the beach", "in the snow" }.SelectMany((where, i) => Enumerable.Repeat((real[i], $"a photo of sks dog {where}"), 3)).ToList();
        var overfit = DreamBoothEvaluator.Evaluate(Shipped.Value, real, copies);
        overfit.PromptFidelity.Should().BeLessThan(0.2);
        overfit.SubjectFidelityRatio.Should().BeGreaterThan(0.95);
        overfit.Diversity.Should().BeApproximately(0, 1e-6);
        subject.Diversity!.Value.Should().BeGreaterThan(overfit.Diversity!.Value + 0.05);
        DreamBoothEvaluator.Diversity(Shipped.Value.Analyze(stack(new[] { Real()[0], Real()[0] }))).Should().BeApproximately(0, 1e-6);
    }

    [Fact]
    public void A_decompression_bomb_among_the_images_is_refused_in_one_line_before_decoding()
    {
        // 100 bytes of PNG claiming 30000×30000: evaluate used to allocate the bitmap and fail with an internal error.
        var gen = Path.Combine(_dir, "bomb");
        Directory.CreateDirectory(gen);
        File.WriteAllBytes(Path.Combine(gen, "big.png"), DreamBooth.Tests.Data.Corpus.PngBuilder.Assemble(
            DreamBooth.Tests.Data.Corpus.PngBuilder.Ihdr(30_000, 30_000, 8, DreamBooth.Tests.Data.Corpus.PngBuilder.Rgb),
            DreamBooth.Tests.Data.Corpus.PngBuilder.Compress(new byte[100])));
        File.WriteAllText(Path.Combine(gen, "big.txt"), "a photo of sks dog");
        var output = Path.Combine(_dir, "bomb-out", "metrics.json");
        var (code, error) = DreamBooth.Tests.Corpus.Corpus.Cli("evaluate", "--generated", gen, "--output", output);
        code.Should().Be(CliApp.ExitBadInput, error);
        error.Trim().Should().Contain("big.png").And.Contain("30000x30000").And.NotContain("\n");
        File.Exists(output).Should().BeFalse();
    }

    [Fact]
    public async Task Evaluate_command_reads_prompts_from_png_metadata_and_writes_json_and_markdown()
    {
        var gen = Path.Combine(_dir, "gen");
        var cls = Path.Combine(_dir, "cls");
        int i = 0;
        foreach (var (image, prompt) in Rendered(subject: true, 3).Take(8))
            ImageIO.SavePng(Path.Combine(gen, $"{i++:D3}.png"), image, new[] { KeyValuePair.Create(GenerationParameters.PngKey, new GenerationParameters(prompt) { Steps = 20, Seed = i }.Format()) });
        i = 0;
        foreach (var (image, _) in Rendered(subject: false, 4).Take(4)) ImageIO.SavePng(Path.Combine(cls, $"{i++:D3}.png"), image);
        var output = Path.Combine(_dir, "out", "metrics.json");
        var samples = Path.Combine(Golden.RepoRoot, "samples");
        var probe = Path.Combine(Golden.RepoRoot, "models", "probe");
        int code = await CliApp.RunAsync(new[] { "evaluate", "--real", samples, "--generated", gen, "--class-images", cls, "--probe", probe, "--output", output });
        code.Should().Be(0);
        var json = JsonDocument.Parse(File.ReadAllText(output)).RootElement;
        json.GetProperty("generated_images").GetInt32().Should().Be(8);
        json.GetProperty("real_images").GetInt32().Should().Be(DemoSubject.PhotoCount);
        json.GetProperty("subject_fidelity").GetDouble().Should().BeGreaterThan(0.8);
        json.GetProperty("prompt_fidelity").GetDouble().Should().BeGreaterThan(0.8);
        json.GetProperty("pres").GetDouble().Should().BeLessThan(json.GetProperty("subject_fidelity").GetDouble());
        File.ReadAllText(Path.ChangeExtension(output, ".md")).Should().Contain("| subject fidelity |").And.Contain("a photo of sks dog on the beach");
    }

    [Fact]
    public async Task Prompts_come_from_a_manifest_or_sidecar_and_a_missing_prompt_is_named()
    {
        var gen = Path.Combine(_dir, "g");
        var img = SceneRenderer.RenderTensor(DemoSubject.Photos()[0]);
        ImageIO.SavePng(Path.Combine(gen, "a.png"), img);
        ImageIO.SavePng(Path.Combine(gen, "b.png"), img);
        File.WriteAllText(Path.Combine(gen, "b.txt"), "a photo of sks dog in the snow\n");
        FluentActions.Invoking(() => PromptedImages.Read(gen, requirePrompts: true)).Should().Throw<DreamBoothException>().WithMessage("*a.png*no prompt*");
        File.WriteAllText(Path.Combine(gen, PromptedImages.ManifestFile), """{"a.png": "a painting of sks dog"}""");
        var items = PromptedImages.Read(gen, requirePrompts: true);
        items.Select(x => x.Prompt).Should().Equal("a painting of sks dog", "a photo of sks dog in the snow");
        int code = await CliApp.RunAsync(new[] { "evaluate", "--generated", Path.Combine(_dir, "nothing-here") });
        code.Should().Be(CliApp.ExitBadInput);
    }
}
