using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Schedulers;

/// <summary>
/// Ancestral sampling with Euler steps (k-diffusion's <c>sample_euler_ancestral</c>), diffusers
/// <c>EulerAncestralDiscreteScheduler</c>: each step goes down to σ_down by an Euler step and adds fresh noise of
/// size σ_up, with σ_down² + σ_up² = σ_next². Its results depend on the generator (or the injected noise).
/// </summary>
public sealed class EulerAncestralDiscreteScheduler : SigmaScheduler
{
    /// <summary>Builds the scheduler from a (model's) scheduler config; missing keys take EulerAncestralDiscreteScheduler's defaults.</summary>
    public EulerAncestralDiscreteScheduler(SchedulerConfig config) : base(Resolve(config))
    {
    }

    /// <summary>diffusers raises for <c>sample</c> prediction here; it is refused when the scheduler is built.</summary>
    protected override IReadOnlyList<PredictionType> SupportedPredictionTypes => [PredictionType.Epsilon, PredictionType.VPrediction];

    private static SchedulerConfig Resolve(SchedulerConfig c)
    {
        var r = ResolveCommon(c, nameof(EulerAncestralDiscreteScheduler)) with
        {
            TimestepSpacing = c.TimestepSpacing ?? "linspace",
            StepsOffset = c.StepsOffset ?? 0,
            RescaleBetasZeroSnr = c.RescaleBetasZeroSnr ?? false,
        };
        Require(r, "timestep_spacing", r.TimestepSpacing!, TimestepSpacing.Names);
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
        float[] timesteps = Config.TimestepSpacing switch
        {
            "linspace" => NumpyCompat.Linspace(0, trainSteps - 1, n).Select(t => (float)t).Reverse().ToArray(),
            "leading" => Enumerable.Range(0, n).Select(i => (float)(i * (trainSteps / n) + Config.StepsOffset!.Value)).Reverse().ToArray(),
            _ => NumpyCompat.Arange(trainSteps, 0, -(double)trainSteps / n).Select(t => (float)(NumpyCompat.Round(t) - 1)).ToArray(),
        };

        float[] trainingSigmas = TrainingSigmas();
        var xp = Enumerable.Range(0, trainingSigmas.Length).Select(i => (double)i).ToArray();
        var fp = trainingSigmas.Select(s => (double)s).ToArray();
        SetSigmas(timesteps.Select(t => (float)NumpyCompat.Interp(t, xp, fp)).Append(0f).ToArray());
        SetTimestepValues(timesteps);
    }

    /// <summary>x / √(σ² + 1) for the σ of this step.</summary>
    public override Tensor ScaleModelInput(Tensor sample, double timestep)
    {
        float sigma = SigmaAt(CurrentStepIndex(timestep));
        return sample / MathF.Sqrt(sigma * sigma + 1);
    }

    /// <summary>
    /// x̂₀, then x_next = x + (x − x̂₀)/σ·(σ_down − σ) + σ_up·z with z from <paramref name="noise"/> when given, else
    /// from <paramref name="generator"/>; computed in float32 and returned in the model output's dtype.
    /// </summary>
    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null, Tensor? noise = null)
    {
        int index = CurrentStepIndex(timestep);
        using var scope = NewDisposeScope();
        float sigma = SigmaAt(index);
        var x = sample.to(ScalarType.Float32);

        // 1. predicted x₀ from the σ-scaled prediction
        var predOriginalSample = PredictionType == PredictionType.Epsilon
            ? x - modelOutput * sigma
            : modelOutput * (-sigma / MathF.Sqrt(sigma * sigma + 1)) + x / (sigma * sigma + 1);

        // 2. split σ_next into the deterministic part σ_down and the fresh-noise part σ_up
        float sigmaFrom = sigma, sigmaTo = SigmaAt(index + 1);
        float sigmaUp = MathF.Sqrt(sigmaTo * sigmaTo * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo) / (sigmaFrom * sigmaFrom));
        float sigmaDown = MathF.Sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp);

        // 3. Euler step to σ_down, 4. add noise
        var derivative = (x - predOriginalSample) / sigma;
        float dt = sigmaDown - sigma;
        var prevSample = x + derivative * dt;
        prevSample = prevSample + StepNoise(modelOutput, noise, generator) * sigmaUp;
        prevSample = prevSample.to(modelOutput.dtype);

        AdvanceStepIndex();
        return new SchedulerStepOutput(prevSample.MoveToOuterDisposeScope(), predOriginalSample.MoveToOuterDisposeScope());
    }
}
