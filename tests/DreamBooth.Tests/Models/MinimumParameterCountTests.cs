using DreamBooth.IO;
using DreamBooth.Models;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Models;

/// <summary>
/// <see cref="IModelConfig.MinimumParameterCount"/> is a true lower bound (never above the real model, or a valid model
/// would be refused) and a tight enough one to matter (a large share of the real count), on every golden model.
/// </summary>
[Trait("Category", Golden.Category)]
public class MinimumParameterCountTests
{
    [Theory]
    [InlineData("tiny-sd1/unet")]
    [InlineData("tiny-sd2/unet")]
    [InlineData("tiny-sdxl-unet")]
    [InlineData("tiny-sd1/vae")]
    [InlineData("tiny-sd1/text_encoder")]
    [InlineData("clip-text-proj-gelu")]
    public void Bound_is_below_the_real_count_and_at_least_a_tenth_of_it(string folder)
    {
        var component = ModelComponent.Open(Golden.PathOf(folder.Split('/')));
        IModelConfig config = component.ClassName switch
        {
            "UNet2DConditionModel" => component.ReadConfig<UNet2DConditionConfig>(),
            "AutoencoderKL" => component.ReadConfig<AutoencoderKLConfig>(),
            _ => component.ReadConfig<CLIPTextConfig>(),
        };
        config.Validate(component.ConfigPath!);
        double bound = config.MinimumParameterCount();
        long real = component.Weights!.ParameterCount;
        bound.Should().BeLessThanOrEqualTo(real);
        bound.Should().BeGreaterThan(real / 10.0, $"the bound {bound} should be a real share of {real}");
    }
}
