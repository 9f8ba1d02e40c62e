using System.Text.Json;
using System.Text.Json.Nodes;
using DreamBooth.Evaluation;
using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.TinyWorld;
using DreamBooth.TinyWorld.Pretraining;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.TinyWorld.Pretraining;

/// <summary>The shipped base model, <c>models/tiny-world</c>: it loads, samples, fits the budget, and its record reproduces.</summary>
public sealed class ShippedModelTests
{
    private static string ModelDir => ShippedModels.Find("tiny-world");

    private static JsonObject Record => JsonNode.Parse(File.ReadAllText(Path.Combine(ModelDir, TinyWorldPretrainer.RecordFileName)))!.AsObject();

    [Fact]
    public void ShippedModel_IsWithinTheSizeBudget()
    {
        long bytes = Directory.EnumerateFiles(ModelDir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        bytes.Should().BeLessThanOrEqualTo(30_000_000, "models/tiny-world ships in the repository");
    }

    [Fact]
    public void ShippedModel_LoadsWithOurLoaders_AndGeneratesImages()
    {
        var folder = ModelFolder.Open(ModelDir);
        using (var unet = UNet2DConditionModel.FromPretrained(folder["unet"])) unet.Config.SampleSize!.Single.Should().Be(16);
        using (var vae = AutoencoderKL.FromPretrained(folder["vae"])) vae.ScalingFactor.Should().Be(Record["vae_scaling_factor"]!.GetValue<double>());
        using (var text = CLIPTextModel.FromPretrained(folder["text_encoder"])) text.Config.MaxPositionEmbeddings.Should().Be(TinyWorldVocabulary.ModelMaxLength);

        using var sampler = new DdimSampler(ModelDir);
        using var images = sampler.Sample(["a photo of a red dog on the beach", "a pencil sketch of a cat"], steps: 6, guidance: 4.0, seed: 1);
        images.shape.Should().Equal(2, 3, 64, 64);
        images.isfinite().all().item<bool>().Should().BeTrue();
        images.std().item<float>().Should().BeGreaterThan(0.05f, "a generated scene is not a flat colour");
    }

    [Fact]
    public void ShippedTokenizer_IsTheWorldVocabulary()
    {
        var dir = Directory.CreateTempSubdirectory("tw-vocab-").FullName;
        try
        {
            TinyWorldVocabulary.Build().Write(dir);
            foreach (var file in new[] { "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json" })
                File.ReadAllBytes(Path.Combine(ModelDir, "tokenizer", file)).Should().Equal(File.ReadAllBytes(Path.Combine(dir, file)), file);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ShippedVae_KeepsTheDemoSubjectsIdentity()
    {
        // The demo subject's colour pairing and marking never occur in pretraining; the VAE (trained with hue rotation)
        // must still reconstruct the subject, or no fine-tuning can render it (the bound in the demo's table).
        using var probe = Probe.Load(Probe.DefaultDirectory);
        using var vae = AutoencoderKL.FromPretrained(Path.Combine(ModelDir, "vae"));
        var photos = DemoSubject.Photos().Select(s => SceneRenderer.RenderTensor(s)).ToList();
        double bound = DreamBoothEvaluator.AutoencoderBound(probe, vae, photos);
        var separation = ProbeEvaluator.Demo(probe);
        bound.Should().BeLessThanOrEqualTo(separation.PhotoCeiling + 0.02, "a reconstruction is not more like the photos than they are like each other");
        bound.Should().BeGreaterThan(separation.OtherDogs + 0.25, "the subject's reconstructions are far more like it than other dogs are");
    }

    /// <summary>Re-runs the first steps of both stages from the recorded options and seed (see <see cref="RecordReplay"/>).</summary>
    [Fact]
    public void RecordedCommand_ReproducesTheFirstSteps() => RecordReplay.AssertReproduces(ModelDir);
}
