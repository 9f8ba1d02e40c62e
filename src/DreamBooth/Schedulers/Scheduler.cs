using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Schedulers;

/// <summary>
/// A noise scheduler (diffusers <c>SchedulerMixin</c>): the training noise schedule (β, α, ᾱ = <see cref="AlphasCumprod"/>)
/// with the forward process used for training (<see cref="AddNoise"/>, <see cref="GetVelocity"/>,
/// <see cref="GetTrainingTarget"/>), and a sampler that walks a chosen number of inference timesteps back to a clean
/// sample (<see cref="SetTimesteps"/>, <see cref="ScaleModelInput"/>, <see cref="Step"/>).
/// A scheduler holds no model. Its per-run state (step index, solver history) lives in the instance and is reset by
/// <see cref="SetTimesteps"/>; one instance serves one sampling loop at a time.
/// <para>
/// The sampling loop, as in a diffusers pipeline:
/// <code>
/// scheduler.SetTimesteps(steps);
/// var x = randn(shape, generator: g) * scheduler.InitNoiseSigma;
/// foreach (var t in scheduler.TimestepValues)
/// {
///     using var scope = NewDisposeScope();
///     var eps = unet(scheduler.ScaleModelInput(x, t), t, context);
///     x = scheduler.Step(eps, t, x, g).PrevSample.MoveToOuterDisposeScope();
/// }
/// </code>
/// </para>
/// Tensors the scheduler owns (<see cref="Betas"/>, <see cref="Timesteps"/>, ...) are float32 / int64 on the CPU,
/// freed by <see cref="Dispose"/>; callers must not dispose them.
/// </summary>
public abstract class Scheduler : IDisposable
{
    private readonly float[] _alphasCumprod;
    private double[] _timestepValues = [];
    private bool _disposed;

    /// <summary>Builds the training schedule from a config resolved by the derived class (every key of its class set).</summary>
    protected Scheduler(SchedulerConfig resolved, bool allowSigmoidBetas = false)
    {
        Config = resolved;
        NumTrainTimesteps = resolved.NumTrainTimesteps ?? throw new ArgumentException("num_train_timesteps is not resolved", nameof(resolved));
        if (NumTrainTimesteps < 1)
            throw new DreamBoothException($"{Source}: num_train_timesteps must be at least 1, got {NumTrainTimesteps}");
        var predictionType = resolved.PredictionType ?? "epsilon";
        if (ParsePredictionType(predictionType) is not { } parsed || !SupportedPredictionTypes.Contains(parsed))
            throw new DreamBoothException($"{Source}: prediction_type '{predictionType}' is not supported by {ClassName}; " +
                                          $"expected one of {string.Join(", ", SupportedPredictionTypes.Select(p => p.ToConfigString()))}");
        PredictionType = parsed;

        using var scope = NewDisposeScope();
        var betas = BetaSchedules.Create(resolved, allowSigmoidBetas);
        if (resolved.RescaleBetasZeroSnr == true) betas = BetaSchedules.RescaleZeroTerminalSnr(betas);
        var alphas = 1.0 - betas;
        var alphasCumprod = alphas.cumprod(0);
        // Euler and DPM-Solver: "set the last ᾱ close to zero rather than to zero, so the first σ stays finite".
        if (resolved.RescaleBetasZeroSnr == true && ClampsTerminalAlphaCumprod)
            alphasCumprod[NumTrainTimesteps - 1] = tensor(Math.Pow(2, -24), ScalarType.Float32);
        Betas = betas.DetachFromDisposeScope();
        Alphas = alphas.DetachFromDisposeScope();
        AlphasCumprod = alphasCumprod.DetachFromDisposeScope();
        _alphasCumprod = AlphasCumprod.data<float>().ToArray();
        Timesteps = tensor(Array.Empty<long>()).DetachFromDisposeScope();
    }

    /// <summary>The resolved config: every key of this scheduler's diffusers class, defaults filled in; the others null.</summary>
    public SchedulerConfig Config { get; }

    /// <summary>The diffusers class this scheduler reproduces (e.g. <c>DDIMScheduler</c>).</summary>
    public string ClassName => Config.ClassName!;

    /// <summary>T, the number of training timesteps.</summary>
    public int NumTrainTimesteps { get; }

    /// <summary>What the model predicts.</summary>
    public PredictionType PredictionType { get; }

    /// <summary>β, float32 [T].</summary>
    public Tensor Betas { get; }

    /// <summary>α = 1 − β, float32 [T].</summary>
    public Tensor Alphas { get; }

