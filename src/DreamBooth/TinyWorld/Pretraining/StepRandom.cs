using static TorchSharp.torch;

namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>
/// Random streams that are pure functions of (seed, purpose, index): every step of every stage draws its noise,
/// timesteps and caption choices from its own streams, so a run resumed at step k draws exactly what an uninterrupted
/// run draws there, with no generator state in the checkpoint.
/// </summary>
internal static class StepRandom
{
    // Purposes (fixed numbers: changing one changes every trained model).
    public const ulong Init = 0x1A17, VaeNoise = 0x5AE, DiffusionNoise = 0xD1FF, CaptionDrop = 0xCA90, EpochOrder = 0xE90C, Recaption = 0x8ECA, VaeHue = 0x4E0;

    /// <summary>A world random stream for (seed, purpose, index).</summary>
    public static TinyWorld.WorldRandom For(long seed, ulong purpose, long index) => TinyWorld.WorldRandom.For(seed, index, purpose);

    /// <summary>A torch generator seeded from (seed, purpose, index).</summary>
    public static Generator Generator(long seed, ulong purpose, long index)
    {
        var rng = For(seed, purpose, index);
        // torch seeds are 64-bit; keep it non-negative for readability in logs.
        return new Generator(rng.NextUInt64() >> 1, CPU);
    }
}
