using DreamBooth.IO;
using DreamBooth.Models.Unet;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Models.Unet;

/// <summary>
/// The UNet against diffusers' UNet2DConditionModel (golden README §3). Inputs, expected outputs and the set of
/// intermediate taps all come from the fixture files; every <c>tap.*</c> tensor in a file must be produced and match.
/// </summary>
public class UNetGoldenTests
{
    // README "Tolerances": UNet atol 1e-4, or rtol 1e-4 of max |value| (whichever is larger).
    private const double Tolerance = 1e-4;
    private const string TapPrefix = "tap.";

    public static TheoryData<string, string> Cases => new()
    {
        { "unet_sd1", "tiny-sd1/unet" },
        { "unet_sd1_scalar_t", "tiny-sd1/unet" },
        { "unet_sd1_float_t", "tiny-sd1/unet" },
        { "unet_sd2", "tiny-sd2/unet" },
        { "unet_sdxl", "tiny-sdxl-unet" },
    };

    [Theory, Trait("Category", Golden.Category)]
    [MemberData(nameof(Cases))]
    public void Output_and_every_tap_match_diffusers(string caseFile, string modelDir)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var fixture = Golden.Outputs(caseFile);
        using var unet = UNet2DConditionModel.FromPretrained(Golden.PathOf(modelDir.Split('/')));

        var timesteps = fixture["timesteps"];
        // A single timestep is the Python-int case: check both a 0-d tensor and the stored [1] tensor broadcast to the batch.
        var timestepVariants = timesteps.numel() == 1 ? new[] { timesteps.reshape([]), timesteps } : new[] { timesteps };
        foreach (var t in timestepVariants)
        {
            var taps = new Dictionary<string, Tensor>();
            var output = unet.forward(fixture["sample"], t, fixture["encoder_hidden_states"],
                fixture.GetValueOrDefault("added_cond.text_embeds"), fixture.GetValueOrDefault("added_cond.time_ids"), taps);

            AssertMatches(output, fixture["out"], $"{caseFile}:out (timestep shape [{string.Join(",", t.shape)}])");
            foreach (var (key, expected) in fixture.Where(kv => kv.Key.StartsWith(TapPrefix, StringComparison.Ordinal)))
            {
                var name = key[TapPrefix.Length..];
                taps.Should().ContainKey(name, $"{caseFile} records {key}, so the UNet must capture it");
                AssertMatches(taps[name], expected, $"{caseFile}:{key}");
            }
        }
    }

    [Fact, Trait("Category", Golden.Category)]
    public void Sd1_fixture_records_taps_so_the_tap_comparison_has_teeth()
    {
        using var scope = NewDisposeScope();
        Golden.Outputs("unet_sd1").Keys.Count(k => k.StartsWith(TapPrefix, StringComparison.Ordinal)).Should().BeGreaterThan(5);
    }

    [Theory, Trait("Category", Golden.Category)]
    [InlineData("tiny-sd1/unet")]
    [InlineData("tiny-sd2/unet")]
    [InlineData("tiny-sdxl-unet")]
    public void State_dict_keys_and_shapes_equal_the_checkpoint(string modelDir)
    {
        var dir = Golden.PathOf(modelDir.Split('/'));
        var config = ConfigJson.Read<UNet2DConditionConfig>(Path.Combine(dir, "config.json"));
        using var unet = new UNet2DConditionModel(config);
        using var reader = Safetensors.Open(Path.Combine(dir, "diffusion_pytorch_model.safetensors"));
        var ours = unet.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
        ours.Keys.Should().BeEquivalentTo(reader.Entries.Keys);
        foreach (var (key, shape) in ours) shape.Should().Equal(reader.Entries[key].Shape, key);
    }

    private static void AssertMatches(Tensor actual, Tensor expected, string name)
    {
        double maxAbs = expected.abs().max().to(ScalarType.Float64).item<double>();
        Golden.AssertClose(actual, expected, Math.Max(Tolerance, Tolerance * maxAbs), 0, name);
    }
}
