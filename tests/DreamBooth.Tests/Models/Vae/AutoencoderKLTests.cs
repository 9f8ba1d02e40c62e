using System.Text;
using System.Text.Json.Nodes;
using DreamBooth.IO;
using DreamBooth.Models.Vae;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Models.Vae;

public class AutoencoderKLTests
{
    [Fact]
    public void Encode_and_decode_shapes_follow_the_block_count()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var vae = new AutoencoderKL(TinyModels.Vae);
        using var g = new Generator(21);
        var image = rand([2, 3, 16, 16], generator: g) * 2 - 1;
        var posterior = vae.Encode(image);
        posterior.Mean.shape.Should().Equal(2, 4, 8, 8);
        vae.Decode(posterior.Mode()).shape.Should().Equal(2, 3, 16, 16);
        vae.call(image).shape.Should().Equal(2, 3, 16, 16);
    }

    [Fact]
    public void Backward_through_encode_and_decode_reaches_every_parameter()
    {
        using var scope = NewDisposeScope();
        using var vae = new AutoencoderKL(TinyModels.Vae);
        vae.train();
        using var g = new Generator(22);
        var image = rand([2, 3, 16, 16], generator: g) * 2 - 1;
        var posterior = vae.Encode(image);
        var loss = nn.functional.mse_loss(vae.Decode(posterior.Sample(g)), image) + posterior.LogVar.square().mean();
        loss.backward();
        foreach (var (key, p) in vae.named_parameters())
        {
            p.grad.Should().NotBeNull(key);
            isfinite(p.grad!).all().item<bool>().Should().BeTrue(key);
        }
    }

    [Fact]
    public void Bfloat16_decode_runs_and_stays_close_to_float32()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var vae = new AutoencoderKL(TinyModels.Vae);
        using var g = new Generator(23);
        var latents = randn([1, 4, 8, 8], generator: g);
        var reference = vae.Decode(latents);
        vae.to(ScalarType.BFloat16);
        var bf16 = vae.Decode(latents.to(ScalarType.BFloat16));
        bf16.dtype.Should().Be(ScalarType.BFloat16);
        double scale = reference.abs().max().item<float>();
        (bf16.to(ScalarType.Float32) - reference).abs().max().item<float>().Should().BeLessThan((float)(0.1 * scale));
    }

    [Fact]
    public void Posterior_clamps_logvar_and_samples_from_the_given_generator()
    {
        using var scope = NewDisposeScope();
        var moments = cat([full(1, 2, 2, 2, 0.5f), tensor(new float[] { -100, -1, 0, 100, 1, 2, 3, 4 }).reshape(1, 2, 2, 2)], 1);
        var posterior = new DiagonalGaussianDistribution(moments);
        posterior.LogVar.flatten()[0].item<float>().Should().Be(-30f);
        posterior.LogVar.flatten()[3].item<float>().Should().Be(20f);
        posterior.Std.allclose((0.5 * posterior.LogVar).exp()).Should().BeTrue();

        using var g1 = new Generator(7);
        using var g2 = new Generator(7);
        var expected = posterior.Mean + posterior.Std * randn([1, 2, 2, 2], generator: g2);
        posterior.Sample(g1).allclose(expected, 0, 0).Should().BeTrue();
        posterior.Mode().allclose(posterior.Mean, 0, 0).Should().BeTrue();

        var deterministic = new DiagonalGaussianDistribution(moments, deterministic: true);
        deterministic.Sample(g1).allclose(deterministic.Mean, 0, 0).Should().BeTrue();

        var odd = () => new DiagonalGaussianDistribution(zeros(1, 3, 2, 2));
        odd.Should().Throw<ArgumentException>();
    }

    [Theory]
    [InlineData("down_block_types", "[\"DownEncoderBlock2D\",\"AttnDownEncoderBlock2D\"]")]
    [InlineData("up_block_types", "[\"UpDecoderBlock2D\"]")]
    [InlineData("block_out_channels", "[8,10]")]
    [InlineData("layers_per_block", "0")]
    [InlineData("act_fn", "\"tanh\"")]
    [InlineData("scaling_factor", "0")]
    public void Unsupported_configs_are_one_line_errors_naming_the_key(string key, string jsonValue)
    {
        var node = JsonNode.Parse(JsonSerializerFor(TinyModels.Vae))!.AsObject();
        node[key] = JsonNode.Parse(jsonValue);
        var config = ConfigJson.Parse<AutoencoderKLConfig>(Encoding.UTF8.GetBytes(node.ToJsonString()), "vae/config.json");
        var act = () => config.Validate("vae/config.json");
        act.Should().Throw<DreamBoothException>().Which.Message.Should().StartWith("vae/config.json: ").And.Contain($"'{key}'").And.NotContain("\n");
    }

    [Fact]
    public void Config_carries_scaling_shift_and_force_upcast()
    {
        var config = ConfigJson.Parse<AutoencoderKLConfig>("""{"scaling_factor":0.13025,"shift_factor":0.1159,"force_upcast":false}"""u8, "vae/config.json");
        config.Validate("vae/config.json");
        using var vae = new AutoencoderKL(config);
        vae.ScalingFactor.Should().Be(0.13025);
        vae.ShiftFactor.Should().Be(0.1159);
        vae.Config.ForceUpcast.Should().BeFalse();
    }

    private static string JsonSerializerFor(AutoencoderKLConfig config) => System.Text.Json.JsonSerializer.Serialize(config, ConfigJson.Options);
}
