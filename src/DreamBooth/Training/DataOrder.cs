using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Training;

/// <summary>Where the data order stands: the current epoch, its shuffled example order, and the next batch within it.</summary>
/// <param name="Epoch">0-based epoch.</param>
/// <param name="NextBatch">Index of the next batch within the epoch.</param>
/// <param name="Permutation">The epoch's example order (empty before the first batch of an epoch is drawn).</param>
public sealed record DataOrderState(int Epoch, int NextBatch, long[] Permutation);

/// <summary>
/// The example order of diffusers' DreamBooth data loader (<c>DataLoader(shuffle=True, batch_size, drop_last=False)</c>
/// over a dataset of max(#instance, #class) examples, example i pairing instance image i mod #instance with class image
/// i mod #class): every epoch a fresh random permutation, cut into batches, the last one possibly shorter. The
/// permutation is drawn from an explicit generator, and the position is saved in checkpoints so a resumed run sees the
/// same batches.
/// </summary>
public sealed class DataOrder
{
    private long[] _permutation = [];

    /// <summary>Number of examples per epoch.</summary>
    public int Length { get; }

    /// <summary>Examples per batch.</summary>
    public int BatchSize { get; }

    /// <summary>The current epoch (0-based).</summary>
    public int Epoch { get; private set; }

    /// <summary>The next batch index within the epoch.</summary>
    public int NextBatch { get; private set; }

    /// <summary>Batches per epoch: ceil(Length / BatchSize).</summary>
    public int BatchesPerEpoch => (Length + BatchSize - 1) / BatchSize;

    public DataOrder(int length, int batchSize)
    {
        if (length < 1) throw new ArgumentOutOfRangeException(nameof(length), "the dataset is empty");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), "batch size must be at least 1");
        Length = length;
        BatchSize = batchSize;
    }

    /// <summary>
    /// The example indices of the next batch, and whether it is the last batch of its epoch. A new epoch's
    /// permutation is drawn from <paramref name="generator"/> (<c>randperm(Length)</c>) when its first batch is taken.
    /// </summary>
    public (IReadOnlyList<int> Examples, bool EndOfEpoch) Next(Generator generator)
    {
        if (NextBatch == 0 && _permutation.Length == 0)
        {
            using var perm = randperm(Length, ScalarType.Int64, generator: generator);
            _permutation = perm.data<long>().ToArray();
        }
        int start = NextBatch * BatchSize, count = Math.Min(BatchSize, Length - start);
        var batch = _permutation.Skip(start).Take(count).Select(i => (int)i).ToList();
        NextBatch++;
        bool end = NextBatch == BatchesPerEpoch;
        if (end)
        {
            Epoch++;
            NextBatch = 0;
            _permutation = [];
        }
        return (batch, end);
    }

    /// <summary>The position, for a checkpoint.</summary>
    public DataOrderState State => new(Epoch, NextBatch, (long[])_permutation.Clone());

    /// <summary>Restores a saved position (same length and batch size).</summary>
    public void Restore(DataOrderState state, string source)
    {
        bool valid = state.Epoch >= 0 && state.NextBatch >= 0 && state.NextBatch < BatchesPerEpoch
                     && (state.Permutation.Length == 0 ? state.NextBatch == 0 : state.Permutation.Length == Length)
                     && state.Permutation.Order().SequenceEqual(Enumerable.Range(0, state.Permutation.Length).Select(i => (long)i));
        if (!valid)
            throw new DreamBoothException($"{source}: the saved data order does not fit {Length} examples in batches of {BatchSize} (different data or --train-batch-size?)");
        Epoch = state.Epoch;
        NextBatch = state.NextBatch;
        _permutation = (long[])state.Permutation.Clone();
    }

    /// <summary>Example <paramref name="example"/> as (instance image, class image) indices, diffusers' pairing.</summary>
    public static (int Instance, int? Class) Pair(int example, int instanceCount, int? classCount) =>
        (example % instanceCount, classCount is int c ? example % c : null);
}
