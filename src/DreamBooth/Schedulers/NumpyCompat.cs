namespace DreamBooth.Schedulers;

/// <summary>
/// The few numpy routines that diffusers uses to build timestep and sigma schedules, written out in float64 with
/// numpy's exact arithmetic (hand-written because .NET has no numpy, and the schedules must match it to the last bit:
/// a timestep of 499.5 rounds to 500 only if it is computed the way numpy computes it).
/// </summary>
internal static class NumpyCompat
{
    /// <summary><c>np.linspace(start, stop, num)</c> (endpoint included): <c>i·step + start</c>, the last value set to <paramref name="stop"/>.</summary>
    public static double[] Linspace(double start, double stop, int num)
    {
        if (num <= 0) return [];
        var y = new double[num];
        if (num == 1)
        {
            y[0] = start;
            return y;
        }
        int div = num - 1;
        double delta = stop - start;
        double step = delta / div;
        for (int i = 0; i < num; i++)
            y[i] = step == 0 ? (double)i / div * delta + start : i * step + start;
        y[num - 1] = stop;
        return y;
    }

    /// <summary>
    /// <c>np.arange(start, stop, step)</c> for floats: length ⌈(stop − start)/step⌉, values <c>start + i·δ</c> with
    /// δ = (start + step) − start, which is how numpy fills the array.
    /// </summary>
    public static double[] Arange(double start, double stop, double step)
    {
        double count = Math.Ceiling((stop - start) / step);
        if (!(count > 0)) return [];
        var y = new double[(int)count];
        y[0] = start;
        if (y.Length == 1) return y;
        y[1] = start + step;
        double delta = y[1] - start;
        for (int i = 2; i < y.Length; i++) y[i] = start + i * delta;
        return y;
    }

    /// <summary><c>np.round</c>: round half to even.</summary>
    public static double Round(double x) => Math.Round(x, MidpointRounding.ToEven);

    /// <summary>
    /// <c>np.interp(x, xp, fp)</c> for increasing <paramref name="xp"/>: linear interpolation, clamped to the end values.
    /// </summary>
    public static double Interp(double x, double[] xp, double[] fp)
    {
        int n = xp.Length;
        if (x <= xp[0]) return fp[0];
        if (x >= xp[n - 1]) return fp[n - 1];
        // binary search for j with xp[j] <= x < xp[j+1]
        int lo = 0, hi = n - 1;
        while (hi - lo > 1)
        {
            int mid = (lo + hi) >>> 1;
            if (xp[mid] <= x) lo = mid; else hi = mid;
        }
        double slope = (fp[lo + 1] - fp[lo]) / (xp[lo + 1] - xp[lo]);
        double y = slope * (x - xp[lo]) + fp[lo];
        if (double.IsNaN(y))
        {
            y = slope * (x - xp[lo + 1]) + fp[lo + 1];
            if (double.IsNaN(y) && fp[lo] == fp[lo + 1]) y = fp[lo];
        }
        return y;
    }
}
