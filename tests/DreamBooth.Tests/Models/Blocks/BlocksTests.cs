using DreamBooth.Models.Blocks;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using FluentAssertions;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Models.Blocks;

public class BlocksTests
{
    [Fact]
    public void Attention_equals_per_head_softmax_of_scaled_scores()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var g = new Generator(11);
        const int heads = 3, headDim = 4;
        var attn = new Attention(queryDim: 10, crossAttentionDim: 6, heads: heads, dimHead: headDim);
        var x = randn([2, 5, 10], generator: g);
        var context = randn([2, 7, 6], generator: g);

        var q = attn.ToQ.call(x).view(2, 5, heads, headDim).transpose(1, 2);
        var k = attn.ToK.call(context).view(2, 7, heads, headDim).transpose(1, 2);
        var v = attn.ToV.call(context).view(2, 7, heads, headDim).transpose(1, 2);
        var weights = softmax(matmul(q, k.transpose(-1, -2)) / Math.Sqrt(headDim), -1);
        var expected = attn.ToOut.call(matmul(weights, v).transpose(1, 2).reshape(2, 5, heads * headDim));

        attn.call(x, context).allclose(expected, 1e-5, 1e-5).Should().BeTrue();
    }

    [Fact]
    public void Spatial_attention_normalizes_attends_over_pixels_and_adds_the_input()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var g = new Generator(12);
        var attn = new Attention(8, null, heads: 1, dimHead: 8, bias: true, normNumGroups: 2, normEps: 1e-6, residualConnection: true);
        var x = randn([2, 8, 3, 4], generator: g);

        var tokens = nn.functional.group_norm(x, 2, null, null, 1e-6).flatten(2).transpose(1, 2); // GroupNorm weight 1, bias 0
        var q = attn.ToQ.call(tokens);
        var k = attn.ToK.call(tokens);
        var v = attn.ToV.call(tokens);
        var o = attn.ToOut.call(matmul(softmax(matmul(q, k.transpose(1, 2)) / Math.Sqrt(8), -1), v));
        var expected = o.transpose(1, 2).reshape(2, 8, 3, 4) + x;

        attn.call(x, null).allclose(expected, 1e-5, 1e-5).Should().BeTrue();
    }

    [Fact]
    public void ReplaceProjection_keeps_the_state_dict_name_and_is_used_in_forward()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var g = new Generator(13);
        var attn = new Attention(8, null, heads: 2, dimHead: 4);
        var x = randn([1, 3, 8], generator: g);
        var before = attn.call(x, null);

        var originalQ = attn.ToQ;
        attn.ReplaceProjection("to_q", new Scaled(originalQ, 1.0));
        attn.ReplaceProjection("to_out.0", new Scaled(attn.ToOut, 1.0));
        attn.state_dict().Keys.Should().BeEquivalentTo(
            "to_q.inner.weight", "to_k.weight", "to_v.weight", "to_out.0.inner.weight", "to_out.0.inner.bias");
        attn.call(x, null).allclose(before, 0, 0).Should().BeTrue("an identity wrapper changes nothing");

        attn.ReplaceProjection("to_out.0", new Scaled(attn.ToOut, 0.0));
        attn.call(x, null).abs().max().item<float>().Should().Be(0f, "the replacement is what forward calls");

        var bad = () => attn.ReplaceProjection("to_x", originalQ);
        bad.Should().Throw<ArgumentException>();
    }

    private sealed class Scaled : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> inner;
        private readonly double _scale;

        public Scaled(nn.Module<Tensor, Tensor> inner, double scale) : base(nameof(Scaled))
        {
            this.inner = inner;
            _scale = scale;
            RegisterComponents();
        }

        public override Tensor forward(Tensor input) => inner.call(input) * _scale;
    }

    [Fact]
    public void Vae_downsampler_pads_only_right_and_bottom()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var g = new Generator(14);
        var x = randn([1, 2, 6, 6], generator: g);
        var vaeStyle = new Downsample2D(2, 3, padding: 0);
        var conv = vaeStyle.named_children().Single().module as Conv2d;

        var y = vaeStyle.call(x);
        y.shape.Should().Equal(1, 3, 3, 3);
        // Output (0, 0) sees the unpadded top-left 3×3 window; the last output sees the zero column/row.
        var topLeft = (conv!.weight! * x[.., .., ..3, ..3]).sum([1, 2, 3]) + conv.bias!;
        y[.., .., 0, 0].allclose(topLeft, 1e-5, 1e-5).Should().BeTrue();
        var padded = nn.functional.pad(x, (0, 1, 0, 1));
        var bottomRight = (conv.weight! * padded[.., .., 4..7, 4..7]).sum([1, 2, 3]) + conv.bias!;
        y[.., .., 2, 2].allclose(bottomRight, 1e-5, 1e-5).Should().BeTrue();

        new Downsample2D(2, 3, padding: 1).call(x).shape.Should().Equal(1, 3, 3, 3);
    }

    [Fact]
    public void Upsampler_doubles_or_hits_an_explicit_size()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var up = new Upsample2D(2, 2);
        var x = ones(1, 2, 3, 4);
        up.call(x).shape.Should().Equal(1, 2, 6, 8);
        up.forward(x, [7, 9]).shape.Should().Equal(1, 2, 7, 9);
    }

    [Fact]
    public void GroupNorms_start_as_identity_affine_and_fresh_models_are_finite()
    {
        using var scope = NewDisposeScope();
        var norm = Norms.GroupNorm(4, 16, 1e-6);
        norm.weight!.eq(1).all().item<bool>().Should().BeTrue();
        norm.bias!.eq(0).all().item<bool>().Should().BeTrue();

        using var unet = new UNet2DConditionModel(TinyModels.Sd1Unet);
        using var vae = new AutoencoderKL(TinyModels.Vae);
        foreach (var (key, p) in unet.named_parameters().Concat(vae.named_parameters()))
            isfinite(p).all().item<bool>().Should().BeTrue(key);
    }

    [Fact]
    public void Timestep_embedding_is_cos_then_sin_of_t_times_frequencies()
    {
        using var scope = NewDisposeScope();
        var t = tensor(new long[] { 0, 10, 999 });
        var emb = Timesteps.Embed(t, 6, flipSinToCos: true, downscaleFreqShift: 0);
        emb.shape.Should().Equal(3, 6);
        var freqs = new[] { 1.0, Math.Pow(10000, -1.0 / 3), Math.Pow(10000, -2.0 / 3) };
        for (int k = 0; k < 3; k++)
        {
            emb[1, k].item<float>().Should().BeApproximately((float)Math.Cos(10 * freqs[k]), 1e-5f);
            emb[1, k + 3].item<float>().Should().BeApproximately((float)Math.Sin(10 * freqs[k]), 1e-5f);
        }
        Timesteps.Embed(t, 7, flipSinToCos: false, downscaleFreqShift: 1)[.., 6].abs().max().item<float>().Should().Be(0f, "odd widths are zero-padded");
    }
}
