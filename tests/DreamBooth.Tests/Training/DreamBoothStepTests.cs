using DreamBooth.Models.Unet;
using DreamBooth.Schedulers;
using DreamBooth.Tests.Infrastructure;
using DreamBooth.Tests.Models;
using DreamBooth.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

/// <summary>The step's formulas, recomputed independently: v target, Min-SNR weights, prior split, offset noise.</summary>
public class DreamBoothStepTests
{
    private static Tensor At(Tensor alphasCumprod, Tensor t) => alphasCumprod.to(ScalarType.Float64).index_select(0, t).view(-1, 1, 1, 1);

    [Theory]
    [InlineData("tiny-sd1", null)]   // epsilon, plain MSE
    [InlineData("tiny-sd1", 5.0)]    // epsilon, Min-SNR
    [InlineData("tiny-sd2", 5.0)]    // v_prediction, Min-SNR (+1 floor)
    public void Loss_matches_the_formulas(string model, double? snrGamma)
    {
        using var g = new Generator(8);
        using var unet = new UNet2DConditionModel(TinyModels.Sd1Unet);
        using var scheduler = new DDPMScheduler(SchedulerConfig.Read(Golden.PathOf(model, "scheduler")));
        var latents = randn([3, 4, 8, 8], generator: g);
        var ehs = randn([3, 5, 12], generator: g);
        var noise = randn([3, 4, 8, 8], generator: g);
        var t = tensor(new long[] { 5, 400, 990 });
        var r = DreamBoothStep.Compute(unet, scheduler, latents, noise, t, ehs, 2, new DreamBoothLossOptions(0.7, snrGamma));

        var a = At(scheduler.AlphasCumprod, t);
        var x0 = latents.to(ScalarType.Float64);
        var eps = noise.to(ScalarType.Float64);
        Golden.AssertClose(r.NoisyLatents, a.sqrt() * x0 + (1 - a).sqrt() * eps, 1e-5, 0, "noisy");
        bool v = scheduler.PredictionType == PredictionType.VPrediction;
        v.Should().Be(model == "tiny-sd2");
        var target = v ? a.sqrt() * eps - (1 - a).sqrt() * x0 : eps;
        Golden.AssertClose(r.Target, target, 1e-5, 0, "target");

        var perSample = (r.ModelPred.to(ScalarType.Float64) - target).pow(2).flatten(1).mean([1]);
        var snr = (a / (1 - a)).flatten();
        var weights = snrGamma is double gamma ? snr.clamp(max: gamma) / snr + (v ? 1 : 0) : ones(3, ScalarType.Float64);
        double instance = (perSample[..2] * weights[..2]).mean().item<double>();
        double prior = perSample[2].item<double>();
        r.InstanceLoss.item<float>().Should().BeApproximately((float)instance, 1e-5f * (float)Math.Max(1, instance));
        r.PriorLoss!.item<float>().Should().BeApproximately((float)prior, 1e-5f * (float)Math.Max(1, prior));
        r.Loss.item<float>().Should().BeApproximately((float)(instance + 0.7 * prior), 1e-5f * (float)Math.Max(1, instance));
        if (snrGamma is not null) weights[..2].sum().item<double>().Should().NotBe(2.0, "the weights must do something here");
    }

    [Fact]
    public void Without_prior_preservation_the_whole_batch_is_instance()
    {
        using var unet = new UNet2DConditionModel(TinyModels.Sd1Unet);
        using var scheduler = new DDPMScheduler(SchedulerConfig.Read(Golden.PathOf("tiny-sd1", "scheduler")));
        using var g = new Generator(2);
        var latents = randn([2, 4, 8, 8], generator: g);
        var r = DreamBoothStep.Compute(unet, scheduler, latents, randn([2, 4, 8, 8], generator: g), tensor(new long[] { 1, 2 }), randn([2, 5, 12], generator: g), 2, new DreamBoothLossOptions());
        r.PriorLoss.Should().BeNull();
        r.Loss.item<float>().Should().Be(r.InstanceLoss.item<float>());
    }

    [Fact]
    public void Noise_is_drawn_in_diffusers_order_from_the_generator()
    {
        var latents = zeros(2, 4, 8, 8);
        using var g = new Generator(17);
        var (noise, t) = DreamBoothStep.SampleNoise(latents, 1000, g, offsetNoise: true);
        using var replay = new Generator(17);
        var eps = randn([2, 4, 8, 8], generator: replay);
        var offset = randn([2, 4, 1, 1], generator: replay);
        var steps = randint(0, 1000, [2], ScalarType.Int64, generator: replay);
        Golden.AssertClose(noise, eps + 0.1 * offset, 0, 0, "noise");
        TensorEquality.Equal(t, steps).Should().BeTrue();

        using var g2 = new Generator(17);
        var (plain, _) = DreamBoothStep.SampleNoise(latents, 1000, g2, offsetNoise: false);
        TensorEquality.Equal(plain, eps).Should().BeTrue();
    }
}
