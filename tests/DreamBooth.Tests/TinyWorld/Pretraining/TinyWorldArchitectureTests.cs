using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Schedulers;
using DreamBooth.TinyWorld;
using DreamBooth.TinyWorld.Pretraining;
using DreamBooth.Tokenization;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.TinyWorld.Pretraining;

public sealed class TinyWorldArchitectureTests
{
    private static readonly TinyWorldVocabulary Vocabulary = TinyWorldVocabulary.Build();

    [Fact]
    public void DefaultArchitecture_FitsTheSizeBudgetInFloat32()
    {
        var a = TinyWorldArchitecture.Default(Vocabulary);
        using var vae = new AutoencoderKL(a.Vae);
        using var text = new CLIPTextModel(a.TextEncoder);
        using var unet = new UNet2DConditionModel(a.Unet);
        long Count(nn.Module m) => m.parameters().Sum(p => p.numel());
        long total = Count(vae) + Count(text) + Count(unet);
        (total * 4).Should().BeLessThan(30L * 1000 * 1000, "the shipped model (float32) must stay within 30 MB");
        Count(unet).Should().BeInRange(2_000_000, 8_000_000, "a UNet of a few million parameters");
    }

    [Theory]
    [InlineData("default")]
    [InlineData("micro")]
    public void Configs_RoundTripThroughDiffusersJson(string name)
    {
        var a = TinyWorldArchitecture.Named(name, Vocabulary);
        var dir = Directory.CreateTempSubdirectory("arch-").FullName;
        try
        {
            a.WriteConfigs(dir, vaeScalingFactor: 0.5);
            ConfigJson.Read<AutoencoderKLConfig>(Path.Combine(dir, "vae", "config.json")).Should().BeEquivalentTo(a.Vae with { ScalingFactor = 0.5 });
            ConfigJson.Read<CLIPTextConfig>(Path.Combine(dir, "text_encoder", "config.json")).Should().BeEquivalentTo(a.TextEncoder);
            ConfigJson.Read<UNet2DConditionConfig>(Path.Combine(dir, "unet", "config.json")).Should().BeEquivalentTo(a.Unet);
            using var scheduler = SchedulerFactory.FromPretrained(Path.Combine(dir, "scheduler"));
            scheduler.Should().BeOfType<DDIMScheduler>();
            scheduler.Config.BetaSchedule.Should().Be("squaredcos_cap_v2");
            scheduler.Config.TimestepSpacing.Should().Be("trailing");
            scheduler.PredictionType.Should().Be(PredictionType.VPrediction);
            scheduler.Config.ClipSample.Should().BeFalse("latents are not confined to [-1, 1]");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Scheduler_HasAlmostZeroTerminalSnr_AndSamplingStartsAtTheLastTimestep()
    {
        using var scheduler = new DDIMScheduler(TinyWorldArchitecture.SchedulerDefaults);
        scheduler.AlphasCumprod[scheduler.NumTrainTimesteps - 1].item<float>().Should().BeLessThan(1e-6f, "sampling starts from pure noise, so training must reach it too");
        scheduler.SetTimesteps(20);
        scheduler.TimestepValues[0].Should().Be(999);
    }

    [Fact]
    public void TextEncoder_MatchesTheTokenizer()
    {
        var a = TinyWorldArchitecture.Default(Vocabulary);
        a.TextEncoder.MaxPositionEmbeddings.Should().Be(TinyWorldVocabulary.ModelMaxLength);
        a.TextEncoder.VocabSize.Should().Be(Vocabulary.VocabSize);
        a.TextEncoder.EosTokenId.Should().Be(Vocabulary.EosTokenId);
        a.TextEncoder.BosTokenId.Should().Be(Vocabulary.BosTokenId);
        a.Unet.CrossAttentionDims.Should().AllBeEquivalentTo(a.TextEncoder.HiddenSize);
    }

    [Fact]
    public void Initialization_IsAFunctionOfTheGeneratorSeed()
    {
        var a = TinyWorldArchitecture.Micro(Vocabulary);
        using var u1 = new UNet2DConditionModel(a.Unet);
        using var u2 = new UNet2DConditionModel(a.Unet);
        using (var g = new Generator(3, CPU)) WeightInitialization.PyTorchDefault(u1, g);
        using (var g = new Generator(3, CPU)) WeightInitialization.PyTorchDefault(u2, g);
        foreach (var ((name, p1), (_, p2)) in u1.named_parameters().Zip(u2.named_parameters()))
            p1.eq(p2).all().item<bool>().Should().BeTrue(name);
        var norm = u1.named_parameters().First(p => p.name.EndsWith("norm1.weight")).parameter;
        norm.eq(1).all().item<bool>().Should().BeTrue("norm weights start at 1");
        var conv = u1.named_parameters().First(p => p.name == "conv_in.weight").parameter;
        double bound = 1 / Math.Sqrt(conv.shape[1] * conv.shape[2] * conv.shape[3]);
        conv.abs().max().item<float>().Should().BeLessThanOrEqualTo((float)bound);
    }

    [Fact]
    public void ClipInitialization_FollowsTransformers()
    {
        var a = TinyWorldArchitecture.Default(Vocabulary);
        using var text = new CLIPTextModel(a.TextEncoder);
        using (var g = new Generator(5, CPU)) WeightInitialization.Clip(text, g);
        var p = text.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        double d = a.TextEncoder.HiddenSize, layers = a.TextEncoder.NumHiddenLayers;
        Std(p["text_model.embeddings.token_embedding.weight"]).Should().BeApproximately(0.02, 0.002);
        Std(p["text_model.encoder.layers.0.self_attn.q_proj.weight"]).Should().BeApproximately(Math.Pow(d, -0.5) * Math.Pow(2 * layers, -0.5), 0.01);
        Std(p["text_model.encoder.layers.0.mlp.fc1.weight"]).Should().BeApproximately(Math.Pow(2 * d, -0.5), 0.01);
        p["text_model.encoder.layers.0.self_attn.q_proj.bias"].abs().max().item<float>().Should().Be(0);
        p["text_model.final_layer_norm.weight"].eq(1).all().item<bool>().Should().BeTrue();
    }

    private static double Std(Tensor t) => t.std().item<float>();
}
