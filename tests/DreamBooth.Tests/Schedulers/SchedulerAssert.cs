using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Schedulers;

/// <summary>The scheduler tolerance of the golden README: |actual − expected| ≤ 1e-5·max(1, |expected|), elementwise.</summary>
internal static class SchedulerAssert
{
    public const double Tolerance = 1e-5;

    public static void Close(Tensor actual, Tensor expected, string name, double tolerance = Tolerance)
    {
        using var scope = NewDisposeScope();
        Assert.True(actual.shape.SequenceEqual(expected.shape),
            $"{name}: shape [{string.Join(",", actual.shape)}] != expected [{string.Join(",", expected.shape)}]");
        var a = actual.detach().cpu().to(float64);
        var e = expected.detach().cpu().to(float64);
        var allowed = e.abs().clamp_min(1.0) * tolerance;
        var excess = (a - e).abs() - allowed;
        var bad = excess > 0 | a.isnan() | e.isnan();
        long count = bad.sum().item<long>();
        if (count == 0) return;
        long worst = excess.nan_to_num(double.PositiveInfinity).flatten().argmax().item<long>();
        Assert.Fail($"{name}: {count} of {e.numel()} elements differ by more than {tolerance:g2}·max(1,|x|); worst at flat index {worst}: " +
                    $"actual {a.flatten()[worst].item<double>():g9} vs expected {e.flatten()[worst].item<double>():g9}");
    }
}
