using static TorchSharp.torch;

namespace DreamBooth.Models.Vae;

/// <summary>
/// diffusers' <c>DiagonalGaussianDistribution</c>: the VAE posterior N(mean, exp(logvar)) from the encoder moments
/// [B, 2·C, h, w] (first half mean, second half log-variance clamped to [−30, 20]). Its tensors live in the dispose
/// scope that was current when it was built.
/// </summary>
public sealed class DiagonalGaussianDistribution
{
    /// <summary>The moments it was built from [B, 2·C, h, w].</summary>
    public Tensor Parameters { get; }

    /// <summary>Mean [B, C, h, w] (a view of <see cref="Parameters"/>).</summary>
    public Tensor Mean { get; }

    /// <summary>Log-variance clamped to [−30, 20].</summary>
    public Tensor LogVar { get; }

    /// <summary>Standard deviation exp(0.5·logvar); zero when deterministic.</summary>
    public Tensor Std { get; }

    /// <summary>Whether the distribution collapses to its mean (std 0), as diffusers' <c>deterministic</c>.</summary>
    public bool Deterministic { get; }

    public DiagonalGaussianDistribution(Tensor parameters, bool deterministic = false)
    {
        if (parameters.dim() < 2 || parameters.shape[1] % 2 != 0)
            throw new ArgumentException($"moments must have an even channel count, got [{string.Join(", ", parameters.shape)}]", nameof(parameters));
        Parameters = parameters;
        var halves = parameters.chunk(2, 1);
        Mean = halves[0];
        LogVar = halves[1].clamp(-30.0, 20.0);
        halves[1].Dispose();
        Deterministic = deterministic;
        Std = deterministic ? zeros_like(Mean) : (0.5 * LogVar).exp();
    }

    /// <summary>Draws mean + std·ε with ε ~ N(0, I) from <paramref name="generator"/> (created on the generator's
    /// device, then moved, as diffusers' randn_tensor does).</summary>
    public Tensor Sample(Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        using var noise = randn(Mean.shape, Mean.dtype, generator.device, generator: generator);
        if (noise.device == Mean.device) return Sample(noise);
        using var moved = noise.to(Mean.device);
        return Sample(moved);
    }

    /// <summary>mean + std·<paramref name="noise"/> for a given standard-normal <paramref name="noise"/> of the mean's shape.</summary>
    public Tensor Sample(Tensor noise) => Mean + Std * noise;

    /// <summary>The mode (the mean).</summary>
    public Tensor Mode() => Mean;
}
