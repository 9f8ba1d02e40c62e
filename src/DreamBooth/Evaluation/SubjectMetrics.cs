namespace DreamBooth.Evaluation;

/// <summary>Means of pairwise similarities or distances between probe results.</summary>
public static class SubjectMetrics
{
    /// <summary>Mean of <paramref name="f"/> over all unordered pairs i &lt; j of <paramref name="items"/> (NaN for fewer than two).</summary>
    public static double MeanPairwise(IReadOnlyList<ProbeResult> items, Func<ProbeResult, ProbeResult, double> f)
    {
        double sum = 0;
        int n = 0;
        for (int i = 0; i < items.Count; i++)
            for (int j = i + 1; j < items.Count; j++) { sum += f(items[i], items[j]); n++; }
        return n == 0 ? double.NaN : sum / n;
    }

    /// <summary>Mean of <paramref name="f"/> over all pairs (a, b) with a from <paramref name="left"/> and b from <paramref name="right"/> (NaN if either is empty).</summary>
    public static double MeanCross(IReadOnlyList<ProbeResult> left, IReadOnlyList<ProbeResult> right, Func<ProbeResult, ProbeResult, double> f)
    {
        if (left.Count == 0 || right.Count == 0) return double.NaN;
        double sum = 0;
        foreach (var a in left)
            foreach (var b in right) sum += f(a, b);
        return sum / (left.Count * right.Count);
    }
}
