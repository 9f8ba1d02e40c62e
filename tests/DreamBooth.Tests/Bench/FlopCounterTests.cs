using DreamBooth.Benchmarks;
using DreamBooth.Models.Blocks;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Bench;

/// <summary>The FLOP counter against hand counts for a small convolution, linear layer and attention.</summary>
public class FlopCounterTests
{
    [Fact]
    public void Conv2d_forward_is_two_macs_per_output_and_kernel_tap()
    {
        using var conv = nn.Conv2d(3, 8, 3, padding: 1);
        using var counter = FlopCounter.Attach(conv);
        using var _ = no_grad();
        using var y = conv.call(zeros(2, 3, 5, 5));
        // out [2, 8, 5, 5] = 400 outputs, each 3·3·3 = 27 multiply-adds.
        counter.ForwardFlops.Should().Be(2.0 * 400 * 27);
        counter.BackwardFlops.Should().Be(0, "nothing needs a gradient");
    }

    [Fact]
    public void Linear_forward_and_training_backward()
    {
        using var linear = nn.Linear(6, 4);
        using var counter = FlopCounter.Attach(linear);
        using var y = linear.call(zeros(2, 3, 6));
        // out [2, 3, 4] = 24 outputs × 6 inputs.
        counter.ForwardFlops.Should().Be(2.0 * 24 * 6);
        counter.BackwardFlops.Should().Be(2 * counter.ForwardFlops, "input and weight gradients, 1× forward each");
    }

    [Fact]
    public void Self_and_cross_attention_count_projections_and_both_attention_matmuls()
    {
        using var attention = new Attention(8, heads: 2, dimHead: 4);
        using var counter = FlopCounter.Attach(attention);
        using (no_grad()) attention.call(zeros(1, 5, 8), null).Dispose();
        // to_q, to_k, to_v, to_out: 4 × 2·5·8·8; QKᵀ and PV: 2 × 2·5·5·8 (inner = 2 heads × 4).
        counter.ForwardFlops.Should().Be(4 * 640 + 800);

        using var cross = new Attention(8, crossAttentionDim: 6, heads: 2, dimHead: 4);
        using var crossCounter = FlopCounter.Attach(cross);
        cross.call(zeros(1, 5, 8), zeros(1, 7, 6)).Dispose();
        double forward = 640 + 2 * (2.0 * 7 * 8 * 6) + 640 + 4.0 * 5 * 7 * 8;
        crossCounter.ForwardFlops.Should().Be(forward);
        crossCounter.TotalFlops.Should().Be(3 * forward, "a trained model's backward is 2× its forward");
    }

    [Fact]
    public void Disabled_counter_and_removed_hooks_count_nothing()
    {
        using var linear = nn.Linear(6, 4);
        var counter = FlopCounter.Attach(linear);
        counter.Enabled = false;
        using (no_grad()) linear.call(zeros(1, 6)).Dispose();
        counter.ForwardFlops.Should().Be(0);
        counter.Enabled = true;
        counter.Dispose();
        using (no_grad()) linear.call(zeros(1, 6)).Dispose();
        counter.ForwardFlops.Should().Be(0);
    }
}
