using System.Runtime;

namespace DreamBooth.Runtime;

/// <summary>
/// Keeps the garbage collector from running while a block of tensor operations is in progress (a .NET "no GC region").
/// Why: TorchSharp 0.107 turns literals into native <c>Scalar</c> objects on the fly (<c>a + b</c> is
/// <c>add(b, alpha: 1)</c>) and passes their raw handle to libtorch without keeping the managed wrapper alive; a
/// collection triggered by another thread during that native call can run the wrapper's finalizer, which frees the
/// scalar while libtorch reads it (seen as an intermittent "toFloat ... Expected false to be true" crash in
/// <c>add</c>). Training loops open a pause around each step's tensor work; collections then happen between steps,
/// when no such call is in flight. Best effort: when the runtime cannot reserve the budget, or the block allocates more
/// than it, the block simply runs with normal collections.
/// </summary>
public sealed class GcPause : IDisposable
{
    /// <summary>The default budget of managed allocations inside a pause.</summary>
    public const long DefaultBudget = 64L << 20;

    private bool _active;

    private GcPause(bool active) => _active = active;

    /// <summary>True when collections are suspended by this pause.</summary>
    public bool IsActive => _active && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion;

    /// <summary>Starts a pause allowing <paramref name="budget"/> bytes of managed allocations; a no-op when one is already active.</summary>
    public static GcPause Start(long budget = DefaultBudget)
    {
        if (GCSettings.LatencyMode == GCLatencyMode.NoGCRegion) return new GcPause(false);
        try
        {
            return new GcPause(GC.TryStartNoGCRegion(budget));
        }
        catch (ArgumentOutOfRangeException)
        {
            return new GcPause(false);
        }
        catch (InvalidOperationException)
        {
            return new GcPause(false);
        }
    }

    /// <summary>Ends the pause (collections resume).</summary>
    public void Dispose()
    {
        if (!_active) return;
        _active = false;
        if (GCSettings.LatencyMode != GCLatencyMode.NoGCRegion) return; // the budget ran out and the runtime ended it
        try
        {
            GC.EndNoGCRegion();
        }
        catch (InvalidOperationException)
        {
            // The region ended by itself (a collection was needed); nothing to undo.
        }
    }
}