    /// <summary>ᾱ = cumprod(α), float32 [T] (also what Min-SNR weighting needs).</summary>
    public Tensor AlphasCumprod { get; }

    /// <summary>The number of inference steps of the last <see cref="SetTimesteps"/> call; null before it.</summary>
    public int? NumInferenceSteps { get; protected set; }

    /// <summary>
    /// The timesteps of the sampling loop, in order (one model call each): int64, or float32 for the Euler schedulers,
    /// as upstream. Valid until the next <see cref="SetTimesteps"/>; empty before the first.
    /// </summary>
    public Tensor Timesteps { get; private set; }

    /// <summary><see cref="Timesteps"/> as numbers (what <see cref="Step"/> and <see cref="ScaleModelInput"/> take).</summary>
    public IReadOnlyList<double> TimestepValues => _timestepValues;

    /// <summary>The noise levels σ of the sampling schedule (Euler, Euler ancestral, DPM-Solver: one more than the timesteps); null for the others.</summary>
    public virtual Tensor? Sigmas => null;

    /// <summary>The standard deviation of the initial noise: multiply N(0, I) by this to start sampling.</summary>
    public virtual double InitNoiseSigma => 1.0;

    /// <summary>The prediction types this class accepts.</summary>
    protected virtual IReadOnlyList<PredictionType> SupportedPredictionTypes { get; } =
        [PredictionType.Epsilon, PredictionType.VPrediction, PredictionType.Sample];

    /// <summary>Whether ᾱ_T is set to 2⁻²⁴ after a zero-SNR rescale (Euler, Euler ancestral, DPM-Solver).</summary>
    protected virtual bool ClampsTerminalAlphaCumprod => false;

    /// <summary>The name used in error messages for the config (its file path when read from disk).</summary>
    protected string Source => Config.Source;

    /// <summary>ᾱ_t as a float (t an integer training timestep).</summary>
    protected float AlphaCumprodAt(int t) => _alphasCumprod[t];

    /// <summary>Parses <c>prediction_type</c>; a class may accept extra spellings.</summary>
    protected virtual PredictionType? ParsePredictionType(string value) => PredictionTypes.TryParse(value);

