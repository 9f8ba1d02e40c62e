using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Infrastructure;

public class EnvironmentTests
{
    [Fact]
    public void Tests_run_with_the_allocator_fix_from_the_run_settings()
    {
        (Environment.GetEnvironmentVariable("GLIBC_TUNABLES") ?? "").Should().Contain("glibc.malloc.hugetlb=1");
        DreamBooth.Runtime.AllocatorSetup.EffectiveAllocator().Should().NotBeNull();
        Environment.GetEnvironmentVariable("OMP_WAIT_POLICY").Should().Be("PASSIVE", "idle OpenMP threads must not spin on the shared cores");
    }

    [Fact]
    public void TorchSharp_native_library_loads_and_matches_pytorch_rng()
    {
        using var g = new TorchSharp.torch.Generator(0);
        using var x = TorchSharp.torch.randn(new long[] { 5 }, generator: g);
        x.data<float>().ToArray().Should().BeEquivalentTo(new[] { 1.5409961f, -0.2934289f, -2.1787894f, 0.5684313f, -1.0845224f },
            o => o.Using<float>(c => c.Subject.Should().BeApproximately(c.Expectation, 1e-6f)).WhenTypeIs<float>());
    }
}
