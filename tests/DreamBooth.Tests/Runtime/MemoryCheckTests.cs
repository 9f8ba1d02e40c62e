using DreamBooth.Runtime;
using Xunit;

namespace DreamBooth.Tests.Runtime;

public class MemoryCheckTests
{
    [Fact]
    public void Activations_scale_with_channels_pixels_images_and_element_size()
    {
        double one = MemoryCheck.Activations(32, 64, 64, 1, 4);
        Assert.Equal(MemoryCheck.TensorsPerStage * 32 * 64 * 64 * 4, one);
        Assert.Equal(4 * one, MemoryCheck.Activations(32, 128, 128, 1, 4));
        Assert.Equal(2 * one, MemoryCheck.Activations(32, 64, 64, 2, 4));
        Assert.Equal(one / 2, MemoryCheck.Activations(32, 64, 64, 1, 2));
        Assert.Equal(32.0 * 8e6 * 8e6 * 4, MemoryCheck.Activations(32, 8_000_000, 8_000_000, 1, 4) / MemoryCheck.TensorsPerStage, 1e3); // no int overflow
    }

    [Fact]
    public void Require_refuses_only_what_exceeds_the_available_memory_and_says_what_and_how_much()
    {
        MemoryCheck.Require(1e9, "x", "y", available: 2_000_000_000);
        var e = Assert.Throws<DreamBoothException>(() => MemoryCheck.Require(3e9, "a 4096x4096 image (batch size 2)", "choose a smaller size", available: 2_000_000_000));
        Assert.Equal("a 4096x4096 image (batch size 2) needs at least 3.0 GB of memory and 2.0 GB is available: choose a smaller size", e.Message);
        var huge = Assert.Throws<DreamBoothException>(() => MemoryCheck.Require(6.5e16, "w", "r", available: 2_000_000_000));
        Assert.Contains("65,000 TB", huge.Message);
    }
}
