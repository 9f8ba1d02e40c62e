using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Runtime;
using DreamBooth.Schedulers;
using DreamBooth.Training;
using TorchSharp;
using TorchSharp.Modules;
using AdamW = DreamBooth.Training.AdamW;
using static TorchSharp.torch;

namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>
/// Stage 2: the CLIP text encoder and the UNet learn together, from scratch, the diffusion loss of Stable Diffusion:
/// <code>
/// z₀ = cached latent, c = caption (re-drawn every epoch: attributes dropped at random; 10 % empty for CFG)
/// t ~ U{0 … 999}, ε ~ N(0, I), z_t = √ᾱ_t·z₀ + √(1−ᾱ_t)·ε
/// loss = ‖UNet(z_t, t, TextEncoder(c)) − target‖², target = v = √ᾱ_t·ε − √(1−ᾱ_t)·z₀ (the scheduler's prediction type)
/// </code>
/// AdamW (no weight decay on biases, norms and embeddings, so that the embedding of a token that never occurs is never
/// changed), cosine learning rate with warm-up, gradients clipped, and an exponential moving average of both networks
/// whose values are the shipped weights.
/// </summary>
internal sealed class DiffusionStage : IDisposable
{
    private readonly PretrainingRun _run;
    private readonly Func<long[], Tensor> _latentsOf;
    private readonly DataOrder _order;
    private readonly DDPMScheduler _scheduler;

    /// <summary>A stage over the cached latents [N, 4, 16, 16] of dataset items 0 … N−1.</summary>
    public DiffusionStage(PretrainingRun run, Tensor latents) : this(run, (int)latents.shape[0], ids => latents.index_select(0, tensor(ids)))
    {
    }

    /// <summary>A stage over <paramref name="imageCount"/> items whose scaled latents <paramref name="latentsOf"/> returns
    /// (e.g. encoded on demand, to replay a run's first steps without its whole latent cache).</summary>
    internal DiffusionStage(PretrainingRun run, int imageCount, Func<long[], Tensor> latentsOf)
    {
        _run = run;
        _latentsOf = latentsOf;
        _order = new DataOrder(run.Options.Seed, imageCount);
        _scheduler = new DDPMScheduler(run.Architecture.Scheduler);
        Unet = new UNet2DConditionModel(run.Architecture.Unet);
        TextEncoder = new CLIPTextModel(run.Architecture.TextEncoder);
        using (var g = StepRandom.Generator(run.Options.Seed, StepRandom.Init, 2)) WeightInitialization.PyTorchDefault(Unet, g);
        using (var g = StepRandom.Generator(run.Options.Seed, StepRandom.Init, 3)) WeightInitialization.Clip(TextEncoder, g);
        Parameters = Unet.named_parameters().Select(p => ("unet." + p.name, p.parameter))
            .Concat(TextEncoder.named_parameters().Select(p => ("text_encoder." + p.name, p.parameter))).ToList();
    }

    public UNet2DConditionModel Unet { get; }
    public CLIPTextModel TextEncoder { get; }

    /// <summary>Every trained parameter, prefixed <c>unet.</c> or <c>text_encoder.</c>.</summary>
    public List<(string Name, Parameter Param)> Parameters { get; }

    /// <summary>Weight decay applies to matrices and kernels only (not to biases, norms or embeddings).</summary>
    internal static bool Decays(string name, Parameter p) => p.dim() >= 2 && !name.Contains("_embedding.", StringComparison.Ordinal);

    /// <summary>Trains (or resumes) stage 2; returns the moving-average weights by prefixed parameter name.</summary>
    public Dictionary<string, Tensor> Run() => Run(null, null)!;

