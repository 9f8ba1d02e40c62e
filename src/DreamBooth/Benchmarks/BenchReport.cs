namespace DreamBooth.Benchmarks;

/// <summary>What a bench run measured, as printed and as written to JSON.</summary>
/// <param name="Config">The model configs (sd15, sd21, sdxl or a folder).</param>
/// <param name="Resolution">Image side in pixels of the training, guided and image cases.</param>
/// <param name="Quick">Whether this was the reduced <c>--quick</c> set.</param>
/// <param name="Reduced">What <c>--quick</c> reduced (null for a full run).</param>
/// <param name="Threads">Torch CPU threads.</param>
/// <param name="Warmup">Unmeasured steps per case.</param>
/// <param name="Iterations">Measured steps per case (the figure is their median).</param>
/// <param name="Allocator">The allocator fix in effect (jemalloc, glibc-hugetlb or null).</param>
/// <param name="PeakGflopsFp32">Measured fp32 matmul GFLOP/s (null when not run).</param>
/// <param name="PeakGflopsBf16">Measured bf16 matmul GFLOP/s (null when not run).</param>
/// <param name="Cases">One entry per case, in the order run.</param>
/// <param name="Targets">The targets next to the measured figures.</param>
public sealed record BenchReport(string Config, int Resolution, bool Quick, string? Reduced, int Threads, int Warmup, int Iterations,
    string? Allocator, double? PeakGflopsFp32, double? PeakGflopsBf16, IReadOnlyList<BenchCaseResult> Cases, IReadOnlyList<BenchTarget> Targets);

/// <summary>The outcome of one case.</summary>
/// <param name="Name">Case name (<see cref="BenchCases.All"/>).</param>
/// <param name="Description">What one step is.</param>
/// <param name="Status">ok, skipped or failed.</param>
/// <param name="Reason">Why it was skipped or failed.</param>
/// <param name="SecondsPerStep">Median seconds per step.</param>
/// <param name="Samples">Every measured step's seconds.</param>
/// <param name="GflopPerStep">Model GFLOP of one step (<see cref="FlopCounter"/>).</param>
/// <param name="EffectiveGflops">GflopPerStep / SecondsPerStep.</param>
/// <param name="ShareOfPeak">EffectiveGflops over the measured matmul peak of the case's dtype.</param>
/// <param name="PeakRssBytes">The process's peak resident memory during the case.</param>
/// <param name="EstimatedBytes">The memory estimate checked against MemAvailable before the case.</param>
/// <param name="Profile">Median seconds per phase of a training step (data, forward, backward, optimizer).</param>
/// <param name="Extra">Case-specific figures (steps/s, RSS at start/end, drift).</param>
public sealed record BenchCaseResult(string Name, string Description, string Status, string? Reason = null, double? SecondsPerStep = null,
    IReadOnlyList<double>? Samples = null, double? GflopPerStep = null, double? EffectiveGflops = null, double? ShareOfPeak = null,
    long? PeakRssBytes = null, double? EstimatedBytes = null, IReadOnlyDictionary<string, double>? Profile = null,
    IReadOnlyDictionary<string, double>? Extra = null)
{
    /// <summary>Status of a measured case.</summary>
    public const string Ok = "ok";
    /// <summary>Status of a case not run (memory, unsupported model).</summary>
    public const string Skipped = "skipped";
    /// <summary>Status of a case that threw.</summary>
    public const string Failed = "failed";
}

/// <summary>One of the targets.</summary>
/// <param name="Name">What is measured.</param>
/// <param name="Target">The target, e.g. "≤ 4 s".</param>
/// <param name="Measured">The measured figure, or why there is none.</param>
/// <param name="Met">true/false; null when not measured or not comparable (e.g. --quick's smaller resolution).</param>
public sealed record BenchTarget(string Name, string Target, string Measured, bool? Met);

/// <summary>Progress of a bench run: case <paramref name="CaseIndex"/> of <paramref name="CaseCount"/>, step <paramref name="Step"/> of <paramref name="Steps"/>.</summary>
public sealed record BenchProgress(int CaseIndex, int CaseCount, string Case, string Phase, int Step, int Steps);
