using DreamBooth.IO;
using DreamBooth.Tests.IO;
using DreamBooth.Training;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

/// <summary>The final diffusers folder is a pipeline only once every component is written.</summary>
public class DiffusersOutputTests
{
    [Fact]
    public void A_write_that_fails_midway_leaves_no_model_index_even_where_an_earlier_run_wrote_one()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        var baseModel = ModelFolder.Open(TrainerTestKit.TinySd1);
        DiffusersOutput.Write(baseModel, output, new Dictionary<string, IReadOnlyDictionary<string, Tensor>>());
        File.ReadAllBytes(Path.Combine(output, ModelIndex.FileName)).Should().Equal(File.ReadAllBytes(Path.Combine(baseModel.Root, ModelIndex.FileName)));

        // A UNet state dict that cannot be saved (a tensor without a name) fails after the other components were copied.
        using var bad = zeros(1);
        var act = () => DiffusersOutput.Write(baseModel, output,
            new Dictionary<string, IReadOnlyDictionary<string, Tensor>> { ["unet"] = new Dictionary<string, Tensor> { [""] = bad } });
        act.Should().Throw<ArgumentException>();
        File.Exists(Path.Combine(output, ModelIndex.FileName)).Should().BeFalse("a half-written folder must not load as a pipeline");
    }
}
