namespace DreamBooth.Schedulers;

/// <summary>
/// How n inference timesteps are picked out of the T training timesteps (Lin et al. 2023, Table 2), as diffusers'
/// DDPM / DDIM / PNDM compute them in numpy. Values are whole numbers, returned in float64, in descending order.
/// </summary>
internal static class TimestepSpacing
{
    /// <summary>The accepted <c>timestep_spacing</c> values.</summary>
    public static readonly string[] Names = ["leading", "trailing", "linspace"];

    /// <summary>
    /// <c>linspace</c>: round(linspace(0, T−1, n)); <c>leading</c>: arange(n)·(T // n) + steps_offset;
    /// <c>trailing</c>: round(arange(T, 0, −T/n)) − 1. Descending.
    /// </summary>
    public static double[] Integer(string spacing, int steps, int trainSteps, int stepsOffset) => spacing switch
    {
        "linspace" => NumpyCompat.Linspace(0, trainSteps - 1, steps).Select(NumpyCompat.Round).Reverse().ToArray(),
        "leading" => Enumerable.Range(0, steps).Select(i => (double)(i * (trainSteps / steps) + stepsOffset)).Reverse().ToArray(),
        "trailing" => NumpyCompat.Arange(trainSteps, 0, -(double)trainSteps / steps).Select(t => NumpyCompat.Round(t) - 1).ToArray(),
        _ => throw new ArgumentOutOfRangeException(nameof(spacing), spacing, "unknown timestep spacing"),
    };
}
