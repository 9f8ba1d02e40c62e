using static TorchSharp.torch;

namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>
/// Colour augmentation for the VAE (stage 1): a random share of each batch is rotated in hue, a rotation of RGB space
/// about the grey axis (1, 1, 1) by a random angle, so that greys stay grey, brightness is about kept, and 120° and 240°
/// are the channel permutations. The world has a handful of colours in fixed pairings (and the demo subject's pairing
/// is held out of pretraining); a VAE that only ever saw those pairings learns them as a prior and repaints an unseen
/// pairing in a familiar one. Rotated scenes show every hue on every part, so the VAE becomes a generic codec, as SD's
/// is, while the text encoder and UNet still see only the unrotated world. Draws come from (seed, step), so a resumed
/// run augments as an uninterrupted one.
/// </summary>
internal static class HueRotation
{
    /// <summary>
    /// Rotates each image of <paramref name="images"/> [B, 3, H, W] (in [−1, 1]) with probability
    /// <paramref name="probability"/> by an angle uniform in [0, 2π); the result is clamped to [−1, 1].
    /// </summary>
    public static Tensor Apply(Tensor images, double probability, Generator generator)
    {
        if (probability <= 0) return images.alias();
        long b = images.shape[0];
        var apply = rand(b, generator: generator, dtype: float32).lt(probability);
        var angle = rand(b, generator: generator, dtype: float32).mul(2 * Math.PI).where(apply, zeros(b, dtype: float32));
        var m = Matrices(angle);
        var x = images.add(1).div(2).reshape(b, 3, -1);
        return m.matmul(x).clamp(0, 1).reshape(images.shape).mul(2).sub(1);
    }

    /// <summary>
    /// Rodrigues' rotation about k = (1, 1, 1)/√3: R = cos θ · I + sin θ · [k]× + (1 − cos θ) · k kᵀ, one [3, 3] per angle.
    /// </summary>
    internal static Tensor Matrices(Tensor angle)
    {
        double k = 1 / Math.Sqrt(3);
        var cross = tensor(new float[] { 0, (float)-k, (float)k, (float)k, 0, (float)-k, (float)-k, (float)k, 0 }).reshape(1, 3, 3);
        var outer = full(new long[] { 1, 3, 3 }, (float)(k * k));
        var c = angle.cos().reshape(-1, 1, 1);
        var s = angle.sin().reshape(-1, 1, 1);
        return c * eye(3, dtype: float32).unsqueeze(0) + s * cross + (1 - c) * outer;
    }
}
