using DreamBooth.IO;
using DreamBooth.Models.Unet;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Models.Unet;

public class UNet2DConditionModelTests
{
    public static TheoryData<string> Configs => new() { "sd1", "sdxl" };

    private static UNet2DConditionConfig ConfigFor(string name) => name == "sd1" ? TinyModels.Sd1Unet : TinyModels.SdxlUnet;

    [Theory]
    [MemberData(nameof(Configs))]
    public void Backward_reaches_every_parameter_with_finite_gradients(string name)
    {
        using var scope = NewDisposeScope();
        var config = ConfigFor(name);
        using var unet = new UNet2DConditionModel(config);
        unet.train();
        using var g = new Generator(1);
        var (sample, t, text, textEmbeds, timeIds) = TinyModels.UnetInputs(config, g);
        var target = randn(sample.shape, generator: g);

        var loss = nn.functional.mse_loss(unet.forward(sample, t, text, textEmbeds, timeIds), target);
        loss.backward();

        float.IsFinite(loss.item<float>()).Should().BeTrue();
        foreach (var (key, p) in unet.named_parameters())
        {
            p.grad.Should().NotBeNull(key);
            isfinite(p.grad!).all().item<bool>().Should().BeTrue(key);
        }
        // Every layer lies on the path to the output, so (almost) no gradient is exactly zero.
        unet.named_parameters().Count(kv => kv.parameter.grad!.abs().sum().item<float>() == 0f).Should().Be(0);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void Bfloat16_forward_runs_and_stays_close_to_float32(string name)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var config = ConfigFor(name);
        using var unet = new UNet2DConditionModel(config);
        unet.eval();
        using var g = new Generator(2);
        var (sample, t, text, textEmbeds, timeIds) = TinyModels.UnetInputs(config, g);
        var reference = unet.forward(sample, t, text, textEmbeds, timeIds);

        unet.to(ScalarType.BFloat16);
        var bf16 = unet.forward(sample.to(ScalarType.BFloat16), t, text.to(ScalarType.BFloat16),
            textEmbeds?.to(ScalarType.BFloat16), timeIds?.to(ScalarType.BFloat16));

        bf16.dtype.Should().Be(ScalarType.BFloat16);
        isfinite(bf16).all().item<bool>().Should().BeTrue();
        double scale = reference.abs().max().item<float>();
        double maxDiff = (bf16.to(ScalarType.Float32) - reference).abs().max().item<float>();
        maxDiff.Should().BeLessThan(0.1 * scale, "bf16 has ~3 significant digits; a wrong computation differs by O(1)");
    }

