namespace DreamBooth.Runtime;

/// <summary>
/// An <see cref="IProgress{T}"/> that calls its action at once on the reporting thread. <see cref="Progress{T}"/> posts
/// to the captured synchronization context (the thread pool in a console app), so reports could arrive late, out of
/// order, or after the work has finished; progress bars and phase timers need them in order.
/// </summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    /// <inheritdoc/>
    public void Report(T value) => report(value);
}
