namespace DreamBooth.Cli;

/// <summary>The range of the commands' <c>--threads</c> flag.</summary>
internal static class TorchThreads
{
    /// <summary>4 × the cores: more only adds contention, and a huge count exhausts the process limit (fork fails machine-wide).</summary>
    public static int Max => 4 * Environment.ProcessorCount;

    /// <summary>Null when <paramref name="threads"/> is in [0, <see cref="Max"/>]; else the one-line error.</summary>
    public static string? Check(int threads) =>
        threads >= 0 && threads <= Max ? null : $"--threads {threads}: must be in [0, {Max}] (0 = library default; 4 × the {Environment.ProcessorCount} cores at most)";
}
