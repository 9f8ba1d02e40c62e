using System.Text.Json;
using DreamBooth.IO;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.IO.Pickle;

/// <summary>
/// Checkpoints written by real PyTorch (1.13, Debian's python3-torch; <c>Fixtures/make_fixtures.py</c>): the zip and
/// legacy layouts, protocol 2 and 4, nn.Parameter values, a wrapped <c>{"state_dict": ...}</c>, views that share a
/// storage. Expected values come from <c>Fixtures/expected.json</c>, written by the same script.
/// </summary>
public class PickleCheckpointTorchFixtureTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "IO", "Pickle", "Fixtures", name);

    [Theory]
    [InlineData("torch113_zip.bin")]
    [InlineData("torch113_legacy.bin")]
    [InlineData("torch113_zip_protocol4.bin")]
    public void Torch_state_dicts_load_with_their_dtypes_shapes_and_values(string file)
    {
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Fixture("expected.json")));
        using var checkpoint = PickleCheckpoint.Open(Fixture(file));
        checkpoint.Entries.Keys.Should().Equal(expected.RootElement.EnumerateObject().Select(p => p.Name));
        foreach (var p in expected.RootElement.EnumerateObject())
        {
            using var t = checkpoint.Load(p.Name);
            t.dtype.ToString().ToLowerInvariant().Should().Be(p.Value.GetProperty("dtype").GetString()!.Replace("torch.", ""), p.Name);
            t.shape.Should().Equal(p.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), p.Name);
            using var f = t.to_type(ScalarType.Float64);
            f.data<double>().ToArray().Should().Equal(p.Value.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()), p.Name);
        }
    }

    [Theory]
    [InlineData("torch113_parameters.pt")]
    [InlineData("torch113_wrapped.ckpt")]
    public void Parameters_and_wrapped_state_dicts_load(string file)
    {
        using var checkpoint = PickleCheckpoint.Open(Fixture(file));
        checkpoint.Entries.Keys.Should().BeEquivalentTo("weight", "bias");
        using var w = checkpoint.Load("weight");
        using var b = checkpoint.Load("bias");
        w.data<float>().ToArray().Should().Equal(0f, 0.125f, 0.25f, 0.375f, 0.5f, 0.625f);
        b.data<float>().ToArray().Should().Equal(0.25f, -0.5f);
    }
}
