using DreamBooth.IO;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.IO;

/// <summary>WeightLoader's ignoreUnexpected skips only the named file keys the model lacks; everything else stays strict.</summary>
public class WeightLoaderIgnoreUnexpectedTests
{
    [Fact]
    public void Named_extra_keys_are_skipped_and_everything_else_stays_strict()
    {
        var dir = Directory.CreateTempSubdirectory("weightloader-").FullName;
        try
        {
            using var scope = NewDisposeScope();
            using var module = nn.Linear(3, 2);
            var weight = arange(6, ScalarType.Float32).view(2, 3);
            var bias = tensor(new[] { 7f, 8f });
            string Write(string name, Dictionary<string, Tensor> tensors)
            {
                var path = Path.Combine(dir, name);
                Safetensors.Save(path, tensors);
                return path;
            }
            var withExtra = Write("extra.safetensors", new() { ["weight"] = weight, ["bias"] = bias, ["position_ids"] = arange(4) });
            var withoutBias = Write("nobias.safetensors", new() { ["weight"] = weight, ["position_ids"] = arange(4) });

            WeightLoader.Load(module, withExtra, ignoreUnexpected: ["position_ids"]);
            module.weight!.eq(weight).all().item<bool>().Should().BeTrue();
            module.bias!.eq(bias).all().item<bool>().Should().BeTrue();

            var notListed = () => WeightLoader.Load(module, withExtra, ignoreUnexpected: ["other"]);
            notListed.Should().Throw<DreamBoothException>().WithMessage("*unexpected 1 key(s): position_ids*");
            var strictByDefault = () => WeightLoader.Load(module, withExtra);
            strictByDefault.Should().Throw<DreamBoothException>().WithMessage("*unexpected 1 key(s): position_ids*");
            // Ignoring never excuses a missing model key, even one named in the list.
            var missing = () => WeightLoader.Load(module, withoutBias, ignoreUnexpected: ["position_ids", "bias"]);
            missing.Should().Throw<DreamBoothException>().WithMessage("*missing 1 key(s): bias*");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
