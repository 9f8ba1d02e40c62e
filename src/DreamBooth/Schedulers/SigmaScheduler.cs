using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Schedulers;

/// <summary>
/// Base of the schedulers that walk a list of noise levels σ (Euler, Euler ancestral, DPM-Solver), where
/// σ_t = √((1 − ᾱ_t)/ᾱ_t). They keep a step index: set on the first <see cref="Scheduler.ScaleModelInput"/> or
/// <see cref="Scheduler.Step"/> of a run from the timestep given, then advanced by each step.
/// </summary>
public abstract class SigmaScheduler : Scheduler
{
    private float[] _sigmas = [];
    private Tensor? _sigmaTensor;

    /// <summary>Builds the training schedule (see <see cref="Scheduler"/>).</summary>
    protected SigmaScheduler(SchedulerConfig resolved) : base(resolved)
    {
    }

    /// <summary>The index into <see cref="Scheduler.TimestepValues"/> of the next step; null until the run's first call.</summary>
    public int? StepIndex { get; private set; }

    /// <inheritdoc/>
    public override Tensor? Sigmas => _sigmaTensor;

    /// <inheritdoc/>
    protected override bool ClampsTerminalAlphaCumprod => true;

    /// <summary>σ at schedule position <paramref name="index"/>, as float32.</summary>
    protected float SigmaAt(int index) => _sigmas[index];

    /// <summary>The number of σ values (timesteps + 1).</summary>
    protected int SigmaCount => _sigmas.Length;

    /// <summary>The largest σ of the schedule.</summary>
    protected float MaxSigma => _sigmas.Length == 0 ? float.NaN : _sigmas.Max();

    /// <summary>σ for every training timestep, √((1 − ᾱ)/ᾱ), computed in float32 like diffusers.</summary>
    protected float[] TrainingSigmas()
    {
        using var scope = NewDisposeScope();
        return ((1 - AlphasCumprod) / AlphasCumprod).pow(0.5).data<float>().ToArray();
    }

    /// <summary>Sets the σ schedule (float32, one more value than the timesteps).</summary>
    protected void SetSigmas(float[] sigmas)
    {
        _sigmas = sigmas;
        _sigmaTensor?.Dispose();
        _sigmaTensor = tensor(sigmas, ScalarType.Float32).DetachFromDisposeScope();
    }

    /// <inheritdoc/>
    protected override void ResetState() => StepIndex = null;

    /// <summary>Advances the step index after a step.</summary>
    protected void AdvanceStepIndex() => StepIndex = StepIndex!.Value + 1;

    /// <summary>The step index for this call: the current one, or on a run's first call the position of <paramref name="timestep"/>.</summary>
    protected int CurrentStepIndex(double timestep)
    {
        RequireTimesteps();
        StepIndex ??= IndexForTimestep(timestep);
        if (StepIndex.Value >= TimestepValues.Count)
            throw new InvalidOperationException($"{ClassName}: all {TimestepValues.Count} steps of this run are done; call SetTimesteps to start another");
        return StepIndex.Value;
    }

    /// <summary>
    /// The schedule position of <paramref name="timestep"/>; when it occurs more than once, the second occurrence
    /// ("so that a run starting mid-schedule, as in image-to-image, does not skip a σ").
    /// </summary>
    protected virtual int IndexForTimestep(double timestep)
    {
        var matches = Matches(timestep);
        if (matches.Count == 0)
            throw new ArgumentOutOfRangeException(nameof(timestep), $"{ClassName}: timestep {timestep} is not in the schedule set by SetTimesteps");
        return matches.Count > 1 ? matches[1] : matches[0];
    }

    /// <summary>The positions where the schedule equals <paramref name="timestep"/> (compared in the timesteps' own precision).</summary>
    protected List<int> Matches(double timestep)
    {
        bool isFloat = Timesteps.dtype == ScalarType.Float32;
        var found = new List<int>();
        for (int i = 0; i < TimestepValues.Count; i++)
        {
            bool equal = isFloat ? (float)TimestepValues[i] == (float)timestep : TimestepValues[i] == timestep;
            if (equal) found.Add(i);
        }
        return found;
    }

    /// <inheritdoc/>
    protected override void DisposeState()
    {
        _sigmaTensor?.Dispose();
        _sigmaTensor = null;
    }

    /// <summary>
    /// The Karras et al. (2022) noise levels: σ_i = (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ with ρ = 7, in float64.
    /// </summary>
    protected static double[] KarrasSigmas(double sigmaMin, double sigmaMax, int steps, double rho = 7.0)
    {
        var ramp = NumpyCompat.Linspace(0, 1, steps);
        double minInvRho = Math.Pow(sigmaMin, 1 / rho), maxInvRho = Math.Pow(sigmaMax, 1 / rho);
        return ramp.Select(r => Math.Pow(maxInvRho + r * (minInvRho - maxInvRho), rho)).ToArray();
    }

    /// <summary>
    /// The (fractional) training timestep whose σ is <paramref name="sigma"/>: linear interpolation in log σ between
    /// the neighbouring training timesteps, in numpy's mix of float32 and float64 (diffusers <c>_sigma_to_t</c>).
    /// </summary>
    protected static double SigmaToT(double sigma, float[] logSigmas)
    {
        float logSigma = (float)Math.Log(Math.Max(sigma, 1e-10));
        // the last index whose log σ does not exceed ours, kept one short of the end
        int low = 0;
        for (int i = 0; i < logSigmas.Length; i++)
            if (logSigma - logSigmas[i] >= 0) low = i;
        low = Math.Min(low, logSigmas.Length - 2);
        int high = low + 1;
        float w = (logSigmas[low] - logSigma) / (logSigmas[low] - logSigmas[high]);
        w = Math.Clamp(w, 0f, 1f);
        return (double)(1 - w) * low + (double)w * high;
    }

    /// <summary>log σ of the training sigmas in float32, as <c>np.log</c> of a float32 array.</summary>
    protected static float[] LogSigmas(float[] sigmas) => sigmas.Select(s => MathF.Log(s)).ToArray();
}
