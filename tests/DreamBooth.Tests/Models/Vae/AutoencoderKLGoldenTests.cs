using DreamBooth.IO;
using DreamBooth.Models.Vae;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Models.Vae;

/// <summary>The VAE against diffusers' AutoencoderKL (golden README §4); inputs and expectations from vae.safetensors.</summary>
public class AutoencoderKLGoldenTests
{
    // README "Tolerances": VAE atol 1e-4, or rtol 1e-4 of max |value| (whichever is larger).
    private const double Tolerance = 1e-4;

    private static string VaeDir => Golden.PathOf("tiny-sd1", "vae");

    [Fact, Trait("Category", Golden.Category)]
    public void Encode_posterior_sample_and_decode_match_diffusers()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var f = Golden.Outputs("vae");
        using var vae = AutoencoderKL.FromPretrained(VaeDir);

        AssertMatches(vae.Encoder.call(f["image"]), f["encoder_out"], "encoder_out");
        var posterior = vae.Encode(f["image"]);
        AssertMatches(posterior.Parameters, f["moments"], "moments");
        AssertMatches(posterior.Mean, f["latent_mean"], "latent_mean");
        AssertMatches(posterior.LogVar, f["latent_logvar"], "latent_logvar");
        AssertMatches(posterior.Std, f["latent_std"], "latent_std");
        AssertMatches(posterior.Sample(f["sample_noise"]), f["latent_sample"], "latent_sample");
        AssertMatches(vae.Decode(f["latents"]), f["decoded"], "decoded");
        AssertMatches(vae.Decode(posterior.Mode()), f["decoded_from_mean"], "decoded_from_mean");
    }

    [Fact, Trait("Category", Golden.Category)]
    public void Scaling_factor_comes_from_the_config()
    {
        using var vae = AutoencoderKL.FromPretrained(VaeDir);
        vae.ScalingFactor.Should().Be(Golden.Facts.GetProperty("vae").GetProperty("scaling_factor").GetDouble());
        vae.ShiftFactor.Should().BeNull();
    }

    [Fact, Trait("Category", Golden.Category)]
    public void State_dict_keys_and_shapes_equal_the_checkpoint()
    {
        var config = ConfigJson.Read<AutoencoderKLConfig>(Path.Combine(VaeDir, "config.json"));
        using var vae = new AutoencoderKL(config);
        using var reader = Safetensors.Open(Path.Combine(VaeDir, "diffusion_pytorch_model.safetensors"));
        var ours = vae.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
        ours.Keys.Should().BeEquivalentTo(reader.Entries.Keys);
        foreach (var (key, shape) in ours) shape.Should().Equal(reader.Entries[key].Shape, key);
    }

    [Fact, Trait("Category", Golden.Category)]
    public void Legacy_attention_names_load_into_the_same_model()
    {
        var dir = Directory.CreateTempSubdirectory("dreambooth-vae-legacy-").FullName;
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            File.Copy(Path.Combine(VaeDir, "config.json"), Path.Combine(dir, "config.json"));
            var tensors = Safetensors.LoadAll(Path.Combine(VaeDir, "diffusion_pytorch_model.safetensors"));
            var legacyNames = new Dictionary<string, string> { ["to_q"] = "query", ["to_k"] = "key", ["to_v"] = "value", ["to_out.0"] = "proj_attn" };
            var renamed = tensors.ToDictionary(kv => Legacy(kv.Key, legacyNames), kv => kv.Value);
            renamed.Keys.Should().Contain(k => k.Contains(".proj_attn."), "the fixture VAE has a mid-block attention to rename");
            Safetensors.Save(Path.Combine(dir, "diffusion_pytorch_model.safetensors"), renamed);

            using var legacy = AutoencoderKL.FromPretrained(dir);
            using var current = AutoencoderKL.FromPretrained(VaeDir);
            var legacyWeights = legacy.state_dict();
            foreach (var (key, value) in current.state_dict())
                legacyWeights[key].allclose(value, rtol: 0, atol: 0).Should().BeTrue(key);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        static string Legacy(string key, Dictionary<string, string> names)
        {
            foreach (var (now, old) in names)
            {
                var marker = $".attentions.0.{now}.";
                if (key.Contains(".mid_block") && key.Contains(marker)) return key.Replace(marker, $".attentions.0.{old}.");
            }
            return key;
        }
    }

    [Theory]
    [InlineData("decoder.mid_block.attentions.0.query.weight", "decoder.mid_block.attentions.0.to_q.weight")]
    [InlineData("encoder.mid_block.attentions.0.proj_attn.bias", "encoder.mid_block.attentions.0.to_out.0.bias")]
    [InlineData("encoder.mid_block.attentions.0.value.bias", "encoder.mid_block.attentions.0.to_v.bias")]
    [InlineData("encoder.mid_block.attentions.0.to_k.weight", "encoder.mid_block.attentions.0.to_k.weight")]
    [InlineData("encoder.down_blocks.0.resnets.0.conv1.weight", "encoder.down_blocks.0.resnets.0.conv1.weight")]
    public void Deprecated_attention_keys_are_renamed(string fileKey, string modelKey) =>
        AutoencoderKL.ConvertDeprecatedAttentionKey(fileKey).Should().Be(modelKey);

    private static void AssertMatches(Tensor actual, Tensor expected, string name)
    {
        double maxAbs = expected.abs().max().to(ScalarType.Float64).item<double>();
        Golden.AssertClose(actual, expected, Math.Max(Tolerance, Tolerance * maxAbs), 0, name);
    }
}
