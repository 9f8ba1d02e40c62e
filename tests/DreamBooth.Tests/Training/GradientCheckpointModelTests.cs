using DreamBooth.Models;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

/// <summary>Gradient checkpointing wired into the UNet and CLIP blocks gives the same loss and gradients as the plain forward (tiny-sd1).</summary>
public class GradientCheckpointModelTests
{
    private static Dictionary<string, Tensor> UnetGrads(bool checkpoint, Func<string, bool> trainable)
    {
        using var unet = UNet2DConditionModel.FromPretrained(Golden.PathOf("tiny-sd1", "unet"));
        unet.train();
        foreach (var (name, p) in unet.named_parameters()) p.requires_grad_(trainable(name));
        GradientCheckpoint.Enable(unet, checkpoint).Should().BeGreaterThan(0);
        using var g = new Generator(5);
        var sample = randn([2, 4, 16, 16], generator: g);
        var t = tensor(new long[] { 10, 700 });
        var ehs = randn([2, 77, unet.Config.CrossAttentionDims[0]], generator: g);
        var pred = unet.forward(sample, t, ehs);
        (pred * pred).mean().backward();
        return unet.named_parameters().Where(np => np.parameter.grad is not null)
            .ToDictionary(np => np.name, np => np.parameter.grad!.clone());
    }

    private static void AssertSameGrads(Dictionary<string, Tensor> plain, Dictionary<string, Tensor> checkpointed)
    {
        checkpointed.Keys.Should().BeEquivalentTo(plain.Keys);
        // Relative to each tensor's largest gradient, floored at 1e-3 of the model's largest: some grads are pure
        // rounding noise (e.g. a conv bias right before a GroupNorm has a mathematically zero gradient).
        double global = plain.Values.Max(g => g.abs().max().item<float>());
        foreach (var (name, g) in plain)
        {
            double scale = Math.Max(g.abs().max().item<float>(), 1e-3 * global);
            Golden.AssertClose(checkpointed[name], g, 1e-5 * scale, 0, name);
        }
    }

    [Fact]
    public void Unet_full_training_gradients_are_identical()
    {
        var plain = UnetGrads(false, _ => true);
        plain.Count.Should().BeGreaterThan(100);
        AssertSameGrads(plain, UnetGrads(true, _ => true));
    }

    [Fact]
    public void Unet_gradients_reach_trainable_layers_after_frozen_ones()
    {
        // Only attention projections train (as with LoRA): the first checkpointed blocks see inputs that need no gradient.
        static bool OnlyAttention(string name) => name.Contains(".to_k.") || name.Contains(".to_out.0.");
        var plain = UnetGrads(false, OnlyAttention);
        plain.Keys.Should().Contain(k => k.StartsWith("down_blocks.1.attentions.0."));
        AssertSameGrads(plain, UnetGrads(true, OnlyAttention));
    }

    private static Dictionary<string, Tensor> ClipGrads(bool checkpoint)
    {
        using var te = CLIPTextModel.FromPretrained(Golden.PathOf("tiny-sd1", "text_encoder"));
        te.train();
        foreach (var p in te.parameters()) p.requires_grad_(true);
        GradientCheckpoint.Enable(te, checkpoint).Should().Be(1);
        using var g = new Generator(3);
        var ids = randint(0, te.Config.VocabSize, [2, 77], dtype: ScalarType.Int64, generator: g);
        var hidden = te.forward(ids).LastHiddenState;
        (hidden * hidden).mean().backward();
        return te.named_parameters().Where(np => np.parameter.grad is not null).ToDictionary(np => np.name, np => np.parameter.grad!.clone());
    }

    [Fact]
    public void Clip_gradients_are_identical()
    {
        var plain = ClipGrads(false);
        plain.Keys.Should().Contain(k => k.Contains("layers.0.self_attn.q_proj"));
        AssertSameGrads(plain, ClipGrads(true));
    }
}
