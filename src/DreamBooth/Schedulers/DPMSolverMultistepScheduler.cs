using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Schedulers;

/// <summary>
/// DPM-Solver (Lu et al. 2022) and DPM-Solver++ (Lu et al. 2022b) multistep, diffusers
/// <c>DPMSolverMultistepScheduler</c>. "DPM++ 2M" is <c>algorithm_type dpmsolver++</c>, <c>solver_order 2</c>;
/// "DPM++ 2M Karras" adds <c>use_karras_sigmas</c>. Each step works in log-SNR λ = ln(α/σ) and reuses the previous
/// model outputs (kept in the instance); the first step, and with <c>lower_order_final</c> the last steps of short
/// runs, are lower order (README item 12).
/// </summary>
public sealed class DPMSolverMultistepScheduler : SigmaScheduler
{
    private static readonly string[] AlgorithmTypes = ["dpmsolver++", "dpmsolver", "sde-dpmsolver++", "sde-dpmsolver"];

    private readonly Tensor?[] _modelOutputs;
    private int _lowerOrderNums;

    /// <summary>Builds the scheduler from a (model's) scheduler config; missing keys take DPMSolverMultistepScheduler's defaults.</summary>
    public DPMSolverMultistepScheduler(SchedulerConfig config) : base(Resolve(config))
    {
        _modelOutputs = new Tensor?[Config.SolverOrder!.Value];
    }

    private string Algorithm => Config.AlgorithmType!;
    private bool PlusPlus => Algorithm is "dpmsolver++" or "sde-dpmsolver++";
    private bool Sde => Algorithm is "sde-dpmsolver++" or "sde-dpmsolver";

    private static SchedulerConfig Resolve(SchedulerConfig c)
    {
        var r = ResolveCommon(c, nameof(DPMSolverMultistepScheduler)) with
        {
            SolverOrder = c.SolverOrder ?? 2,
            Thresholding = c.Thresholding ?? false,
            DynamicThresholdingRatio = c.DynamicThresholdingRatio ?? 0.995,
            SampleMaxValue = c.SampleMaxValue ?? 1.0,
            AlgorithmType = c.AlgorithmType ?? "dpmsolver++",
            SolverType = c.SolverType ?? "midpoint",
            LowerOrderFinal = c.LowerOrderFinal ?? true,
            EulerAtFinal = c.EulerAtFinal ?? false,
            UseKarrasSigmas = c.UseKarrasSigmas ?? false,
            UseLuLambdas = c.UseLuLambdas ?? false,
            FinalSigmasType = c.FinalSigmasType ?? "zero",
            LambdaMinClipped = c.LambdaMinClipped ?? double.NegativeInfinity,
            VarianceType = c.VarianceType,
            TimestepSpacing = c.TimestepSpacing ?? "linspace",
            StepsOffset = c.StepsOffset ?? 0,
            RescaleBetasZeroSnr = c.RescaleBetasZeroSnr ?? false,
        };
        // diffusers maps the names of the sister schedulers (DEIS, UniPC) onto these.
        if (r.AlgorithmType == "deis") r = r with { AlgorithmType = "dpmsolver++" };
        if (r.SolverType is "logrho" or "bh1" or "bh2") r = r with { SolverType = "midpoint" };
        if (r.SolverOrder is < 1 or > 3)
            throw new DreamBoothException($"{r.Source}: solver_order {r.SolverOrder} is not supported by {r.ClassName}; expected 1, 2 or 3");
        Require(r, "algorithm_type", r.AlgorithmType!, AlgorithmTypes);
        Require(r, "solver_type", r.SolverType!, "midpoint", "heun");
        Require(r, "final_sigmas_type", r.FinalSigmasType!, "zero", "sigma_min");
        Require(r, "timestep_spacing", r.TimestepSpacing!, TimestepSpacing.Names);
        if (r.VarianceType is not null) Require(r, "variance_type", r.VarianceType, "learned", "learned_range");
        if (r.AlgorithmType is not ("dpmsolver++" or "sde-dpmsolver++") && r.FinalSigmasType == "zero")
            throw new DreamBoothException($"{r.Source}: final_sigmas_type 'zero' is not supported with algorithm_type '{r.AlgorithmType}'; use 'sigma_min'");
        if (r.UseKarrasSigmas == true && r.UseLuLambdas == true)
            throw new DreamBoothException($"{r.Source}: use_karras_sigmas and use_lu_lambdas cannot both be true");
        if (r.SolverOrder == 3 && r.AlgorithmType is "sde-dpmsolver++" or "sde-dpmsolver")
            throw new DreamBoothException($"{r.Source}: solver_order 3 is not supported with algorithm_type '{r.AlgorithmType}'");
        return r;
    }

