using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Evaluation;

/// <summary>
/// Degradations that make the probe robust to generated images: small shifts, blur, a 2× down-and-up resample (VAE
/// softness), low-frequency colour blotches, brightness/contrast/per-channel colour shifts and pixel noise. Each image
/// draws its own strengths from the caller's <see cref="Generator"/>; images stay in [-1, 1].
/// </summary>
public static class ProbeAugment
{
    /// <summary>Augmented copy of <paramref name="images"/> [N, 3, H, W] in [-1, 1]; each image is left clean with probability <paramref name="cleanProbability"/>.</summary>
    public static Tensor Apply(Tensor images, Generator generator, double cleanProbability = 0.2) => Apply(images, null, generator, cleanProbability).Images;

    /// <summary>As <see cref="Apply(Tensor, Generator, double)"/>, also shifting per-image masks [N, 1, H, W] with their images.</summary>
    public static (Tensor Images, Tensor? Masks) Apply(Tensor images, Tensor? masks, Generator generator, double cleanProbability = 0.2)
    {
        using var scope = NewDisposeScope();
        long n = images.shape[0], h = images.shape[2], w = images.shape[3];
        Tensor U(params long[] shape) => rand(shape, generator: generator);
        var x = images;

        // Shifts of up to ±3 pixels (replicate-padded).
        var padded = nn.functional.pad(x, new long[] { 3, 3, 3, 3 }, PaddingModes.Replicate);
        var offsets = randint(0, 7, new long[] { n, 2 }, generator: generator).data<long>().ToArray();
        x = stack(Enumerable.Range(0, (int)n).Select(i => padded[i].narrow(1, offsets[2 * i], h).narrow(2, offsets[2 * i + 1], w)).ToArray());
        Tensor? shiftedMasks = null;
        if (masks is not null)
        {
            var paddedMasks = nn.functional.pad(masks, new long[] { 3, 3, 3, 3 }, PaddingModes.Replicate);
            shiftedMasks = stack(Enumerable.Range(0, (int)n).Select(i => paddedMasks[i].narrow(1, offsets[2 * i], h).narrow(2, offsets[2 * i + 1], w)).ToArray());
        }

        // Gaussian blur, sigma in [0, 1.3] per image, as a depthwise convolution with per-image kernels.
        var sigma = U(n).mul(1.3).clamp_min(0.05);
        var taps = arange(-3, 4, dtype: ScalarType.Float32);
        var k1 = exp(-taps.unsqueeze(0).pow(2) / (2 * sigma.unsqueeze(1).pow(2)));
        k1 = k1 / k1.sum(1, keepdim: true);                                           // [n, 7]
        var kernel = (k1.unsqueeze(2) * k1.unsqueeze(1)).repeat_interleave(3, 0).unsqueeze(1); // [3n, 1, 7, 7]
        var flat = nn.functional.pad(x.reshape(1, 3 * n, h, w), new long[] { 3, 3, 3, 3 }, PaddingModes.Replicate);
        x = nn.functional.conv2d(flat, kernel, groups: 3 * n).reshape(n, 3, h, w);

        // Down-and-up resample for 30 % of the images.
        var soft = nn.functional.interpolate(nn.functional.interpolate(x, new long[] { h / 2, w / 2 }, mode: InterpolationMode.Bilinear, align_corners: false),
            new long[] { h, w }, mode: InterpolationMode.Bilinear, align_corners: false);
        var pickSoft = U(n, 1, 1, 1).lt(0.3);
        x = where(pickSoft, soft, x);

        // Colour: brightness, contrast, per-channel gain, low-frequency blotches, noise.
        var brightness = U(n, 1, 1, 1).sub(0.5).mul(0.24);
        var contrast = U(n, 1, 1, 1).sub(0.5).mul(0.3).add(1);
        var gain = U(n, 3, 1, 1).sub(0.5).mul(0.14).add(1);
        var mean = x.mean(new long[] { 1, 2, 3 }, keepdim: true);
        x = (x - mean) * contrast + mean;
        x = ((x + 1) * gain - 1) + brightness;
        var blotch = nn.functional.interpolate(randn(new long[] { n, 3, 4, 4 }, generator: generator), new long[] { h, w }, mode: InterpolationMode.Bilinear, align_corners: false);
        x = x + blotch * U(n, 1, 1, 1).mul(0.08);
        x = x + randn(new long[] { n, 3, h, w }, generator: generator) * U(n, 1, 1, 1).mul(0.08);

        var keep = U(n, 1, 1, 1).lt(cleanProbability);
        var outMasks = masks is null ? null : where(keep, masks, shiftedMasks!).MoveToOuterDisposeScope();
        return (where(keep, images, x.clamp(-1, 1)).MoveToOuterDisposeScope(), outMasks);
    }
}