    /// <summary>
    /// <see cref="Run()"/>, optionally stopping (with a checkpoint, returning null) once <paramref name="stopAfter"/> steps
    /// are done, and collecting each step's loss into <paramref name="losses"/>.
    /// </summary>
    internal Dictionary<string, Tensor>? Run(int? stopAfter, List<double>? losses)
    {
        var o = _run.Options;
        var groups = new[]
        {
            new OptimizerGroup("decay", Parameters.Where(p => Decays(p.Name, p.Param)).ToList(), o.LearningRate, o.WeightDecay),
            new OptimizerGroup("no_decay", Parameters.Where(p => !Decays(p.Name, p.Param)).ToList(), o.LearningRate, 0.0),
        };
        using var adam = new AdamW(groups);
        using var ema = new ExponentialMovingAverage(Parameters, o.EmaDecay);
        var schedule = new LearningRateSchedule(LrScheduleKind.Cosine, o.WarmupSteps, o.UnetSteps);
        int start = 0;
        PretrainingRun.Clock clock;
        // An extension starts from the finished checkpoint of the shorter run; its own checkpoints carry the new fingerprint.
        var expected = o.Extended is { } shorter && PretrainingCheckpoint.FingerprintOf(_run.DiffusionCheckpointPath) == shorter.Fingerprint
            ? shorter.Fingerprint : o.Fingerprint;
        using (var ckpt = PretrainingCheckpoint.Load(_run.DiffusionCheckpointPath, expected))
        {
            if (o.ExtendsUnetSteps is int from && expected != o.Fingerprint && ckpt!.Step != from)
                throw new DreamBoothException($"{ckpt.Path}: stage 2 stopped at step {ckpt.Step}, not at the finished step {from} that --extend-from-unet-steps names; finish that run first");
            if (o.ExtendsUnetSteps is not null && ckpt is null)
                throw new DreamBoothException($"{_run.DiffusionCheckpointPath}: no finished stage-2 checkpoint to extend");
            if (ckpt is not null)
            {
                LoadParameters(ckpt.Group("model"), ckpt.Path);
                ema.Load(ckpt.Group("ema"), ckpt.Path);
                adam.LoadState(ckpt.Group("adam"), ckpt.Step, ckpt.Path);
                start = ckpt.Step;
                _run.Say(PretrainingStage.Diffusion, $"stage 2: resuming at step {start} from {ckpt.Path}");
            }
            clock = new PretrainingRun.Clock(ckpt?.Metadata);
        }
        _run.TruncateLog(PretrainingStage.Diffusion, start);

        Unet.train();
        TextEncoder.train();
        var meter = new StepMeter(start);
        for (int step = start; step < o.UnetSteps; step++)
        {
            if (_run.CancellationToken.IsCancellationRequested)
            {
                Save(adam, ema, step, clock);
                _run.CancellationToken.ThrowIfCancellationRequested();
            }
            double factor = schedule.Factor(step);
            var (loss, gradNorm) = Step(adam, step, factor);
            losses?.Add(loss);
            ema.Update(step + 1);
            _run.Log(PretrainingStage.Diffusion, step + 1, loss, o.LearningRate * factor, gradNorm);
            meter.Mark(step + 1, loss);
            _run.Report(new PretrainingProgress(PretrainingStage.Diffusion, step + 1, o.UnetSteps, meter.Loss, o.LearningRate * factor,
                meter.Rate, meter.Eta(o.UnetSteps)));
            if ((step + 1) % o.CheckpointEvery == 0 || step + 1 == o.UnetSteps || step + 1 == stopAfter) Save(adam, ema, step + 1, clock);
            if ((step + 1) % NoGcScope.CollectEvery == 0) NoGcScope.CollectAggressively();
            if (step + 1 == stopAfter && step + 1 < o.UnetSteps) return null;
        }
        Unet.eval();
        TextEncoder.eval();
        _run.Say(PretrainingStage.Diffusion, $"stage 2 done: {o.UnetSteps} steps, {clock.WallSeconds / 60:F1} min wall, {clock.CpuSeconds / 60:F1} min CPU");
        StageSeconds = (clock.WallSeconds, clock.CpuSeconds);
        return ema.Shadow.ToDictionary(kv => kv.Key, kv => kv.Value.clone().DetachFromDisposeScope(), StringComparer.Ordinal);
    }

