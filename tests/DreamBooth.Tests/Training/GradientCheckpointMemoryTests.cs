using System.Runtime.InteropServices;
using DreamBooth.Models;
using DreamBooth.Models.Unet;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

/// <summary>
/// Gradient checkpointing cuts the activation memory autograd keeps between forward and backward (the gradients are
/// identical: <see cref="GradientCheckpointModelTests"/>). Measured as the native heap still in use after the forward
/// pass (glibc's mallinfo2: bytes in use in the arenas plus mmapped blocks), which is exact and independent of what
/// the allocator keeps cached, unlike resident memory.
/// </summary>
public class GradientCheckpointMemoryTests(ITestOutputHelper output)
{
    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    private static extern MallInfo2 MallInfo();

    private static long HeapInUse()
    {
        var m = MallInfo();
        return (long)(m.Uordblks + m.Hblkhd);
    }

    // Heap bytes held after a training forward of the tiny-sd1 UNet at 64×64 latents (graph alive, before backward).
    private static long ActivationBytes(bool checkpoint)
    {
        using var unet = UNet2DConditionModel.FromPretrained(Golden.PathOf("tiny-sd1", "unet"));
        unet.train();
        foreach (var p in unet.parameters()) p.requires_grad_(true);
        GradientCheckpoint.Enable(unet, checkpoint);
        using var g = new Generator(5);
        using var scope = NewDisposeScope();
        var sample = randn([2, 4, 64, 64], generator: g);
        var t = tensor(new long[] { 10, 700 });
        var ehs = randn([2, 77, unet.Config.CrossAttentionDims[0]], generator: g);
        long before = HeapInUse();
        var loss = unet.forward(sample, t, ehs).square().mean();
        long held = HeapInUse() - before;
        loss.backward(); // the graph is complete and usable
        return held;
    }

    [Fact]
    public void Checkpointing_keeps_less_than_half_the_activations()
    {
        Assert.True(OperatingSystem.IsLinux(), "mallinfo2 is glibc's");
        if ((Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "").Contains("jemalloc", StringComparison.Ordinal))
            return; // jemalloc's heap is invisible to glibc's mallinfo2; the test settings use glibc
        ActivationBytes(false); // warm-up: libtorch's one-time allocations
        long plain = ActivationBytes(false);
        long checkpointed = ActivationBytes(true);
        output.WriteLine($"held after forward: plain {plain / 1e6:0.0} MB, checkpointed {checkpointed / 1e6:0.0} MB");
        plain.Should().BeGreaterThan(20_000_000, "the measurement must see the activations");
        checkpointed.Should().BeLessThan(plain / 2);
    }
}
