using DreamBooth.Models.Vae;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Training;

/// <summary>
/// The VAE posterior of every augmentation variant of an image set, encoded once before training (diffusers encodes
/// every step). Each step draws a fresh latent from the cached posterior, z = (mean + std·ε)·scaling_factor, as
/// diffusers' <c>vae.encode(x).latent_dist.sample() * scaling_factor</c> does, so only the encoder pass is saved.
/// </summary>
public sealed class LatentCache : IDisposable
{
    private readonly List<(Tensor Mean, Tensor Std)> _variants; // one entry per image: [V, C, h, w] each

    /// <summary>The VAE's scaling factor applied to sampled latents.</summary>
    public double ScalingFactor { get; }

    /// <summary>Number of images.</summary>
    public int Count => _variants.Count;

    /// <summary>Shape of one latent [C, h, w].</summary>
    public long[] LatentShape => _variants[0].Mean.shape[1..];

    private LatentCache(List<(Tensor, Tensor)> variants, double scalingFactor)
    {
        _variants = variants;
        ScalingFactor = scalingFactor;
    }

    /// <summary>Encodes every variant of <paramref name="images"/> with <paramref name="vae"/> (no grad), <paramref name="batchSize"/> at a time.</summary>
    /// <param name="images">The images.</param>
    /// <param name="vae">The frozen VAE.</param>
    /// <param name="batchSize">Variants per encoder call.</param>
    /// <param name="progress">Receives the number of variants encoded so far.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    public static LatentCache Encode(ITrainingImageSet images, AutoencoderKL vae, int batchSize, IProgress<int>? progress = null,
        CancellationToken cancellationToken = default)
    {
        if (images.Count == 0) throw new ArgumentException("no images to encode", nameof(images));
        var items = Enumerable.Range(0, images.Count).SelectMany(i => Enumerable.Range(0, images.VariantCount(i)).Select(v => (Image: i, Variant: v))).ToList();
        var means = new Tensor[items.Count];
        var stds = new Tensor[items.Count];
        var dtype = vae.parameters().First().dtype;
        try
        {
            using (no_grad())
            {
                for (int start = 0; start < items.Count; start += batchSize)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    using var scope = NewDisposeScope();
                    var batch = items.Skip(start).Take(batchSize).ToList();
                    var pixels = stack(batch.Select(it => images.PixelValues(it.Image, it.Variant)).ToArray()).to(dtype);
                    var posterior = vae.Encode(pixels);
                    for (int k = 0; k < batch.Count; k++)
                    {
                        means[start + k] = posterior.Mean[k].to(ScalarType.Float32).clone().DetachFromDisposeScope();
                        stds[start + k] = posterior.Std[k].to(ScalarType.Float32).clone().DetachFromDisposeScope();
                    }
                    progress?.Report(Math.Min(start + batchSize, items.Count));
                }
            }
            var perImage = new List<(Tensor, Tensor)>();
            for (int i = 0, k = 0; i < images.Count; i++)
            {
                int n = images.VariantCount(i);
                perImage.Add((stack(means[k..(k + n)]).DetachFromDisposeScope(), stack(stds[k..(k + n)]).DetachFromDisposeScope()));
                k += n;
            }
            return new LatentCache(perImage, vae.ScalingFactor);
        }
        finally
        {
            foreach (var t in means.Concat(stds)) t?.Dispose();
        }
    }

    /// <summary>Number of cached variants of image <paramref name="image"/>.</summary>
    public int VariantCount(int image) => (int)_variants[image].Mean.shape[0];

    /// <summary>
    /// Latents for the given (image, variant) rows: (mean + std·ε)·scaling_factor with ε ~ N(0, I) drawn from
    /// <paramref name="generator"/> in one call over the whole batch, float32 [N, C, h, w].
    /// </summary>
    public Tensor Sample(IReadOnlyList<(int Image, int Variant)> rows, Generator generator)
    {
        using var scope = NewDisposeScope();
        var mean = stack(rows.Select(r => _variants[r.Image].Mean[r.Variant]).ToArray());
        var std = stack(rows.Select(r => _variants[r.Image].Std[r.Variant]).ToArray());
        var eps = randn(mean.shape, ScalarType.Float32, generator: generator);
        return ((mean + std * eps) * ScalingFactor).MoveToOuterDisposeScope();
    }

    /// <summary>Frees the cached tensors.</summary>
    public void Dispose()
    {
        foreach (var (m, s) in _variants)
        {
            m.Dispose();
            s.Dispose();
        }
        _variants.Clear();
    }
}
