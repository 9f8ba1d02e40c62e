using System.Runtime;
using DreamBooth.Runtime;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Runtime;

public sealed class GcPauseTests
{
    [Fact]
    public void Pause_SuspendsCollections_UntilDisposed()
    {
        int before;
        using (var pause = GcPause.Start())
        {
            pause.IsActive.Should().BeTrue();
            GCSettings.LatencyMode.Should().Be(GCLatencyMode.NoGCRegion);
            before = GC.CollectionCount(0);
            var garbage = new List<byte[]>();
            for (int i = 0; i < 100; i++) garbage.Add(new byte[64 * 1024]);
            garbage.Count.Should().Be(100);
            GC.CollectionCount(0).Should().Be(before, "no collection runs inside the pause");
        }
        GCSettings.LatencyMode.Should().NotBe(GCLatencyMode.NoGCRegion);
    }

    [Fact]
    public void NestedPause_IsANoOp_AndOuterStaysActive()
    {
        using var outer = GcPause.Start();
        using (var inner = GcPause.Start()) inner.IsActive.Should().BeFalse();
        outer.IsActive.Should().BeTrue();
    }

    [Fact]
    public void ExceedingTheBudget_EndsThePauseWithoutThrowing()
    {
        var pause = GcPause.Start(budget: 1 << 20);
        var garbage = new List<byte[]>();
        for (int i = 0; i < 64; i++) garbage.Add(new byte[256 * 1024]);
        garbage.Count.Should().Be(64);
        var act = () => pause.Dispose();
        act.Should().NotThrow();
        GCSettings.LatencyMode.Should().NotBe(GCLatencyMode.NoGCRegion);
    }
}
