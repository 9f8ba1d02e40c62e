using static TorchSharp.torch;

namespace DreamBooth.Pipelines;

/// <summary>
/// Classifier-free guidance (Ho &amp; Salimans 2022): the UNet predicts for cat([uncond, cond]) in one batch, and the
/// two halves are combined as ε = ε_u + g·(ε_c − ε_u), optionally rescaled (Lin et al. 2023, "Common Diffusion Noise
/// Schedules and Sample Steps are Flawed", §3.4).
/// </summary>
public static class ClassifierFreeGuidance
{
    /// <summary>
    /// Combines a prediction [2B, ...] made for cat([uncond, cond]) into the guided prediction [B, ...]; with
    /// <paramref name="rescale"/> &gt; 0 applies <see cref="Rescale"/>.
    /// </summary>
    public static Tensor Combine(Tensor prediction, double scale, double rescale = 0)
    {
        using var scope = NewDisposeScope();
        var halves = prediction.chunk(2, 0);
        Tensor uncond = halves[0], cond = halves[1];
        var guided = uncond + scale * (cond - uncond);
        if (rescale > 0) guided = Rescale(guided, cond, rescale);
        return guided.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// diffusers' <c>rescale_noise_cfg</c>: rescales the guided prediction to the per-sample standard deviation of the
    /// conditional one (std over all but the batch dimension, Bessel-corrected as torch.std), then blends
    /// φ·rescaled + (1 − φ)·guided. This counters the over-exposure of high guidance with zero-terminal-SNR schedules.
    /// </summary>
    public static Tensor Rescale(Tensor guided, Tensor cond, double phi)
    {
        using var scope = NewDisposeScope();
        var dims = Enumerable.Range(1, (int)guided.dim() - 1).Select(d => (long)d).ToArray();
        var stdCond = cond.std(dims, unbiased: true, keepdim: true);
        var stdGuided = guided.std(dims, unbiased: true, keepdim: true);
        var rescaled = guided * (stdCond / stdGuided);
        return (phi * rescaled + (1 - phi) * guided).MoveToOuterDisposeScope();
    }
}
