using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Schedulers;

/// <summary>
/// Denoising diffusion probabilistic models (Ho et al. 2020), diffusers <c>DDPMScheduler</c>: the scheduler DreamBooth
/// trains with (<see cref="Scheduler.AddNoise"/>), and an ancestral sampler that draws x_{t−1} from the posterior
/// q(x_{t−1} | x_t, x₀) with x₀ predicted by the model.
/// </summary>
public sealed class DDPMScheduler : Scheduler
{
    private static readonly string[] VarianceTypes = ["fixed_small", "fixed_small_log", "fixed_large", "learned", "learned_range"];

    /// <summary>Builds the scheduler from a (model's) scheduler config; missing keys take DDPMScheduler's defaults.</summary>
    public DDPMScheduler(SchedulerConfig config) : base(Resolve(config), allowSigmoidBetas: true)
    {
    }

    private static SchedulerConfig Resolve(SchedulerConfig c)
    {
        var r = ResolveCommon(c, nameof(DDPMScheduler)) with
        {
            VarianceType = c.VarianceType ?? "fixed_small",
            ClipSample = c.ClipSample ?? true,
            Thresholding = c.Thresholding ?? false,
            DynamicThresholdingRatio = c.DynamicThresholdingRatio ?? 0.995,
            ClipSampleRange = c.ClipSampleRange ?? 1.0,
            SampleMaxValue = c.SampleMaxValue ?? 1.0,
            TimestepSpacing = c.TimestepSpacing ?? "leading",
            StepsOffset = c.StepsOffset ?? 0,
            RescaleBetasZeroSnr = c.RescaleBetasZeroSnr ?? false,
        };
        // diffusers' fixed_large_log takes the square root of a logarithm in step() (NaN); it is not offered here.
        Require(r, "variance_type", r.VarianceType!, VarianceTypes);
        Require(r, "timestep_spacing", r.TimestepSpacing!, TimestepSpacing.Names);
        return r;
    }

    /// <inheritdoc/>
    protected override void ComputeTimesteps(int numInferenceSteps) =>
        SetTimestepValues(TimestepSpacing.Integer(Config.TimestepSpacing!, numInferenceSteps, NumTrainTimesteps, Config.StepsOffset!.Value)
            .Select(t => (long)t).ToArray());

    /// <summary>
    /// The timestep after <paramref name="t"/> in the sampling schedule (−1 after the last one); t − 1 when
    /// <see cref="Scheduler.SetTimesteps"/> has not been called (the full 1000-step chain).
    /// </summary>
    public int PreviousTimestep(int t)
    {
        if (NumInferenceSteps is null) return t - 1;
        var values = TimestepValues;
        for (int i = 0; i < values.Count; i++)
            if (values[i] == t) return i == values.Count - 1 ? -1 : (int)values[i + 1];
        throw new ArgumentOutOfRangeException(nameof(t), $"{ClassName}: timestep {t} is not in the schedule set by SetTimesteps");
    }

    /// <summary>
    /// x_{t−1} = c₀·x̂₀ + c_t·x_t + σ_t·z, the posterior mean plus noise (none at t = 0). A model output with twice the
    /// sample's channels carries the predicted variance (variance_type <c>learned</c> / <c>learned_range</c>).
    /// </summary>
    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null, Tensor? noise = null)
    {
        using var scope = NewDisposeScope();
        int t = TrainingTimestep(timestep);
        int prevT = PreviousTimestep(t);
        string varianceType = Config.VarianceType!;

        Tensor? predictedVariance = null;
        if (varianceType is "learned" or "learned_range")
        {
            if (modelOutput.shape[1] != sample.shape[1] * 2)
                throw new ArgumentException($"{ClassName} with variance_type '{varianceType}' needs a model output with {sample.shape[1] * 2} channels (mean and variance), got {modelOutput.shape[1]}", nameof(modelOutput));
            var halves = modelOutput.split(sample.shape[1], 1);
            modelOutput = halves[0];
            predictedVariance = halves[1];
        }

        // 1. ᾱ and β products
        float alphaProdT = AlphaCumprodAt(t);
        float alphaProdTPrev = prevT >= 0 ? AlphaCumprodAt(prevT) : 1f;
        float betaProdT = 1 - alphaProdT;
        float betaProdTPrev = 1 - alphaProdTPrev;
        float currentAlphaT = alphaProdT / alphaProdTPrev;
        float currentBetaT = 1 - currentAlphaT;

        // 2. predicted x₀ (formula (15) of the DDPM paper)
        var predOriginalSample = PredictionType switch
        {
            PredictionType.Epsilon => (sample - modelOutput * MathF.Sqrt(betaProdT)) / MathF.Sqrt(alphaProdT),
            PredictionType.Sample => modelOutput.alias(),
            _ => sample * MathF.Sqrt(alphaProdT) - modelOutput * MathF.Sqrt(betaProdT),
        };

        // 3. clip or threshold x₀
        if (Config.Thresholding == true) predOriginalSample = ThresholdSample(predOriginalSample);
        else if (Config.ClipSample == true)
        {
            double range = Config.ClipSampleRange!.Value;
            predOriginalSample = predOriginalSample.clamp(-range, range);
        }

        // 4.–5. posterior mean μ̃_t(x_t, x₀) (formula (7))
        float predOriginalSampleCoeff = MathF.Sqrt(alphaProdTPrev) * currentBetaT / betaProdT;
        float currentSampleCoeff = MathF.Sqrt(currentAlphaT) * betaProdTPrev / betaProdT;
        var predPrevSample = predOriginalSample * predOriginalSampleCoeff + sample * currentSampleCoeff;

        // 6. add noise
        if (t > 0)
        {
            var varianceNoise = StepNoise(modelOutput, noise, generator);
            float variance = Math.Max((1 - alphaProdTPrev) / (1 - alphaProdT) * currentBetaT, 1e-20f);
            Tensor scaled = varianceType switch
            {
                "fixed_small" => varianceNoise * MathF.Sqrt(variance),
                "fixed_small_log" => varianceNoise * MathF.Exp(0.5f * MathF.Log(variance)),
                "fixed_large" => varianceNoise * MathF.Sqrt(currentBetaT),
                "learned" => predictedVariance!.pow(0.5) * varianceNoise,
                _ => LearnedRange(predictedVariance!, variance, currentBetaT).mul(0.5).exp() * varianceNoise,
            };
            predPrevSample = predPrevSample + scaled;
        }

        return new SchedulerStepOutput(predPrevSample.MoveToOuterDisposeScope(), predOriginalSample.MoveToOuterDisposeScope());
    }

    /// <summary>learned_range: the model interpolates log-variance between β̃_t (frac −1) and β_t (frac +1).</summary>
    private static Tensor LearnedRange(Tensor predictedVariance, float variance, float currentBetaT)
    {
        float minLog = MathF.Log(variance), maxLog = MathF.Log(currentBetaT);
        var frac = (predictedVariance + 1) / 2;
        return frac * maxLog + (1 - frac) * minLog;
    }
}
