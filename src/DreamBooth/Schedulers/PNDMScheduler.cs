using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Schedulers;

/// <summary>
/// Pseudo numerical methods for diffusion models (Liu et al. 2022), diffusers <c>PNDMScheduler</c>, Stable Diffusion
/// 1.x's default. With <c>skip_prk_steps</c> (as SD uses it) it is PLMS: a linear multistep method over the last
/// four ε predictions, whose first step takes two model calls: the timestep list repeats its second entry, so n steps
/// make n + 1 model calls (README item 16): 901, 801, 801, 701, …, 1. Without it, three Runge–Kutta (PRK) steps of four calls each warm it up.
/// </summary>
public sealed class PNDMScheduler : Scheduler
{
    private const int PndmOrder = 4;

    private readonly float _finalAlphaCumprod;
    private readonly List<Tensor> _ets = [];
    private long[] _prkTimesteps = [];
    private int _counter;
    private Tensor? _curModelOutput;
    private Tensor? _curSample;

    /// <summary>Builds the scheduler from a (model's) scheduler config; missing keys take PNDMScheduler's defaults.</summary>
    public PNDMScheduler(SchedulerConfig config) : base(Resolve(config))
    {
        _finalAlphaCumprod = Config.SetAlphaToOne == true ? 1f : AlphaCumprodAt(0);
    }

    /// <summary>PNDM accepts ε and v predictions only.</summary>
    protected override IReadOnlyList<PredictionType> SupportedPredictionTypes => [PredictionType.Epsilon, PredictionType.VPrediction];

    private static SchedulerConfig Resolve(SchedulerConfig c)
    {
        var r = ResolveCommon(c, nameof(PNDMScheduler)) with
        {
            SkipPrkSteps = c.SkipPrkSteps ?? false,
            SetAlphaToOne = c.SetAlphaToOne ?? false,
            TimestepSpacing = c.TimestepSpacing ?? "leading",
            StepsOffset = c.StepsOffset ?? 0,
        };
        Require(r, "timestep_spacing", r.TimestepSpacing!, TimestepSpacing.Names);
        return r;
    }

    /// <inheritdoc/>
    protected override void ComputeTimesteps(int numInferenceSteps)
    {
        int n = numInferenceSteps, trainSteps = NumTrainTimesteps;
        // ascending inference timesteps
        long[] ts = TimestepSpacing.Integer(Config.TimestepSpacing!, n, trainSteps, Config.StepsOffset!.Value)
            .Reverse().Select(t => (long)t).ToArray();

        long[] plms;
        if (Config.SkipPrkSteps == true)
        {
            // PLMS from the start (crowsonkb's sampler for latent diffusion): the second-to-last timestep is repeated,
            // since the first PLMS step needs two model calls.
            _prkTimesteps = [];
            plms = ts[..^1].Concat(ts.Length >= 2 ? [ts[^2]] : []).Append(ts[^1]).Reverse().ToArray();
        }
        else
        {
            if (n < PndmOrder)
                throw new DreamBoothException($"{ClassName} without skip_prk_steps needs at least {PndmOrder} inference steps, got {n}");
            // the last 4 timesteps, each at t and t + δ/2, expanded into the RK4 evaluation points
            int half = trainSteps / n / 2;
            var prk = ts[^PndmOrder..].SelectMany(t => new[] { t, t + half }).ToArray();
            var repeated = prk[..^1].SelectMany(t => new[] { t, t }).ToArray();
            _prkTimesteps = repeated[1..^1].Reverse().ToArray();
            plms = ts[..^3].Reverse().ToArray();
        }
        SetTimestepValues(_prkTimesteps.Concat(plms).ToArray());
    }

    /// <inheritdoc/>
    protected override void ResetState()
    {
        foreach (var e in _ets) e.Dispose();
        _ets.Clear();
        _counter = 0;
        _curModelOutput?.Dispose();
        _curModelOutput = null;
        _curSample?.Dispose();
        _curSample = null;
    }

