using System.Text.Json;
using DreamBooth.IO;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.IO;

/// <summary>The fixture model folders open through the folder API exactly as their own files describe them.</summary>
public class ModelFolderGoldenTests
{
    [Fact, Trait("Category", Golden.Category)]
    public void Pipeline_folder_opens_with_the_components_and_classes_of_its_model_index()
    {
        var root = Golden.PathOf("tiny-sd1");
        var folder = ModelFolder.Open(root);
        using var index = Golden.Json("tiny-sd1", "model_index.json");
        folder.Index!.ClassName.Should().Be(index.RootElement.GetProperty("_class_name").GetString());

        var listed = index.RootElement.EnumerateObject()
            .Where(p => p.Value.ValueKind == JsonValueKind.Array && p.Value[1].ValueKind == JsonValueKind.String)
            .Where(p => ModelFolder.KnownComponents.Contains(p.Name))
            .ToDictionary(p => p.Name, p => (p.Value[0].GetString(), p.Value[1].GetString()));
        listed.Should().NotBeEmpty();
        folder.Components.Keys.Should().BeEquivalentTo(listed.Keys);

        long total = 0;
        foreach (var (name, (library, className)) in listed)
        {
            var c = folder[name];
            (c.Library, c.ClassName).Should().Be((library, className), name);
            if (c.Kind != ComponentKind.Model) continue;
            // The weights the folder API found are the component's only .safetensors file, with identical entries.
            var file = Directory.GetFiles(Path.Combine(root, name), "*.safetensors").Should().ContainSingle().Subject;
            c.Weights!.Path.Should().Be(file);
            using var reader = Safetensors.Open(file);
            c.Weights.Entries.Keys.Should().BeEquivalentTo(reader.Entries.Keys, name);
            foreach (var (key, e) in reader.Entries) c.Weights.Entries[key].Shape.Should().Equal(e.Shape, key);
            total += reader.Entries.Values.Sum(e => e.ElementCount);
        }
        folder.Describe().ParameterCount.Should().Be(total);
    }

    [Theory, Trait("Category", Golden.Category)]
    [InlineData("tiny-sd2", "unet")]
    [InlineData("tiny-sdxl-unet")]
    [InlineData("clip-text-proj-gelu")]
    public void Single_component_fixture_folders_open_alone_with_the_class_of_their_config(params string[] parts)
    {
        var dir = Golden.PathOf(parts);
        var folder = ModelFolder.Open(dir);
        folder.Index.Should().BeNull();
        var c = folder.Components.Values.Should().ContainSingle().Subject;
        using var config = Golden.Json([.. parts, "config.json"]);
        var expected = config.RootElement.TryGetProperty("_class_name", out var cls)
            ? cls.GetString()
            : config.RootElement.GetProperty("architectures")[0].GetString();
        c.ClassName.Should().Be(expected);
        c.Kind.Should().Be(ComponentKind.Model);
        c.Weights!.Entries.Should().NotBeEmpty();
    }

    [Fact, Trait("Category", Golden.Category)]
    public void Folder_of_component_folders_without_model_index_points_to_them()
    {
        var root = Golden.PathOf("tiny-sd2");
        var subfolders = ModelFolder.KnownComponents.Where(c => Directory.Exists(Path.Combine(root, c))).ToList();
        subfolders.Should().NotBeEmpty();
        var act = () => ModelFolder.Open(root);
        act.Should().Throw<DreamBoothException>().Which.Message.Should().Contain($"it has component folders {string.Join(", ", subfolders)}");
    }

    [Fact, Trait("Category", Golden.Category)]
    public void Unet_weights_load_in_bf16_as_the_rounded_fp32_weights()
    {
        var unet = ModelFolder.Open(Golden.PathOf("tiny-sd1"))["unet"];
        var fp32 = unet.LoadStateDict();
        var bf16 = unet.LoadStateDict(ScalarType.BFloat16);
        try
        {
            bf16.Keys.Should().BeEquivalentTo(fp32.Keys);
            foreach (var (name, t) in fp32)
            {
                bf16[name].dtype.Should().Be(ScalarType.BFloat16, name);
                using var rounded = t.to_type(ScalarType.BFloat16);
                bf16[name].bytes.ToArray().Should().Equal(rounded.bytes.ToArray(), name);
            }
        }
        finally
        {
            foreach (var t in fp32.Values.Concat(bf16.Values)) t.Dispose();
        }
    }
}