    /// <inheritdoc/>
    protected override void ComputeTimesteps(int numInferenceSteps)
    {
        int n = numInferenceSteps, trainSteps = NumTrainTimesteps;
        float[] trainingSigmas = TrainingSigmas();

        // Clip the smallest λ for numerical stability: count the λ (in ascending order) below lambda_min_clipped.
        float lambdaMin = (float)Config.LambdaMinClipped!.Value;
        int clippedIdx = Enumerable.Range(0, trainSteps).Count(t => Lambda(AlphaCumprodAt(t)) < lambdaMin);
        int lastTimestep = trainSteps - clippedIdx;

        double[] timesteps = Config.TimestepSpacing switch
        {
            // n + 1 points, the last (t = 0) dropped; round half to even (499.5 → 500)
            "linspace" => NumpyCompat.Linspace(0, lastTimestep - 1, n + 1).Select(NumpyCompat.Round).Reverse().Take(n).ToArray(),
            "leading" => Enumerable.Range(0, n + 1).Select(i => (double)(i * (lastTimestep / (n + 1)))).Reverse().Take(n)
                .Select(t => t + Config.StepsOffset!.Value).ToArray(),
            _ => NumpyCompat.Arange(lastTimestep, 0, -(double)trainSteps / n).Select(t => NumpyCompat.Round(t) - 1).ToArray(),
        };

        double[] sigmas;
        var logSigmas = LogSigmas(trainingSigmas);
        if (Config.UseKarrasSigmas == true)
        {
            // from σ_max (t = T−1) down to σ_min (t = 0)
            sigmas = KarrasSigmas(trainingSigmas[0], trainingSigmas[^1], n);
            timesteps = sigmas.Select(s => NumpyCompat.Round(SigmaToT(s, logSigmas))).ToArray();
        }
        else if (Config.UseLuLambdas == true)
        {
            // uniform in log σ between the extremes (ρ = 1)
            var ramp = NumpyCompat.Linspace(0, 1, n);
            double lambdaMax = logSigmas[^1], lambdaLow = logSigmas[0];
            sigmas = ramp.Select(r => Math.Exp(lambdaMax + r * (lambdaLow - lambdaMax))).ToArray();
            timesteps = sigmas.Select(s => NumpyCompat.Round(SigmaToT(s, logSigmas))).ToArray();
        }
        else
        {
            var xp = Enumerable.Range(0, trainingSigmas.Length).Select(i => (double)i).ToArray();
            var fp = trainingSigmas.Select(s => (double)s).ToArray();
            sigmas = timesteps.Select(t => NumpyCompat.Interp(t, xp, fp)).ToArray();
        }

        float sigmaLast = Config.FinalSigmasType == "sigma_min"
            ? MathF.Sqrt((1 - AlphaCumprodAt(0)) / AlphaCumprodAt(0))
            : 0f;
        SetSigmas(sigmas.Select(s => (float)s).Append(sigmaLast).ToArray());
        SetTimestepValues(timesteps.Select(t => (long)t).ToArray());
        NumInferenceSteps = timesteps.Length;
    }