    /// <summary>
    /// One PRK or PLMS step (diffusers <c>step_prk</c> / <c>step_plms</c>): combines the stored ε predictions into one
    /// and applies formula (9) of the PNDM paper. No x₀ is returned.
    /// </summary>
    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null, Tensor? noise = null)
    {
        RequireTimesteps();
        if (_counter >= TimestepValues.Count)
            throw new InvalidOperationException($"{ClassName}: all {TimestepValues.Count} steps of this run are done; call SetTimesteps to start another");
        int t = TrainingTimestep(timestep);
        using var scope = NewDisposeScope();
        var prevSample = _counter < _prkTimesteps.Length && Config.SkipPrkSteps != true
            ? StepPrk(modelOutput, t, sample)
            : StepPlms(modelOutput, t, sample);
        _counter++;
        return new SchedulerStepOutput(prevSample.MoveToOuterDisposeScope());
    }

    private Tensor StepPrk(Tensor modelOutput, int timestep, Tensor sample)
    {
        int delta = NumTrainTimesteps / NumInferenceSteps!.Value;
        int diffToPrev = _counter % 2 == 1 ? 0 : delta / 2;
        int prevTimestep = timestep - diffToPrev;
        int t = (int)_prkTimesteps[_counter / 4 * 4];

        // RK4 weights 1/6, 1/3, 1/3, 1/6 over the four evaluations of one step
        switch (_counter % 4)
        {
            case 0:
                SetState(ref _curModelOutput, AddTo(_curModelOutput, modelOutput * (1.0 / 6)));
                _ets.Add(Keep(modelOutput));
                SetState(ref _curSample, Keep(sample));
                break;
            case 1:
            case 2:
                SetState(ref _curModelOutput, AddTo(_curModelOutput, modelOutput * (1.0 / 3)));
                break;
            default:
                modelOutput = _curModelOutput is null ? modelOutput * (1.0 / 6) : _curModelOutput + modelOutput * (1.0 / 6);
                SetState(ref _curModelOutput, null);
                break;
        }
        var curSample = _curSample ?? sample;
        return PrevSample(curSample, t, prevTimestep, modelOutput);
    }

    private Tensor StepPlms(Tensor modelOutput, int timestep, Tensor sample)
    {
        if (Config.SkipPrkSteps != true && _ets.Count < 3)
            throw new InvalidOperationException($"{ClassName} can only run PLMS after the PRK warm-up (3 stored outputs)");
        int delta = NumTrainTimesteps / NumInferenceSteps!.Value;
        int prevTimestep = timestep - delta;

        if (_counter != 1)
        {
            while (_ets.Count > 3)
            {
                _ets[0].Dispose();
                _ets.RemoveAt(0);
            }
            _ets.Add(Keep(modelOutput));
        }
        else
        {
            // the repeated first timestep: the second call evaluates at the same t and steps from the first sample
            prevTimestep = timestep;
            timestep += delta;
        }

        int count = _ets.Count;
        if (count == 1 && _counter == 0)
        {
            SetState(ref _curSample, Keep(sample));
        }
        else if (count == 1 && _counter == 1)
        {
            modelOutput = (modelOutput + _ets[^1]) / 2;
            sample = _curSample!.alias();
            SetState(ref _curSample, null);
        }
        else if (count == 2)
        {
            modelOutput = (3 * _ets[^1] - _ets[^2]) / 2;
        }
        else if (count == 3)
        {
            modelOutput = (23 * _ets[^1] - 16 * _ets[^2] + 5 * _ets[^3]) / 12;
        }
        else
        {
            modelOutput = (55 * _ets[^1] - 59 * _ets[^2] + 37 * _ets[^3] - 9 * _ets[^4]) * (1.0 / 24);
        }
        return PrevSample(sample, timestep, prevTimestep, modelOutput);
    }

    /// <summary>Formula (9) of the PNDM paper: x_{t−δ} from x_t and the combined ε.</summary>
    private Tensor PrevSample(Tensor sample, int timestep, int prevTimestep, Tensor modelOutput)
    {
        float alphaProdT = AlphaCumprodAt(timestep);
        float alphaProdTPrev = prevTimestep >= 0 ? AlphaCumprodAt(prevTimestep) : _finalAlphaCumprod;
        float betaProdT = 1 - alphaProdT;
        float betaProdTPrev = 1 - alphaProdTPrev;

        if (PredictionType == PredictionType.VPrediction)
            modelOutput = modelOutput * MathF.Sqrt(alphaProdT) + sample * MathF.Sqrt(betaProdT);

        // (α_{t−δ} − α_t) over the denominator of x_t in formula (9), plus 1
        float sampleCoeff = MathF.Sqrt(alphaProdTPrev / alphaProdT);
        // the denominator of e_θ(x_t, t) in formula (9)
        float modelOutputDenomCoeff = alphaProdT * MathF.Sqrt(betaProdTPrev) + MathF.Sqrt(alphaProdT * betaProdT * alphaProdTPrev);
        return sample * sampleCoeff - modelOutput * (alphaProdTPrev - alphaProdT) / modelOutputDenomCoeff;
    }

    private static Tensor AddTo(Tensor? accumulator, Tensor term) => accumulator is null ? term : accumulator + term;

    private static void SetState(ref Tensor? slot, Tensor? value)
    {
        if (ReferenceEquals(slot, value)) return;
        var old = slot;
        slot = value?.DetachFromDisposeScope();
        old?.Dispose();
    }
}