    /// <summary>
    /// Chooses <paramref name="numInferenceSteps"/> timesteps for sampling and resets the per-run state.
    /// Throws <see cref="DreamBoothException"/> unless 1 ≤ steps ≤ <see cref="NumTrainTimesteps"/>.
    /// </summary>
    public void SetTimesteps(int numInferenceSteps)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (numInferenceSteps < 1 || numInferenceSteps > NumTrainTimesteps)
            throw new DreamBoothException(
                $"number of inference steps {numInferenceSteps} is out of range for {ClassName}: it must be between 1 and num_train_timesteps ({NumTrainTimesteps})");
        using var scope = NewDisposeScope();
        ResetState();
        NumInferenceSteps = numInferenceSteps;
        ComputeTimesteps(numInferenceSteps);
    }

    /// <summary>Computes the schedule for <paramref name="numInferenceSteps"/> steps and calls <see cref="SetTimestepValues(long[])"/> (or the float overload).</summary>
    protected abstract void ComputeTimesteps(int numInferenceSteps);

    /// <summary>Clears per-run state (solver history, step index); called by <see cref="SetTimesteps"/>.</summary>
    protected virtual void ResetState() { }

    /// <summary>Sets integer timesteps (int64 tensor).</summary>
    protected void SetTimestepValues(long[] timesteps)
    {
        ReplaceTimesteps(tensor(timesteps, ScalarType.Int64));
        _timestepValues = timesteps.Select(t => (double)t).ToArray();
    }

    /// <summary>Sets float timesteps (float32 tensor, as the Euler schedulers have).</summary>
    protected void SetTimestepValues(float[] timesteps)
    {
        ReplaceTimesteps(tensor(timesteps, ScalarType.Float32));
        _timestepValues = timesteps.Select(t => (double)t).ToArray();
    }

    private void ReplaceTimesteps(Tensor timesteps)
    {
        Timesteps.Dispose();
        Timesteps = timesteps.DetachFromDisposeScope();
    }

    /// <summary>
    /// Scales the denoising model's input for timestep <paramref name="timestep"/> (Euler: x/√(σ²+1); the others: x).
    /// Always returns a new tensor handle, so the caller may dispose it.
    /// </summary>
    public virtual Tensor ScaleModelInput(Tensor sample, double timestep) => sample.alias();

    /// <summary>
    /// One reverse step: from the model output at <paramref name="timestep"/> (a value of <see cref="TimestepValues"/>)
    /// and the current <paramref name="sample"/>, the sample at the previous timestep.
    /// Stochastic schedulers (DDPM, DDIM with η &gt; 0, Euler ancestral, SDE DPM-Solver) draw their noise from
    /// <paramref name="generator"/>, or take it from <paramref name="noise"/> (shape of the sample) when given.
    /// </summary>
    public abstract SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null, Tensor? noise = null);

    /// <summary>
    /// The forward (noising) process used for training: x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε, with ᾱ indexed by the integer
    /// training timesteps (int64, one per batch item), broadcast over the remaining dimensions (diffusers DDPM <c>add_noise</c>).
    /// </summary>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        var (sqrtAlpha, sqrtOneMinusAlpha) = NoiseCoefficients(timesteps, originalSamples);
        return (sqrtAlpha * originalSamples + sqrtOneMinusAlpha * noise).MoveToOuterDisposeScope();
    }

    /// <summary>The velocity v = √ᾱ_t·ε − √(1−ᾱ_t)·x₀ (Salimans &amp; Ho 2022), the v-prediction target.</summary>
    public Tensor GetVelocity(Tensor sample, Tensor noise, Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        var (sqrtAlpha, sqrtOneMinusAlpha) = NoiseCoefficients(timesteps, sample);
        return (sqrtAlpha * noise - sqrtOneMinusAlpha * sample).MoveToOuterDisposeScope();
    }

    /// <summary>The training target for <see cref="PredictionType"/>: ε, v (<see cref="GetVelocity"/>) or x₀.</summary>
    public Tensor GetTrainingTarget(Tensor sample, Tensor noise, Tensor timesteps) => PredictionType switch
    {
        PredictionType.Epsilon => noise.alias(),
        PredictionType.VPrediction => GetVelocity(sample, noise, timesteps),
        _ => sample.alias(),
    };

    /// <summary>SNR(t) = ᾱ_t / (1 − ᾱ_t) for integer training timesteps, float32 (diffusers <c>compute_snr</c>, for Min-SNR weighting).</summary>
    public Tensor ComputeSnr(Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        var index = CheckedTrainingTimesteps(timesteps);
        var flat = index.flatten().to(timesteps.device);
        var alpha = AlphasCumprod.sqrt().to(timesteps.device).index_select(0, flat).reshape(timesteps.shape).to(ScalarType.Float32);
        var sigma = (1.0 - AlphasCumprod).sqrt().to(timesteps.device).index_select(0, flat).reshape(timesteps.shape).to(ScalarType.Float32);
        return (alpha / sigma).pow(2).MoveToOuterDisposeScope();
    }

    private (Tensor SqrtAlpha, Tensor SqrtOneMinusAlpha) NoiseCoefficients(Tensor timesteps, Tensor like)
    {
        var index = CheckedTrainingTimesteps(timesteps).to(like.device).flatten();
        // diffusers casts ᾱ to the samples' dtype first, then takes the square roots.
        var alphasCumprod = AlphasCumprod.to(like.dtype, like.device).index_select(0, index);
        var sqrtAlpha = alphasCumprod.pow(0.5).flatten();
        var sqrtOneMinusAlpha = (1 - alphasCumprod).pow(0.5).flatten();
        while (sqrtAlpha.dim() < like.dim()) sqrtAlpha = sqrtAlpha.unsqueeze(-1);
        while (sqrtOneMinusAlpha.dim() < like.dim()) sqrtOneMinusAlpha = sqrtOneMinusAlpha.unsqueeze(-1);
        return (sqrtAlpha, sqrtOneMinusAlpha);
    }

    private Tensor CheckedTrainingTimesteps(Tensor timesteps)
    {
        if (timesteps.dtype is not (ScalarType.Int64 or ScalarType.Int32 or ScalarType.Int16 or ScalarType.Int8 or ScalarType.Byte))
            throw new ArgumentException($"training timesteps must be an integer tensor, got {timesteps.dtype}", nameof(timesteps));
        if (timesteps.numel() > 0)
        {
            long min = timesteps.min().item<long>(), max = timesteps.max().item<long>();
            if (min < 0 || max >= NumTrainTimesteps)
                throw new ArgumentOutOfRangeException(nameof(timesteps), $"training timesteps must lie in [0, {NumTrainTimesteps}), got [{min}, {max}]");
        }
        return timesteps.to(ScalarType.Int64);
    }

    /// <summary>An integer training timestep from a step argument, checked to be whole and in [0, T).</summary>
    protected int TrainingTimestep(double timestep)
    {
        if (timestep != Math.Floor(timestep) || timestep < 0 || timestep >= NumTrainTimesteps)
            throw new ArgumentOutOfRangeException(nameof(timestep), $"{ClassName} expects an integer timestep in [0, {NumTrainTimesteps}), got {timestep}");
        return (int)timestep;
    }

    /// <summary>Throws unless <see cref="SetTimesteps"/> has been called.</summary>
    protected void RequireTimesteps()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (NumInferenceSteps is null)
            throw new InvalidOperationException($"{ClassName}: call SetTimesteps before stepping");
    }

    /// <summary>
    /// Standard normal noise shaped like <paramref name="like"/> (diffusers <c>randn_tensor</c>): drawn on the
    /// generator's device with its dtype, then moved to the sample's device; the global generator when none is given.
    /// </summary>
    protected static Tensor RandnLike(Tensor like, Generator? generator, ScalarType? dtype = null)
    {
        var type = dtype ?? like.dtype;
        if (generator is null) return randn(like.shape, type, like.device);
        return randn(like.shape, type, generator.device, generator: generator).to(like.device);
    }

    /// <summary>The noise to add in a stochastic step: <paramref name="given"/> (checked for shape), else drawn from <paramref name="generator"/>.</summary>
    protected static Tensor StepNoise(Tensor like, Tensor? given, Generator? generator, ScalarType? dtype = null)
    {
        if (given is null) return RandnLike(like, generator, dtype);
        if (!given.shape.SequenceEqual(like.shape))
            throw new ArgumentException($"noise has shape [{string.Join(", ", given.shape)}] but the sample has [{string.Join(", ", like.shape)}]", nameof(given));
        return given.to(dtype ?? like.dtype, like.device);
    }

    /// <summary>
    /// Imagen's dynamic thresholding (Saharia et al. 2022): per sample, s = clamp(quantile(|x₀|, ratio), 1, max), then
    /// x₀ = clamp(x₀, −s, s)/s (diffusers <c>_threshold_sample</c>).
    /// </summary>
    protected Tensor ThresholdSample(Tensor sample)
    {
        using var scope = NewDisposeScope();
        var dtype = sample.dtype;
        var shape = sample.shape;
        var x = dtype is ScalarType.Float32 or ScalarType.Float64 ? sample : sample.to(ScalarType.Float32);
        x = x.reshape(shape[0], -1);
        var q = tensor(Config.DynamicThresholdingRatio ?? 0.995, x.dtype);
        var s = x.abs().quantile(q, dim: 1).clamp(1, Config.SampleMaxValue ?? 1.0).unsqueeze(1);
        x = x.clamp(-s, s) / s;
        return x.reshape(shape).to(dtype).MoveToOuterDisposeScope();
    }

    /// <summary>Keeps a tensor as scheduler state: a new handle on the same storage, outside any dispose scope.</summary>
    protected static Tensor Keep(Tensor t) => t.alias().DetachFromDisposeScope();

    /// <summary>Frees tensors owned by a derived class.</summary>
    protected virtual void DisposeState() { }

    /// <summary>Frees the schedule and state tensors.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        ResetState();
        DisposeState();
        Betas.Dispose();
        Alphas.Dispose();
        AlphasCumprod.Dispose();
        Timesteps.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>The config record with the keys every scheduler class shares, defaults filled in.</summary>
    protected static SchedulerConfig ResolveCommon(SchedulerConfig given, string className) => new()
    {
        Source = given.Source,
        ClassName = className,
        NumTrainTimesteps = given.NumTrainTimesteps ?? 1000,
        BetaStart = given.BetaStart ?? 0.0001,
        BetaEnd = given.BetaEnd ?? 0.02,
        BetaSchedule = given.BetaSchedule ?? "linear",
        TrainedBetas = given.TrainedBetas,
        PredictionType = given.PredictionType ?? "epsilon",
    };

    /// <summary>Throws a one-line config error unless <paramref name="value"/> is one of <paramref name="allowed"/>.</summary>
    protected static string Require(SchedulerConfig config, string key, string value, params string[] allowed)
    {
        if (!allowed.Contains(value))
            throw new DreamBoothException($"{config.Source}: {key} '{value}' is not supported by {config.ClassName}; expected one of {string.Join(", ", allowed)}");
        return value;
    }
}
