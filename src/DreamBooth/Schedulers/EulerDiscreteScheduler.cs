using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Schedulers;

/// <summary>
/// Euler's method on the probability-flow ODE in σ (Karras et al. 2022, Algorithm 2), diffusers
/// <c>EulerDiscreteScheduler</c>. Timesteps are floats, σ is interpolated linearly in t, the model input is scaled
/// by 1/√(σ²+1), and with linspace/trailing spacing the initial noise is σ_max (README item 11).
/// Optional "churn" (<see cref="SChurn"/>) adds noise before each step, as in k-diffusion.
/// </summary>
public sealed class EulerDiscreteScheduler : SigmaScheduler
{
    /// <summary>Builds the scheduler from a (model's) scheduler config; missing keys take EulerDiscreteScheduler's defaults.</summary>
    public EulerDiscreteScheduler(SchedulerConfig config) : base(Resolve(config))
    {
    }

    /// <summary>Karras' S_churn (0: no churn, the plain Euler ODE step).</summary>
    public double SChurn { get; set; }

    /// <summary>Karras' S_tmin: churn only where σ ≥ this.</summary>
    public double STmin { get; set; }

    /// <summary>Karras' S_tmax: churn only where σ ≤ this.</summary>
    public double STmax { get; set; } = double.PositiveInfinity;

    /// <summary>Karras' S_noise: the scale of the churn noise.</summary>
    public double SNoise { get; set; } = 1.0;

    private bool ContinuousTimesteps => Config.TimestepType == "continuous" && PredictionType == PredictionType.VPrediction;

    /// <inheritdoc/>
    protected override PredictionType? ParsePredictionType(string value) =>
        value == "original_sample" ? PredictionType.Sample : base.ParsePredictionType(value);

    private static SchedulerConfig Resolve(SchedulerConfig c)
    {
        var r = ResolveCommon(c, nameof(EulerDiscreteScheduler)) with
        {
            InterpolationType = c.InterpolationType ?? "linear",
            UseKarrasSigmas = c.UseKarrasSigmas ?? false,
            SigmaMin = c.SigmaMin,
            SigmaMax = c.SigmaMax,
            TimestepSpacing = c.TimestepSpacing ?? "linspace",
            TimestepType = c.TimestepType ?? "discrete",
            StepsOffset = c.StepsOffset ?? 0,
            RescaleBetasZeroSnr = c.RescaleBetasZeroSnr ?? false,
            FinalSigmasType = c.FinalSigmasType ?? "zero",
        };
        // diffusers' log_linear interpolation returns n + 1 ascending sigmas (one too many, in the wrong order); not offered.
        Require(r, "interpolation_type", r.InterpolationType!, "linear");
        Require(r, "timestep_spacing", r.TimestepSpacing!, TimestepSpacing.Names);
        Require(r, "timestep_type", r.TimestepType!, "discrete", "continuous");
        Require(r, "final_sigmas_type", r.FinalSigmasType!, "zero", "sigma_min");
        return r;
    }

    /// <summary>σ_max, or √(σ_max² + 1) with leading spacing.</summary>
    public override double InitNoiseSigma
    {
        get
        {
            float max = SigmaCount > 0 ? MaxSigma : TrainingSigmas().Max();
            return Config.TimestepSpacing is "linspace" or "trailing" ? max : MathF.Sqrt(max * max + 1);
        }
    }

