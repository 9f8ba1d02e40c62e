using System.Runtime;
using DreamBooth.Runtime;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Runtime;

public sealed class NoGcScopeTests
{
    [Fact]
    public void Scope_SuspendsCollections_UntilDisposed()
    {
        int before;
        using (var scope = NoGcScope.Enter())
        {
            scope.Holding.Should().BeTrue();
            GCSettings.LatencyMode.Should().Be(GCLatencyMode.NoGCRegion);
            before = GC.CollectionCount(0);
            var garbage = new List<byte[]>();
            for (int i = 0; i < 100; i++) garbage.Add(new byte[64 * 1024]);
            garbage.Count.Should().Be(100);
            GC.CollectionCount(0).Should().Be(before, "no collection runs inside the scope");
        }
        GCSettings.LatencyMode.Should().NotBe(GCLatencyMode.NoGCRegion);
    }

    [Fact]
    public void NestedScope_IsANoOp_AndOuterKeepsHolding()
    {
        using var outer = NoGcScope.Enter();
        using (var inner = NoGcScope.Enter()) inner.Holding.Should().BeFalse();
        outer.Holding.Should().BeTrue();
    }

    [Fact]
    public void ExceedingTheBudget_EndsTheScopeWithoutThrowing()
    {
        var scope = NoGcScope.Enter(budgetBytes: 16L << 20);
        var garbage = new List<byte[]>();
        for (int i = 0; i < 128; i++) garbage.Add(new byte[256 * 1024]);
        garbage.Count.Should().Be(128);
        var act = () => scope.Dispose();
        act.Should().NotThrow();
        GCSettings.LatencyMode.Should().NotBe(GCLatencyMode.NoGCRegion);
    }
}