    /// <summary>Wall and CPU seconds of the whole stage (all sessions), set when <see cref="Run()"/> returns.</summary>
    public (double Wall, double Cpu) StageSeconds { get; private set; }

    /// <summary>The captions of one step: each item's caption re-drawn for its epoch, or "" with probability caption_dropout.</summary>
    internal string[] Captions((int Index, int Epoch)[] items, int step)
    {
        var o = _run.Options;
        var drop = StepRandom.For(o.Seed, StepRandom.CaptionDrop, step);
        var captions = new string[items.Length];
        for (int k = 0; k < items.Length; k++)
        {
            bool empty = drop.Chance(o.CaptionDropout);
            if (empty) { captions[k] = ""; continue; }
            var (index, epoch) = items[k];
            var scene = _run.Dataset.Example(index).Scene;
            var rng = StepRandom.For(o.Seed, StepRandom.Recaption + (ulong)epoch * 0x10000, index);
            captions[k] = Captioner.Caption(scene, ref rng).ToString();
        }
        return captions;
    }

    private (double Loss, double GradNorm) Step(AdamW adam, int step, double lrFactor)
    {
        var o = _run.Options;
        using var scope = NewDisposeScope();
        var items = _order.Batch(step, o.BatchSize);
        var z0 = _latentsOf(items.Select(i => (long)i.Index).ToArray());
        var ids = _run.Tokenizer.EncodeBatch(Captions(items, step));
        using var noGc = NoGcScope.Enter();
        using var g = StepRandom.Generator(o.Seed, StepRandom.DiffusionNoise, step);
        var noise = randn(z0.shape, generator: g);
        var t = randint(0, _scheduler.NumTrainTimesteps, [o.BatchSize], ScalarType.Int64, generator: g);
        var noisy = _scheduler.AddNoise(z0, noise, t);
        var target = _scheduler.GetTrainingTarget(z0, noise, t);
        var context = TextEncoder.forward(ids).LastHiddenState;
        var prediction = Unet.forward(noisy, t, context);
        var loss = nn.functional.mse_loss(prediction, target);
        loss.backward();
        double gradNorm = nn.utils.clip_grad_norm_(Parameters.Select(p => p.Param), o.MaxGradNorm);
        double value = loss.item<float>();
        _run.CheckFinite(PretrainingStage.Diffusion, step + 1, value, gradNorm, _run.DiffusionCheckpointPath);
        adam.Step(lrFactor);
        adam.ZeroGrad();
        return (value, gradNorm);
    }

    private void Save(AdamW adam, ExponentialMovingAverage ema, int step, PretrainingRun.Clock clock)
    {
        var model = Parameters.ToDictionary(p => p.Name, p => (Tensor)p.Param, StringComparer.Ordinal);
        PretrainingCheckpoint.Save(_run.DiffusionCheckpointPath, "diffusion", step, _run.Options.Fingerprint,
            [("model", model), ("ema", ema.Shadow), ("adam", adam.StateTensors())], clock.Metadata());
        _run.Say(PretrainingStage.Diffusion, $"checkpoint: stage 2 step {step} → {_run.DiffusionCheckpointPath}");
    }

    private void LoadParameters(IReadOnlyDictionary<string, Tensor> saved, string source)
    {
        using var _ = no_grad();
        foreach (var (name, p) in Parameters)
        {
            if (!saved.TryGetValue(name, out var t) || !t.shape.SequenceEqual(p.shape))
                throw new DreamBoothException($"{source}: parameter '{name}' is missing or has another shape");
            p.copy_(t);
        }
    }

    public void Dispose()
    {
        Unet.Dispose();
        TextEncoder.Dispose();
        _scheduler.Dispose();
    }
}
