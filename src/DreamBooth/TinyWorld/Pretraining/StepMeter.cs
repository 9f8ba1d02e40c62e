using System.Diagnostics;

namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>Throughput over a sliding window of recent units (for it/s and ETA) and a debiased moving average of the loss.</summary>
internal sealed class StepMeter
{
    private readonly Queue<(double Seconds, int Done)> _window = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly double _windowSeconds;
    private double _lossAverage, _lossWeight;

    public StepMeter(int startDone, double windowSeconds = 60)
    {
        _windowSeconds = windowSeconds;
        _window.Enqueue((0, startDone));
    }

    /// <summary>Records that <paramref name="done"/> units are done, with the loss of the last unit when there is one.</summary>
    public void Mark(int done, double? loss = null)
    {
        double now = _clock.Elapsed.TotalSeconds;
        _window.Enqueue((now, done));
        while (_window.Count > 2 && now - _window.Peek().Seconds > _windowSeconds) _window.Dequeue();
        if (loss is { } l && double.IsFinite(l))
        {
            _lossAverage = 0.98 * _lossAverage + 0.02 * l;
            _lossWeight = 0.98 * _lossWeight + 0.02;
        }
    }

    /// <summary>The debiased moving average of the loss (null before the first loss).</summary>
    public double? Loss => _lossWeight > 0 ? _lossAverage / _lossWeight : null;

    /// <summary>Units per second over the window (null until two marks).</summary>
    public double? Rate
    {
        get
        {
            var first = _window.Peek();
            var last = _window.Last();
            double dt = last.Seconds - first.Seconds;
            return dt > 0 && last.Done > first.Done ? (last.Done - first.Done) / dt : null;
        }
    }

    /// <summary>Time to reach <paramref name="total"/> units at the current rate.</summary>
    public TimeSpan? Eta(int total) => Rate is { } r ? TimeSpan.FromSeconds(Math.Max(0, total - _window.Last().Done) / r) : null;
}