    private static float Lambda(float alphaCumprod) => MathF.Log(MathF.Sqrt(alphaCumprod)) - MathF.Log(MathF.Sqrt(1 - alphaCumprod));

    /// <summary>Where a timestep is missing from the schedule, diffusers starts at the last step; a repeated one starts at its second occurrence.</summary>
    protected override int IndexForTimestep(double timestep)
    {
        var matches = Matches(timestep);
        return matches.Count switch
        {
            0 => TimestepValues.Count - 1,
            1 => matches[0],
            _ => matches[1],
        };
    }

    /// <inheritdoc/>
    protected override void ResetState()
    {
        base.ResetState();
        for (int i = 0; i < _modelOutputs.Length; i++)
        {
            _modelOutputs[i]?.Dispose();
            _modelOutputs[i] = null;
        }
        _lowerOrderNums = 0;
    }

    /// <summary>α_t = 1/√(σ² + 1), σ_t = σ·α_t: the variance-preserving coefficients for a σ of the schedule.</summary>
    private static (float Alpha, float Sigma) AlphaSigma(float sigma)
    {
        float alpha = 1 / MathF.Sqrt(sigma * sigma + 1);
        return (alpha, sigma * alpha);
    }

    private static float LambdaOf(float alpha, float sigma) => MathF.Log(alpha) - MathF.Log(sigma);

