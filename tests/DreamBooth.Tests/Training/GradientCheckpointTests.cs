using DreamBooth.Models;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

public class GradientCheckpointTests
{
    private static (Tensor Loss, Tensor[] Grads) Run(bool checkpoint)
    {
        using var gen = new Generator(11);
        var conv = nn.Conv2d(4, 8, 3, padding: 1);
        var lin = nn.Linear(8, 8);
        using (no_grad())
        {
            foreach (var p in conv.parameters().Concat(lin.parameters())) p.copy_(randn(p.shape, generator: gen) * 0.3);
        }
        var x = randn(new long[] { 2, 4, 6, 6 }, generator: gen).requires_grad_(true);
        var emb = randn(new long[] { 2, 8 }, generator: gen);
        Func<Tensor?[], Tensor> block = a => nn.functional.silu(conv.forward(a[0]!)) + lin.forward(a[1]!)[.., .., TensorIndex.None, TensorIndex.None];
        var y = checkpoint ? GradientCheckpoint.Run(block, x, emb) : block(new[] { x, emb });
        var loss = (y * y).mean();
        loss.backward();
        var grads = conv.parameters().Concat(lin.parameters()).Select(p => p.grad!.clone()).Append(x.grad!.clone()).ToArray();
        return (loss.detach(), grads);
    }

    [Fact]
    public void Checkpointed_block_gives_identical_loss_and_gradients()
    {
        var (l1, g1) = Run(false);
        var (l2, g2) = Run(true);
        l1.item<float>().Should().Be(l2.item<float>());
        g1.Length.Should().Be(g2.Length);
        for (int i = 0; i < g1.Length; i++)
            (g1[i] - g2[i]).abs().max().item<float>().Should().BeLessThan(1e-6f, $"gradient {i}");
    }

    [Fact]
    public void Null_inputs_pass_through()
    {
        var lin = nn.Linear(3, 3);
        var x = ones(2, 3).requires_grad_(true);
        var y = GradientCheckpoint.Run(a => a[1] is null ? lin.forward(a[0]!) : throw new InvalidOperationException(), x, null);
        y.sum().backward();
        x.grad.Should().NotBeNull();
        lin.weight!.grad.Should().NotBeNull();
    }

    [Fact]
    public void Without_grad_mode_it_is_a_plain_call()
    {
        var lin = nn.Linear(3, 3);
        using var _ = no_grad();
        var y = GradientCheckpoint.Run(a => lin.forward(a[0]!), ones(1, 3));
        y.requires_grad.Should().BeFalse();
    }
}
