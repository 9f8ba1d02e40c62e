using DreamBooth.Pipelines;
using DreamBooth.Tests.Infrastructure;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Pipelines;

public class ClassifierFreeGuidanceTests
{
    [Fact]
    public void Combine_is_uncond_plus_scale_times_the_difference()
    {
        using var g = new Generator(11);
        using var uncond = randn([2, 4, 3, 3], generator: g);
        using var cond = randn([2, 4, 3, 3], generator: g);
        using var both = cat([uncond, cond], 0);
        using var guided = ClassifierFreeGuidance.Combine(both, 7.5);
        using var expected = uncond + 7.5 * (cond - uncond);
        Golden.AssertClose(guided, expected, 1e-6, 0, "guided");
    }

    [Fact]
    public void Rescale_matches_rescale_noise_cfg_per_sample()
    {
        using var g = new Generator(12);
        using var guided = randn([2, 4, 3, 3], generator: g) * 3;
        using var cond = randn([2, 4, 3, 3], generator: g);
        using var result = ClassifierFreeGuidance.Rescale(guided, cond, 0.7);
        for (long b = 0; b < 2; b++)
        {
            // Written out in float64 from the paper's formula (Lin et al. 2023, Algorithm 2), Bessel-corrected std as torch.std.
            var x = guided[b].to(float64).data<double>().ToArray();
            var c = cond[b].to(float64).data<double>().ToArray();
            double Std(double[] v) { double m = v.Average(); return Math.Sqrt(v.Sum(e => (e - m) * (e - m)) / (v.Length - 1)); }
            double ratio = Std(c) / Std(x);
            using var expected = tensor(x.Select(e => 0.7 * e * ratio + 0.3 * e).ToArray()).reshape(4, 3, 3);
            Golden.AssertClose(result[b], expected, 1e-5, 0, $"sample {b}");
        }
        using var none = ClassifierFreeGuidance.Rescale(guided, cond, 0);
        Golden.AssertClose(none, guided, 0, 0, "phi 0");
        using var full = ClassifierFreeGuidance.Rescale(guided, cond, 1);
        Golden.AssertClose(full.std([1, 2, 3]), cond.std([1, 2, 3]), 1e-5, 0, "phi 1 std");
    }

    [Fact]
    public void Guidance_rescale_changes_the_run_only_when_asked()
    {
        using var model = TinyPipeline.Create();
        var pipeline = new StableDiffusionPipeline(model);
        using var plain = pipeline.Generate(TinyPipeline.Request() with { Steps = 2 });
        using var rescaled = pipeline.Generate(TinyPipeline.Request() with { Steps = 2, GuidanceRescale = 0.7 });
        using var unguided = pipeline.Generate(TinyPipeline.Request() with { Steps = 2, GuidanceScale = 1, GuidanceRescale = 0.7 });
        using var unguidedPlain = pipeline.Generate(TinyPipeline.Request() with { Steps = 2, GuidanceScale = 1 });
        Assert.False(plain.Images.allclose(rescaled.Images));
        Golden.AssertClose(unguided.Images, unguidedPlain.Images, 0, 0, "rescale without guidance is a no-op");
    }
}