    /// <summary>
    /// One multistep update. The model output is first converted to x̂₀ (DPM-Solver++) or ε̂ (DPM-Solver) and pushed
    /// onto the history; the update order is min(solver_order, steps so far + 1), lowered at the end of short runs.
    /// SDE variants add noise from <paramref name="noise"/> or <paramref name="generator"/>.
    /// </summary>
    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null, Tensor? noise = null)
    {
        int index = CurrentStepIndex(timestep);
        using var scope = NewDisposeScope();
        int count = TimestepValues.Count;
        bool lowerOrderFinal = index == count - 1 &&
            (Config.EulerAtFinal == true || (Config.LowerOrderFinal == true && count < 15) || Config.FinalSigmasType == "zero");
        bool lowerOrderSecond = index == count - 2 && Config.LowerOrderFinal == true && count < 15;

        var converted = ConvertModelOutput(modelOutput, sample, index);
        _modelOutputs[0]?.Dispose();
        for (int i = 0; i < _modelOutputs.Length - 1; i++) _modelOutputs[i] = _modelOutputs[i + 1];
        _modelOutputs[^1] = Keep(converted);

        var x = sample.to(ScalarType.Float32);
        Tensor? sdeNoise = Sde ? StepNoise(modelOutput, noise, generator, ScalarType.Float32) : null;

        int order = Config.SolverOrder!.Value;
        Tensor prevSample;
        if (order == 1 || _lowerOrderNums < 1 || lowerOrderFinal)
            prevSample = FirstOrderUpdate(converted, x, index, sdeNoise);
        else if (order == 2 || _lowerOrderNums < 2 || lowerOrderSecond)
            prevSample = SecondOrderUpdate(x, index, sdeNoise);
        else
            prevSample = ThirdOrderUpdate(x, index);

        if (_lowerOrderNums < order) _lowerOrderNums++;
        prevSample = prevSample.to(modelOutput.dtype);
        AdvanceStepIndex();
        var predOriginal = PlusPlus ? converted.MoveToOuterDisposeScope() : null;
        return new SchedulerStepOutput(prevSample.MoveToOuterDisposeScope(), predOriginal);
    }

    /// <summary>The model output as DPM-Solver++ wants it (x̂₀, thresholded if configured) or as DPM-Solver wants it (ε̂).</summary>
    private Tensor ConvertModelOutput(Tensor modelOutput, Tensor sample, int index)
    {
        // learned variance: only the mean channels are used (diffusers keeps the first 3, for DeepFloyd IF)
        if (Config.VarianceType is "learned" or "learned_range" && PredictionType == PredictionType.Epsilon)
            modelOutput = modelOutput.narrow(1, 0, 3);
        var (alphaT, sigmaT) = AlphaSigma(SigmaAt(index));
        if (PlusPlus)
        {
            var x0 = PredictionType switch
            {
                PredictionType.Epsilon => (sample - modelOutput * sigmaT) / alphaT,
                PredictionType.Sample => modelOutput.alias(),
                _ => sample * alphaT - modelOutput * sigmaT,
            };
            return Config.Thresholding == true ? ThresholdSample(x0) : x0;
        }

        var epsilon = PredictionType switch
        {
            PredictionType.Epsilon => modelOutput.alias(),
            PredictionType.Sample => (sample - modelOutput * alphaT) / sigmaT,
            _ => modelOutput * alphaT + sample * sigmaT,
        };
        if (Config.Thresholding == true)
        {
            var x0 = ThresholdSample((sample - epsilon * sigmaT) / alphaT);
            epsilon = (sample - x0 * alphaT) / sigmaT;
        }
        return epsilon;
    }

    /// <summary>First order (DDIM-like): x_t = (σ_t/σ_s)·x − α_t(e^{−h} − 1)·x̂₀ for DPM-Solver++.</summary>
    private Tensor FirstOrderUpdate(Tensor m0, Tensor x, int index, Tensor? noise)
    {
        var (alphaT, sigmaT) = AlphaSigma(SigmaAt(index + 1));
        var (alphaS, sigmaS) = AlphaSigma(SigmaAt(index));
        float h = LambdaOf(alphaT, sigmaT) - LambdaOf(alphaS, sigmaS);
        return Algorithm switch
        {
            "dpmsolver++" => x * (sigmaT / sigmaS) - m0 * (alphaT * (MathF.Exp(-h) - 1)),
            "dpmsolver" => x * (alphaT / alphaS) - m0 * (sigmaT * (MathF.Exp(h) - 1)),
            "sde-dpmsolver++" => x * (sigmaT / sigmaS * MathF.Exp(-h)) + m0 * (alphaT * (1 - MathF.Exp(-2 * h)))
                                 + noise! * (sigmaT * MathF.Sqrt(1 - MathF.Exp(-2 * h))),
            _ => x * (alphaT / alphaS) - m0 * (2 * (sigmaT * (MathF.Exp(h) - 1)))
                 + noise! * (sigmaT * MathF.Sqrt(MathF.Exp(2 * h) - 1)),
        };
    }

    /// <summary>Second order multistep from the last two converted outputs (midpoint or Heun form).</summary>
    private Tensor SecondOrderUpdate(Tensor x, int index, Tensor? noise)
    {
        var (alphaT, sigmaT) = AlphaSigma(SigmaAt(index + 1));
        var (alphaS0, sigmaS0) = AlphaSigma(SigmaAt(index));
        var (alphaS1, sigmaS1) = AlphaSigma(SigmaAt(index - 1));
        float lambdaT = LambdaOf(alphaT, sigmaT), lambdaS0 = LambdaOf(alphaS0, sigmaS0), lambdaS1 = LambdaOf(alphaS1, sigmaS1);
        var m0 = _modelOutputs[^1]!;
        var m1 = _modelOutputs[^2]!;
        float h = lambdaT - lambdaS0, h0 = lambdaS0 - lambdaS1;
        float r0 = h0 / h;
        var d0 = m0;
        var d1 = (m0 - m1) * (1 / r0);
        bool midpoint = Config.SolverType == "midpoint";
        return Algorithm switch
        {
            "dpmsolver++" => midpoint
                ? x * (sigmaT / sigmaS0) - d0 * (alphaT * (MathF.Exp(-h) - 1)) - d1 * (0.5f * (alphaT * (MathF.Exp(-h) - 1)))
                : x * (sigmaT / sigmaS0) - d0 * (alphaT * (MathF.Exp(-h) - 1)) + d1 * (alphaT * ((MathF.Exp(-h) - 1) / h + 1)),
            "dpmsolver" => midpoint
                ? x * (alphaT / alphaS0) - d0 * (sigmaT * (MathF.Exp(h) - 1)) - d1 * (0.5f * (sigmaT * (MathF.Exp(h) - 1)))
                : x * (alphaT / alphaS0) - d0 * (sigmaT * (MathF.Exp(h) - 1)) - d1 * (sigmaT * ((MathF.Exp(h) - 1) / h - 1)),
            "sde-dpmsolver++" => (midpoint
                    ? x * (sigmaT / sigmaS0 * MathF.Exp(-h)) + d0 * (alphaT * (1 - MathF.Exp(-2 * h))) + d1 * (0.5f * (alphaT * (1 - MathF.Exp(-2 * h))))
                    : x * (sigmaT / sigmaS0 * MathF.Exp(-h)) + d0 * (alphaT * (1 - MathF.Exp(-2 * h))) + d1 * (alphaT * ((1 - MathF.Exp(-2 * h)) / (-2 * h) + 1)))
                + noise! * (sigmaT * MathF.Sqrt(1 - MathF.Exp(-2 * h))),
            _ => (midpoint
                    ? x * (alphaT / alphaS0) - d0 * (2 * (sigmaT * (MathF.Exp(h) - 1))) - d1 * (sigmaT * (MathF.Exp(h) - 1))
                    : x * (alphaT / alphaS0) - d0 * (2 * (sigmaT * (MathF.Exp(h) - 1))) - d1 * (2 * (sigmaT * ((MathF.Exp(h) - 1) / h - 1))))
                + noise! * (sigmaT * MathF.Sqrt(MathF.Exp(2 * h) - 1)),
        };
    }

    /// <summary>Third order multistep from the last three converted outputs (deterministic algorithms only).</summary>
    private Tensor ThirdOrderUpdate(Tensor x, int index)
    {
        var (alphaT, sigmaT) = AlphaSigma(SigmaAt(index + 1));
        var (alphaS0, sigmaS0) = AlphaSigma(SigmaAt(index));
        var (alphaS1, sigmaS1) = AlphaSigma(SigmaAt(index - 1));
        var (alphaS2, sigmaS2) = AlphaSigma(SigmaAt(index - 2));
        float lambdaT = LambdaOf(alphaT, sigmaT), lambdaS0 = LambdaOf(alphaS0, sigmaS0);
        float lambdaS1 = LambdaOf(alphaS1, sigmaS1), lambdaS2 = LambdaOf(alphaS2, sigmaS2);
        var m0 = _modelOutputs[^1]!;
        var m1 = _modelOutputs[^2]!;
        var m2 = _modelOutputs[^3]!;
        float h = lambdaT - lambdaS0, h0 = lambdaS0 - lambdaS1, h1 = lambdaS1 - lambdaS2;
        float r0 = h0 / h, r1 = h1 / h;
        var d0 = m0;
        var d10 = (m0 - m1) * (1 / r0);
        var d11 = (m1 - m2) * (1 / r1);
        var d1 = d10 + (d10 - d11) * (r0 / (r0 + r1));
        var d2 = (d10 - d11) * (1 / (r0 + r1));
        return PlusPlus
            ? x * (sigmaT / sigmaS0) - d0 * (alphaT * (MathF.Exp(-h) - 1)) + d1 * (alphaT * ((MathF.Exp(-h) - 1) / h + 1))
              - d2 * (alphaT * ((MathF.Exp(-h) - 1 + h) / (h * h) - 0.5f))
            : x * (alphaT / alphaS0) - d0 * (sigmaT * (MathF.Exp(h) - 1)) - d1 * (sigmaT * ((MathF.Exp(h) - 1) / h - 1))
              - d2 * (sigmaT * ((MathF.Exp(h) - 1 - h) / (h * h) - 0.5f));
    }
}