    /// <inheritdoc/>
    protected override void ComputeTimesteps(int numInferenceSteps)
    {
        int n = numInferenceSteps, trainSteps = NumTrainTimesteps;
        double[] timesteps = Config.TimestepSpacing switch
        {
            // float32 timesteps, not rounded: 999, 888, ..., 0 for 10 steps
            "linspace" => NumpyCompat.Linspace(0, trainSteps - 1, n).Select(t => (double)(float)t).Reverse().ToArray(),
            "leading" => Enumerable.Range(0, n).Select(i => (double)(i * (trainSteps / n) + Config.StepsOffset!.Value)).Reverse().ToArray(),
            _ => NumpyCompat.Arange(trainSteps, 0, -(double)trainSteps / n).Select(t => NumpyCompat.Round(t) - 1).ToArray(),
        };

        float[] trainingSigmas = TrainingSigmas();
        var xp = Enumerable.Range(0, trainingSigmas.Length).Select(i => (double)i).ToArray();
        var fp = trainingSigmas.Select(s => (double)s).ToArray();
        double[] sigmas = timesteps.Select(t => NumpyCompat.Interp(t, xp, fp)).ToArray();

        if (Config.UseKarrasSigmas == true)
        {
            double sigmaMin = Config.SigmaMin ?? sigmas[^1], sigmaMax = Config.SigmaMax ?? sigmas[0];
            sigmas = KarrasSigmas(sigmaMin, sigmaMax, n);
            var logSigmas = LogSigmas(trainingSigmas);
            timesteps = sigmas.Select(s => SigmaToT(s, logSigmas)).ToArray();
        }

        float sigmaLast = Config.FinalSigmasType == "sigma_min"
            ? MathF.Sqrt((1 - AlphaCumprodAt(0)) / AlphaCumprodAt(0))
            : 0f;
        var allSigmas = sigmas.Select(s => (float)s).Append(sigmaLast).ToArray();
        SetSigmas(allSigmas);

        // EDM-style continuous timesteps for v-prediction models: t = ¼·ln σ.
        SetTimestepValues(ContinuousTimesteps
            ? allSigmas[..^1].Select(s => 0.25f * MathF.Log(s)).ToArray()
            : timesteps.Select(t => (float)t).ToArray());
    }

    /// <summary>x / √(σ² + 1) for the σ of this step.</summary>
    public override Tensor ScaleModelInput(Tensor sample, double timestep)
    {
        float sigma = SigmaAt(CurrentStepIndex(timestep));
        return sample / MathF.Sqrt(sigma * sigma + 1);
    }

    /// <summary>
    /// x̂₀ from the model output, the ODE derivative d = (x − x̂₀)/σ̂, and x_next = x + d·(σ_next − σ̂); computed in
    /// float32 and returned in the model output's dtype. With a generator, noise is drawn every step as in diffusers
    /// (used only when churning), so a shared generator stays in step with upstream.
    /// </summary>
    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null, Tensor? noise = null)
    {
        int index = CurrentStepIndex(timestep);
        using var scope = NewDisposeScope();
        var x = sample.to(ScalarType.Float32);
        float sigma = SigmaAt(index);

        double gamma = STmin <= sigma && sigma <= STmax ? Math.Min(SChurn / (SigmaCount - 1), Math.Sqrt(2) - 1) : 0.0;
        Tensor? eps = generator is not null || noise is not null || gamma > 0 ? StepNoise(modelOutput, noise, generator) * SNoise : null;
        float sigmaHat = sigma * (float)(gamma + 1);
        if (gamma > 0) x = x + eps! * MathF.Sqrt(sigmaHat * sigmaHat - sigma * sigma);

        // 1. predicted x₀ from the σ-scaled prediction
        var predOriginalSample = PredictionType switch
        {
            PredictionType.Epsilon => x - modelOutput * sigmaHat,
            PredictionType.VPrediction => modelOutput * (-sigma / MathF.Sqrt(sigma * sigma + 1)) + x / (sigma * sigma + 1),
            _ => modelOutput.alias(),
        };

        // 2. the ODE derivative, 3. one Euler step
        var derivative = (x - predOriginalSample) / sigmaHat;
        float dt = SigmaAt(index + 1) - sigmaHat;
        var prevSample = (x + derivative * dt).to(modelOutput.dtype);

        AdvanceStepIndex();
        return new SchedulerStepOutput(prevSample.MoveToOuterDisposeScope(), predOriginalSample.MoveToOuterDisposeScope());
    }
}
