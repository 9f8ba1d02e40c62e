namespace DreamBooth.TinyWorld;

/// <summary>
/// SplitMix64 (Steele, Lea &amp; Flood 2014): a tiny, fully specified generator, so that a seed names the same scenes on
/// every .NET version and platform (<see cref="System.Random"/>'s algorithm is unspecified and may change). A mutable
/// struct: pass it by <c>ref</c> to consume numbers; <see cref="Derive"/> opens an independent stream without consuming.
/// </summary>
public struct WorldRandom
{
    private const ulong Golden = 0x9E3779B97F4A7C15UL;
    private ulong _state;

    /// <summary>A generator whose sequence is fixed by <paramref name="seed"/>.</summary>
    public WorldRandom(ulong seed) => _state = seed;

    /// <summary>The stream for item <paramref name="index"/> of a dataset with <paramref name="seed"/>, on channel
    /// <paramref name="stream"/> (e.g. scene vs. caption), independent of all other (seed, index, stream) triples.</summary>
    public static WorldRandom For(long seed, long index, ulong stream = 0) =>
        new(Mix(Mix(Mix((ulong)seed + Golden) ^ (ulong)index) + stream * Golden));

    /// <summary>SplitMix64's output function: a bijective avalanche mix of 64 bits.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64() => Mix(_state += Golden);

    /// <summary>The next 32 random bits.</summary>
    public uint NextUInt32() => (uint)(NextUInt64() >> 32);

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [<paramref name="min"/>, <paramref name="max"/>).</summary>
    public float Range(float min, float max) => (float)(min + NextDouble() * (max - min));

    /// <summary>Uniform integer in [0, <paramref name="n"/>) (Lemire's multiply-shift; bias below 2^-32).</summary>
    public int Below(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive");
        return (int)(((ulong)NextUInt32() * (ulong)n) >> 32);
    }

    /// <summary>True with probability <paramref name="p"/>.</summary>
    public bool Chance(double p) => NextDouble() < p;

    /// <summary>A uniformly chosen item.</summary>
    public T Pick<T>(IReadOnlyList<T> items) => items[Below(items.Count)];

    /// <summary>A uniformly chosen enum value.</summary>
    public T PickEnum<T>() where T : struct, Enum => Pick(Enum.GetValues<T>());

    /// <summary>An independent generator for sub-stream <paramref name="tag"/>; does not advance this one.</summary>
    public readonly WorldRandom Derive(ulong tag) => new(Mix(_state ^ Mix(tag + Golden)));
}
