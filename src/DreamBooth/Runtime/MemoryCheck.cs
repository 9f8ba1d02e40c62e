using System.Globalization;
using DreamBooth.Benchmarks;

namespace DreamBooth.Runtime;

/// <summary>
/// Refuses work whose activations cannot fit in the machine's memory before it starts: on Linux an allocation beyond
/// memory usually succeeds (overcommit) and the kernel's OOM killer later ends the process without a word, so a huge
/// <c>--width</c> or <c>--resolution</c> must be caught up front. The estimates are lower bounds, so nothing that fits is refused.
/// </summary>
public static class MemoryCheck
{
    /// <summary>
    /// Tensors of one convolution stage's full size a forward pass holds at once, at least (the block input, the
    /// normalised and activated copies, the convolution output, the residual sum). Measured: the tiny-world VAE decoder
    /// peaks at about 17 such tensors at its widest stage (peak RSS 0.44 / 0.98 / 2.59 GB at 256 / 512 / 1024 px).
    /// </summary>
    public const double TensorsPerStage = 8;

    /// <summary>Lower-bound bytes of a conv-net forward pass at its full-resolution stage: <paramref name="channels"/> ×
    /// <paramref name="width"/> × <paramref name="height"/> × <paramref name="images"/> elements × <see cref="TensorsPerStage"/>.</summary>
    public static double Activations(int channels, long width, long height, long images, int elementBytes) =>
        TensorsPerStage * channels * (double)width * height * images * elementBytes;

    /// <summary>Throws when <paramref name="bytes"/> exceed the memory available (MemAvailable; no check where unknown).</summary>
    /// <param name="bytes">The estimate.</param>
    /// <param name="what">What needs it, first in the message ("a 4096×4096 image (batch size 2)").</param>
    /// <param name="remedy">What to change, last in the message.</param>
    /// <param name="available">Available bytes; default: /proc/meminfo's MemAvailable.</param>
    /// <exception cref="DreamBoothException">The estimate exceeds what is available.</exception>
    public static void Require(double bytes, string what, string remedy, long? available = null)
    {
        long? free = available ?? ProcessMemory.Available();
        if (free is long a && bytes > a)
            throw new DreamBoothException(string.Create(CultureInfo.InvariantCulture, $"{what} needs at least {Gigabytes(bytes)} of memory and {Gigabytes(a)} is available: {remedy}"));
    }

    private static string Gigabytes(double bytes) =>
        bytes >= 1e15 ? string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e12:#,0} TB") : string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:0.0} GB");
}
