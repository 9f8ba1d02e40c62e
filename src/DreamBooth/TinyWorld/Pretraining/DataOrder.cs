namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>
/// Which cached images a stage-2 step trains on: the run walks through seeded epoch permutations of 0 … N−1, B items per
/// step, so step k covers positions k·B … k·B+B−1 of the concatenated permutations (a pure function of seed and step).
/// </summary>
internal sealed class DataOrder
{
    private readonly long _seed;
    private readonly int _count;
    private int _epoch = -1;
    private int[] _permutation = [];

    public DataOrder(long seed, int count)
    {
        _seed = seed;
        _count = count;
    }

    /// <summary>The (image index, epoch) pairs of step <paramref name="step"/> with batch size <paramref name="batch"/>.</summary>
    public (int Index, int Epoch)[] Batch(int step, int batch)
    {
        var items = new (int, int)[batch];
        for (int k = 0; k < batch; k++)
        {
            long position = (long)step * batch + k;
            int epoch = (int)(position / _count);
            items[k] = (PermutationOf(epoch)[(int)(position % _count)], epoch);
        }
        return items;
    }

    private int[] PermutationOf(int epoch)
    {
        if (epoch == _epoch) return _permutation;
        var p = Enumerable.Range(0, _count).ToArray();
        var rng = StepRandom.For(_seed, StepRandom.EpochOrder, epoch);
        for (int i = p.Length - 1; i > 0; i--)
        {
            int j = rng.Below(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        _epoch = epoch;
        _permutation = p;
        return p;
    }
}
