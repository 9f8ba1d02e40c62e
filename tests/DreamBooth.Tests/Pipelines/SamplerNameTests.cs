using DreamBooth.Pipelines;
using DreamBooth.Schedulers;
using Xunit;

namespace DreamBooth.Tests.Pipelines;

public class SamplerNameTests
{
    [Theory]
    [InlineData("ddim", "DDIM")]
    [InlineData("pndm", "PLMS")]
    [InlineData("ddpm", "DDPM")]
    [InlineData("euler", "Euler")]
    [InlineData("euler_a", "Euler a")]
    [InlineData("dpm++2m", "DPM++ 2M")]
    [InlineData("dpm++2m-karras", "DPM++ 2M Karras")]
    public void Names_follow_a1111(string scheduler, string expected)
    {
        using var s = SchedulerFactory.Create(scheduler, TinyPipeline.SchedulerConfig);
        Assert.Equal(expected, SamplerName.Of(s));
    }

    [Fact]
    public void Unnamed_configurations_keep_the_class_name()
    {
        using var s = SchedulerFactory.FromConfig(TinyPipeline.SchedulerConfig with { ClassName = "DPMSolverMultistepScheduler", AlgorithmType = "dpmsolver", SolverOrder = 2, FinalSigmasType = "sigma_min" });
        Assert.StartsWith("DPMSolverMultistepScheduler (dpmsolver, order 2)", SamplerName.Of(s));
    }
}