    [Fact]
    public void Latent_sizes_that_are_not_multiples_of_the_downsampling_keep_their_shape()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var config = TinyModels.Sd1Unet;
        using var unet = new UNet2DConditionModel(config);
        using var g = new Generator(3);
        var (sample, t, text, _, _) = TinyModels.UnetInputs(config, g, height: 7, width: 10);
        unet.forward(sample, t, text).shape.Should().Equal(2, 4, 7, 10);
    }

    [Fact]
    public void A_single_timestep_broadcasts_to_the_batch_and_bad_shapes_are_rejected()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var config = TinyModels.Sd1Unet;
        using var unet = new UNet2DConditionModel(config);
        using var g = new Generator(4);
        var (sample, _, text, _, _) = TinyModels.UnetInputs(config, g);

        var perSample = unet.forward(sample, tensor(new long[] { 500, 500 }), text);
        unet.forward(sample, tensor(500L), text).allclose(perSample, 0, 0).Should().BeTrue("0-d timestep");
        unet.forward(sample, tensor(new long[] { 500 }), text).allclose(perSample, 0, 0).Should().BeTrue("[1] timestep");
        unet.forward(sample, tensor(500.0f), text).allclose(perSample, 0, 0).Should().BeTrue("float timestep");
        unet.forward(sample, tensor(new long[] { 10, 999 }), text).allclose(perSample, 1e-3, 1e-3).Should().BeFalse("the timestep matters");

        var wrong = () => unet.forward(sample, tensor(new long[] { 1, 2, 3 }), text);
        wrong.Should().Throw<ArgumentException>().WithMessage("*timestep*");
    }

    [Fact]
    public void Wrong_text_width_and_missing_sdxl_conditions_are_clear_errors()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(5);
        var sd1 = TinyModels.Sd1Unet;
        using var unet = new UNet2DConditionModel(sd1);
        var (sample, t, _, _, _) = TinyModels.UnetInputs(sd1, g);
        var wrongText = () => unet.forward(sample, t, randn([2, 5, 7], generator: g));
        wrongText.Should().Throw<ArgumentException>().WithMessage("*cross_attention_dim*");

        var sdxl = TinyModels.SdxlUnet;
        using var xl = new UNet2DConditionModel(sdxl);
        var (s, tt, text, textEmbeds, _) = TinyModels.UnetInputs(sdxl, g);
        var missing = () => xl.forward(s, tt, text);
        missing.Should().Throw<ArgumentException>().WithMessage("*text_time*");
        var badIds = () => xl.forward(s, tt, text, textEmbeds, zeros(2, 5));
        badIds.Should().Throw<ArgumentException>().WithMessage("*projection_class_embeddings_input_dim*");
    }

    [Fact]
    public void Taps_are_captured_only_when_asked_and_do_not_change_the_output()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var config = TinyModels.SdxlUnet;
        using var unet = new UNet2DConditionModel(config);
        using var g = new Generator(6);
        var (sample, t, text, textEmbeds, timeIds) = TinyModels.UnetInputs(config, g);
        var taps = new Dictionary<string, Tensor>();
        var withTaps = unet.forward(sample, t, text, textEmbeds, timeIds, taps);
        unet.forward(sample, t, text, textEmbeds, timeIds).allclose(withTaps, 0, 0).Should().BeTrue();
        taps.Keys.Should().BeEquivalentTo(
            "time_proj", "time_embedding", "add_time_proj", "add_embedding", "conv_in",
            "down_blocks.0", "down_blocks.0.res_sample0", "down_blocks.0.res_sample1",
            "down_blocks.1", "down_blocks.1.res_sample0", "mid_block", "up_blocks.0", "up_blocks.1", "conv_norm_out");
        taps["add_time_proj"].shape.Should().Equal(12, 4);
    }

    [Fact]
    public void FromPretrained_rejects_missing_and_mismatched_weights_with_one_line()
    {
        var dir = Directory.CreateTempSubdirectory("dreambooth-unet-").FullName;
        try
        {
            var missingFolder = () => UNet2DConditionModel.FromPretrained(Path.Combine(dir, "nope"));
            missingFolder.Should().Throw<DreamBoothException>().WithMessage("*nope*not found*");

            ConfigJson.Write(Path.Combine(dir, "config.json"), TinyModels.Sd1Unet);
            var noWeights = () => UNet2DConditionModel.FromPretrained(dir);
            noWeights.Should().Throw<DreamBoothException>().WithMessage("*no weights file*diffusion_pytorch_model.safetensors*");

            File.WriteAllBytes(Path.Combine(dir, "diffusion_pytorch_model.bin"), [0]);
            var pickle = () => UNet2DConditionModel.FromPretrained(dir);
            pickle.Should().Throw<DreamBoothException>().WithMessage("*diffusion_pytorch_model.bin*pickle*");

            // Weights of a different architecture (SDXL-style) under the SD1-style config.
            using (var other = new UNet2DConditionModel(TinyModels.SdxlUnet))
                Safetensors.Save(Path.Combine(dir, "diffusion_pytorch_model.safetensors"), other.state_dict());
            var mismatch = () => UNet2DConditionModel.FromPretrained(dir);
            var ex = mismatch.Should().Throw<DreamBoothException>().Which;
            ex.Message.Should().Contain("weights do not fit").And.Contain("add_embedding").And.NotContain("\n");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void FromPretrained_round_trips_saved_weights_and_converts_dtype()
    {
        var dir = Directory.CreateTempSubdirectory("dreambooth-unet-").FullName;
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            using var original = new UNet2DConditionModel(TinyModels.Sd1Unet);
            ConfigJson.Write(Path.Combine(dir, "config.json"), original.Config);
            Safetensors.Save(Path.Combine(dir, "diffusion_pytorch_model.safetensors"), original.state_dict());

            using var loaded = UNet2DConditionModel.FromPretrained(dir, ScalarType.BFloat16);
            loaded.training.Should().BeFalse("FromPretrained returns an eval-mode model, as diffusers does");
            var loadedWeights = loaded.state_dict();
            foreach (var (key, value) in original.state_dict())
            {
                loadedWeights[key].dtype.Should().Be(ScalarType.BFloat16, key);
                loadedWeights[key].to(ScalarType.Float32).allclose(value, 1e-2, 1e-2).Should().BeTrue(key);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
