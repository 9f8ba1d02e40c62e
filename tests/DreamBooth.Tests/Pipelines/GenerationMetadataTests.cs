using DreamBooth.Data;
using DreamBooth.Pipelines;
using Xunit;

namespace DreamBooth.Tests.Pipelines;

public class GenerationMetadataTests
{
    [Fact]
    public void Parameters_follow_the_a1111_layout()
    {
        var request = TinyPipeline.Request("a dog", "a cat") with { ImagesPerPrompt = 2, NegativePrompts = ["blurry", "ugly"], ClipSkip = 1, GuidanceRescale = 0.7, Seed = 40 };
        var text = GenerationMetadata.For(request, 3, "DDIM", "tiny", 64, 48).Format();
        Assert.Equal("a cat\nNegative prompt: ugly\nSteps: 3, Sampler: DDIM, CFG scale: 7.5, Seed: 43, Size: 64x48, Model: tiny, Clip skip: 2, Guidance rescale: 0.7", text);
        Assert.Equal(43, GenerationParameters.Parse(text).Seed);
    }

    [Fact]
    public void Without_guidance_there_is_no_negative_prompt_line()
    {
        var request = TinyPipeline.Request("a dog") with { GuidanceScale = 1, NegativePrompts = ["blurry"], GuidanceRescale = 0.5 };
        var text = GenerationMetadata.For(request, 0, "Euler a", "tiny", 16, 16).Format();
        Assert.Equal("a dog\nSteps: 3, Sampler: Euler a, CFG scale: 1, Seed: 7, Size: 16x16, Model: tiny", text);
    }
}
