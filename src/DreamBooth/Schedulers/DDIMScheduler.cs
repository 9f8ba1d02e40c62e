using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Schedulers;

/// <summary>
/// Denoising diffusion implicit models (Song et al. 2021), diffusers <c>DDIMScheduler</c>: deterministic for η = 0
/// (the Stable Diffusion default of this project's pipelines), DDPM-like for η = 1.
/// </summary>
public sealed class DDIMScheduler : Scheduler
{
    private readonly float _finalAlphaCumprod;

    /// <summary>Builds the scheduler from a (model's) scheduler config; missing keys take DDIMScheduler's defaults.</summary>
    public DDIMScheduler(SchedulerConfig config) : base(Resolve(config))
    {
        // "At every step we look at the previous ᾱ; for the final step there is none": 1, or ᾱ₀ (README item 13).
        _finalAlphaCumprod = Config.SetAlphaToOne == true ? 1f : AlphaCumprodAt(0);
    }

    /// <summary>η, the weight of the noise added in each step (0: deterministic DDIM; 1: DDPM's variance). Default 0.</summary>
    public double Eta { get; set; }

    /// <summary>Re-derive ε from the clipped x₀ (diffusers <c>use_clipped_model_output</c>; Glide does). Default false.</summary>
    public bool UseClippedModelOutput { get; set; }

    private static SchedulerConfig Resolve(SchedulerConfig c)
    {
        var r = ResolveCommon(c, nameof(DDIMScheduler)) with
        {
            ClipSample = c.ClipSample ?? true,
            SetAlphaToOne = c.SetAlphaToOne ?? true,
            StepsOffset = c.StepsOffset ?? 0,
            Thresholding = c.Thresholding ?? false,
            DynamicThresholdingRatio = c.DynamicThresholdingRatio ?? 0.995,
            ClipSampleRange = c.ClipSampleRange ?? 1.0,
            SampleMaxValue = c.SampleMaxValue ?? 1.0,
            TimestepSpacing = c.TimestepSpacing ?? "leading",
            RescaleBetasZeroSnr = c.RescaleBetasZeroSnr ?? false,
        };
        Require(r, "timestep_spacing", r.TimestepSpacing!, TimestepSpacing.Names);
        return r;
    }

    /// <inheritdoc/>
    protected override void ComputeTimesteps(int numInferenceSteps) =>
        SetTimestepValues(TimestepSpacing.Integer(Config.TimestepSpacing!, numInferenceSteps, NumTrainTimesteps, Config.StepsOffset!.Value)
            .Select(t => (long)t).ToArray());

    private float AlphaProdPrev(int prevTimestep) => prevTimestep >= 0 ? AlphaCumprodAt(prevTimestep) : _finalAlphaCumprod;

    /// <summary>σ_t(η)² / η² = (1 − ᾱ_prev)/(1 − ᾱ_t) · (1 − ᾱ_t/ᾱ_prev) (formula (16) of the DDIM paper).</summary>
    private float Variance(int timestep, int prevTimestep)
    {
        float alphaProdT = AlphaCumprodAt(timestep);
        float alphaProdTPrev = AlphaProdPrev(prevTimestep);
        float betaProdT = 1 - alphaProdT;
        float betaProdTPrev = 1 - alphaProdTPrev;
        return betaProdTPrev / betaProdT * (1 - alphaProdT / alphaProdTPrev);
    }

    /// <summary>
    /// x_{t−δ} = √ᾱ_prev·x̂₀ + √(1 − ᾱ_prev − σ²)·ε̂ + σ·z with δ = T // n (formula (12)); the previous timestep of
    /// the last step is negative and uses the final ᾱ.
    /// </summary>
    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null, Tensor? noise = null)
    {
        RequireTimesteps();
        using var scope = NewDisposeScope();
        int t = TrainingTimestep(timestep);

        // 1. previous step value (= t − T//n)
        int prevTimestep = t - NumTrainTimesteps / NumInferenceSteps!.Value;

        // 2. ᾱ and β
        float alphaProdT = AlphaCumprodAt(t);
        float alphaProdTPrev = AlphaProdPrev(prevTimestep);
        float betaProdT = 1 - alphaProdT;

        // 3. predicted x₀ and ε
        Tensor predOriginalSample, predEpsilon;
        switch (PredictionType)
        {
            case PredictionType.Epsilon:
                predOriginalSample = (sample - modelOutput * MathF.Sqrt(betaProdT)) / MathF.Sqrt(alphaProdT);
                predEpsilon = modelOutput;
                break;
            case PredictionType.Sample:
                predOriginalSample = modelOutput.alias();
                predEpsilon = (sample - predOriginalSample * MathF.Sqrt(alphaProdT)) / MathF.Sqrt(betaProdT);
                break;
            default:
                predOriginalSample = sample * MathF.Sqrt(alphaProdT) - modelOutput * MathF.Sqrt(betaProdT);
                predEpsilon = modelOutput * MathF.Sqrt(alphaProdT) + sample * MathF.Sqrt(betaProdT);
                break;
        }

        // 4. clip or threshold x₀
        if (Config.Thresholding == true) predOriginalSample = ThresholdSample(predOriginalSample);
        else if (Config.ClipSample == true)
        {
            double range = Config.ClipSampleRange!.Value;
            predOriginalSample = predOriginalSample.clamp(-range, range);
        }

        // 5. σ_t(η)
        float stdDevT = (float)Eta * MathF.Sqrt(Variance(t, prevTimestep));

        if (UseClippedModelOutput)
            predEpsilon = (sample - predOriginalSample * MathF.Sqrt(alphaProdT)) / MathF.Sqrt(betaProdT);

        // 6. "direction pointing to x_t"
        var predSampleDirection = predEpsilon * MathF.Sqrt(1 - alphaProdTPrev - stdDevT * stdDevT);

        // 7. x_{t−δ} without noise, then the noise for η > 0
        var prevSample = predOriginalSample * MathF.Sqrt(alphaProdTPrev) + predSampleDirection;
        if (Eta > 0)
            prevSample = prevSample + StepNoise(modelOutput, noise, generator) * stdDevT;

        return new SchedulerStepOutput(prevSample.MoveToOuterDisposeScope(), predOriginalSample.MoveToOuterDisposeScope());
    }
}
