using DreamBooth.Models.Unet;
using DreamBooth.Schedulers;
using DreamBooth.Tests.Infrastructure;
using DreamBooth.Tests.Models;
using DreamBooth.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

/// <summary>bf16 mixed precision (bf16 compute, fp32 masters, loss and AdamW) trains a tiny SD1-style UNet as well as fp32.</summary>
public class MixedPrecisionTests(ITestOutputHelper output)
{
    private const int Steps = 16;

    // Trains on a fixed 2 + 2 batch with fresh noise every step (same draws for both precisions); returns the fp32
    // loss of the result on a fixed evaluation set, and that of the starting model.
    private static (double Start, double End) Train(ScalarType computeDType)
    {
        using var g = new Generator(21);
        var latents = randn([4, 4, 8, 8], generator: g) * 0.8;
        var ehs = randn([4, 5, 12], generator: g);
        using var scheduler = new DDPMScheduler(SchedulerConfig.Read(Golden.PathOf("tiny-sd1", "scheduler")));
        using var unet = NewUnet();
        double start = Evaluate(unet, scheduler, latents, ehs);
        unet.train();
        foreach (var p in unet.parameters()) p.requires_grad_(true);
        using var parameters = TrainingParameters.Prepare([("unet", unet)], computeDType);
        using var optimizer = new AdamW([new OptimizerGroup("unet", parameters.Parameters.Select(p => (p.Name, p.Master)).ToList(), 1e-3, 1e-2)]);
        using var noiseGen = new Generator(7);
        for (int step = 0; step < Steps; step++)
        {
            using var scope = NewDisposeScope();
            var (noise, t) = DreamBoothStep.SampleNoise(latents, scheduler.NumTrainTimesteps, noiseGen, offsetNoise: false);
            var loss = DreamBoothStep.Compute(unet, scheduler, latents, noise, t, ehs, 2, new DreamBoothLossOptions(), computeDType).Loss;
            loss.dtype.Should().Be(ScalarType.Float32);
            loss.backward();
            parameters.AccumulateGradients();
            DreamBoothStep.ApplyGradients(parameters, optimizer, 1.0, 1.0);
        }
        // Evaluate the float32 masters in a float32 model.
        using var eval = NewUnet();
        using (no_grad())
        {
            var named = eval.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var p in parameters.Parameters) named[p.Name].copy_(p.Master);
        }
        return (start, Evaluate(eval, scheduler, latents, ehs));
    }

    // A small SD1-style UNet (TinyModels.Sd1Unet) with seeded weights, the same for both precisions.
    private static UNet2DConditionModel NewUnet()
    {
        var unet = new UNet2DConditionModel(TinyModels.Sd1Unet);
        using var g = new Generator(77);
        using var _ = no_grad();
        foreach (var (name, p) in unet.named_parameters())
        {
            if (p.dim() > 1) p.copy_(randn(p.shape, generator: g) * (1.0 / Math.Sqrt(p[0].numel())));
            else p.fill_(name.Contains("norm") && name.EndsWith(".weight") ? 1.0 : 0.0);
        }
        return unet;
    }

    private static double Evaluate(UNet2DConditionModel unet, Scheduler scheduler, Tensor latents, Tensor ehs)
    {
        using var g = new Generator(1000);
        using var _ = no_grad();
        double sum = 0;
        const int draws = 8;
        for (int i = 0; i < draws; i++)
        {
            using var scope = NewDisposeScope();
            var (noise, t) = DreamBoothStep.SampleNoise(latents, scheduler.NumTrainTimesteps, g, false);
            sum += DreamBoothStep.Compute(unet, scheduler, latents, noise, t, ehs, 2, new DreamBoothLossOptions()).Loss.item<float>();
        }
        return sum / draws;
    }

    [Fact]
    public void Bf16_training_reaches_the_fp32_loss_within_the_stated_margin()
    {
        var fp32 = Train(ScalarType.Float32);
        var bf16 = Train(ScalarType.BFloat16);
        output.WriteLine($"start {fp32.Start:F5}; after {Steps} steps: fp32 {fp32.End:F5}, bf16 {bf16.End:F5}");
        bf16.Start.Should().Be(fp32.Start);
        double gain = fp32.Start - fp32.End;
        gain.Should().BeGreaterThan(0.05 * fp32.Start, "the test must train enough to tell precisions apart");
        // Stated margin: bf16 ends within 1% of the fp32 loss (measured: 0.2% after 16 steps, loss 2.64 → 1.83).
        Math.Abs(bf16.End - fp32.End).Should().BeLessThan(0.01 * fp32.End);
    }

    [Fact]
    public void Masters_stay_float32_and_working_copies_follow_them()
    {
        using var unet = UNet2DConditionModel.FromPretrained(Golden.PathOf("tiny-sd1", "unet"));
        foreach (var p in unet.parameters()) p.requires_grad_(true);
        using var parameters = TrainingParameters.Prepare([("unet", unet)], ScalarType.BFloat16);
        parameters.MixedPrecision.Should().BeTrue();
        parameters.Parameters.Should().OnlyContain(p => p.Master.dtype == ScalarType.Float32 && p.Working.dtype == ScalarType.BFloat16);
        unet.parameters().Should().OnlyContain(p => p.dtype == ScalarType.BFloat16);
        var first = parameters.Parameters[0];
        using (no_grad()) first.Master.add_(0.125);
        parameters.CopyMastersToWorking();
        TensorEquality.Equal(first.Working, first.Master.to(ScalarType.BFloat16)).Should().BeTrue();

        // Gradients of two micro-batches add up in float32 on the masters.
        first.Working.grad = ones_like(first.Working);
        parameters.AccumulateGradients();
        first.Working.grad = full_like(first.Working, 2);
        parameters.AccumulateGradients();
        first.Working.grad.Should().BeNull();
        first.Master.grad!.dtype.Should().Be(ScalarType.Float32);
        TensorEquality.Equal(first.Master.grad, full_like(first.Master, 3)).Should().BeTrue();
        parameters.ClipGradNorm(1e9).Should().BeApproximately(3 * Math.Sqrt(first.Master.numel()), 1e-2);
        parameters.ZeroGrad();
        first.Master.grad.Should().BeNull();
    }
}
