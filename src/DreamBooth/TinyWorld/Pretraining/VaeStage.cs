using System.Globalization;
using DreamBooth.Data;
using DreamBooth.IO;
using DreamBooth.Models.Vae;
using DreamBooth.Runtime;
using DreamBooth.Training;
using TorchSharp;
using TorchSharp.Modules;
using AdamW = DreamBooth.Training.AdamW;
using static TorchSharp.torch;

namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>
/// Stage 1: the AutoencoderKL learns to reconstruct world images. Step k renders the fresh dataset items
/// k·B … k·B+B−1, rotates a share of them in hue (<see cref="HueRotation"/>), encodes them, decodes a posterior sample z = μ + σ·ε and minimises
/// <code>loss = mean |x − D(z)| + β · mean KL(N(μ, σ²) ‖ N(0, 1))</code>
/// (L1 keeps edges sharper than MSE; the small KL keeps the latent space smooth, as SD's VAE). AdamW, cosine learning
/// rate with warm-up, gradients clipped to norm 1. At the end, the latent scaling factor is measured as SD's was: 1 / std
/// of the posterior means of a fixed set of images.
/// </summary>
internal static class VaeStage
{
    /// <summary>Images whose latent std defines the scaling factor (dataset items 0 … n−1, the first cached ones).</summary>
    public const int ScalingImages = 1024;

    /// <summary>Trains (or resumes, or reuses a finished) VAE; returns it in eval mode with its measured scaling factor.</summary>
    public static AutoencoderKL Run(PretrainingRun run) => Run(run, null, null)!;

    /// <summary>
    /// <see cref="Run(PretrainingRun)"/>, optionally stopping (with a checkpoint, returning null) once
    /// <paramref name="stopAfter"/> steps are done, and collecting each step's loss into <paramref name="losses"/>.
    /// </summary>
    internal static AutoencoderKL? Run(PretrainingRun run, int? stopAfter, List<double>? losses)
    {
        var o = run.Options;
        if (TryLoadFinal(run) is { } done)
        {
            run.Say(PretrainingStage.Vae, $"stage 1: reusing the finished VAE in {run.VaeFinalPath}");
            return done;
        }

        var vae = new AutoencoderKL(run.Architecture.Vae);
        try
        {
            using (var g = StepRandom.Generator(o.Seed, StepRandom.Init, 1)) WeightInitialization.PyTorchDefault(vae, g);
            var parameters = vae.named_parameters().ToList();
            using var adam = new AdamW([new OptimizerGroup("vae", parameters, o.VaeLearningRate, 0.0)]);
            var schedule = new LearningRateSchedule(LrScheduleKind.Cosine, o.VaeWarmupSteps, o.VaeSteps);
            int start = 0;
            PretrainingRun.Clock clock;
            using (var ckpt = PretrainingCheckpoint.Load(run.VaeCheckpointPath, o.VaeFingerprint))
            {
                if (ckpt is not null)
                {
                    LoadInto(vae, ckpt.Group("vae"), ckpt.Path);
                    adam.LoadState(ckpt.Group("adam"), ckpt.Step, ckpt.Path);
                    start = ckpt.Step;
                    run.Say(PretrainingStage.Vae, $"stage 1: resuming at step {start} from {ckpt.Path}");
                }
                clock = new PretrainingRun.Clock(ckpt?.Metadata);
            }
            run.TruncateLog(PretrainingStage.Vae, start);

            vae.train();
            var meter = new StepMeter(start);
            int last = start;
            for (int step = start; step < o.VaeSteps; step++)
            {
                if (run.CancellationToken.IsCancellationRequested)
                {
                    Save(run, vae, adam, step, clock);
                    run.CancellationToken.ThrowIfCancellationRequested();
                }
                double lr = o.VaeLearningRate * schedule.Factor(step);
                var (loss, gradNorm) = Step(run, vae, parameters, adam, step, schedule.Factor(step));
                losses?.Add(loss);
                run.Log(PretrainingStage.Vae, step + 1, loss, lr, gradNorm);
                meter.Mark(step + 1, loss);
                run.Report(new PretrainingProgress(PretrainingStage.Vae, step + 1, o.VaeSteps, meter.Loss, lr, meter.Rate, meter.Eta(o.VaeSteps)));
                last = step + 1;
                if (last % o.CheckpointEvery == 0 && last < o.VaeSteps) Save(run, vae, adam, last, clock);
                if (last % NoGcScope.CollectEvery == 0) NoGcScope.CollectAggressively();
                if (last == stopAfter && last < o.VaeSteps)
                {
                    Save(run, vae, adam, last, clock);
                    vae.Dispose();
                    return null;
                }
            }
            vae.eval();
            double scaling = MeasureScalingFactor(run, vae);
            var finished = new AutoencoderKL(run.Architecture.Vae with { ScalingFactor = scaling });
            CopyWeights(vae, finished);
            vae.Dispose();
            vae = finished;
            vae.eval();
            var meta = clock.Metadata();
            meta["scaling_factor"] = scaling.ToString("R", CultureInfo.InvariantCulture);
            PretrainingCheckpoint.Save(run.VaeFinalPath, "vae-final", o.VaeSteps, o.VaeFingerprint, [("vae", StateOf(vae))], meta);
            File.Delete(run.VaeCheckpointPath);
            run.Say(PretrainingStage.Vae, $"stage 1 done: {o.VaeSteps} steps, scaling_factor {scaling:R}, " +
                                          $"{clock.WallSeconds / 60:F1} min wall, {clock.CpuSeconds / 60:F1} min CPU");
            WriteReconstructions(run, vae);
            return vae;
        }
        catch
        {
            vae.Dispose();
            throw;
        }
    }

    /// <summary>One optimizer step on dataset items step·B …; returns the loss and the gradient norm before clipping.</summary>
    internal static (double Loss, double GradNorm) Step(PretrainingRun run, AutoencoderKL vae, List<(string Name, Parameter Param)> parameters,
        AdamW adam, int step, double lrFactor)
    {
        var o = run.Options;
        using var scope = NewDisposeScope();
        var (rendered, _) = run.Dataset.GetBatch((long)step * o.VaeBatchSize, o.VaeBatchSize, o.RenderThreads);
        using var noGc = NoGcScope.Enter();
        Tensor images;
        using (var hue = StepRandom.Generator(o.Seed, StepRandom.VaeHue, step)) images = HueRotation.Apply(rendered, o.VaeHueAugment, hue);
        using var g = StepRandom.Generator(o.Seed, StepRandom.VaeNoise, step);
        var posterior = vae.Encode(images);
        var reconstruction = vae.Decode(posterior.Sample(g));
        var rec = (reconstruction - images).abs().mean();
        var kl = 0.5 * (posterior.Mean.square() + posterior.Std.square() - 1.0 - posterior.LogVar).mean();
        var loss = rec + o.VaeKlWeight * kl;
        loss.backward();
        double gradNorm = nn.utils.clip_grad_norm_(parameters.Select(p => p.Param), 1.0);
        double value = loss.item<float>();
        run.CheckFinite(PretrainingStage.Vae, step + 1, value, gradNorm, run.VaeCheckpointPath);
        adam.Step(lrFactor);
        adam.ZeroGrad();
        return (value, gradNorm);
    }

    /// <summary>1 / std of the posterior means of dataset items 0 … <see cref="ScalingImages"/>−1, to 4 significant digits.</summary>
    internal static double MeasureScalingFactor(PretrainingRun run, AutoencoderKL vae)
    {
        int n = Math.Min(ScalingImages, run.Options.LatentImages);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var chunks = new List<Tensor>();
        for (int start = 0; start < n; start += 128)
        {
            var (images, _) = run.Dataset.GetBatch(start, Math.Min(128, n - start), run.Options.RenderThreads);
            using var noGc = NoGcScope.Enter();
            chunks.Add(vae.Encode(images).Mean);
        }
        double std = cat(chunks).to(float64).std().item<double>();
        return double.Parse((1.0 / std).ToString("G4", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    private static AutoencoderKL? TryLoadFinal(PretrainingRun run)
    {
        using var final = PretrainingCheckpoint.Load(run.VaeFinalPath, run.Options.VaeFingerprint);
        if (final is null) return null;
        double scaling = double.Parse(final.Metadata["scaling_factor"], CultureInfo.InvariantCulture);
        var vae = new AutoencoderKL(run.Architecture.Vae with { ScalingFactor = scaling });
        LoadInto(vae, final.Group("vae"), final.Path);
        vae.eval();
        return vae;
    }

    private static void Save(PretrainingRun run, AutoencoderKL vae, AdamW adam, int step, PretrainingRun.Clock clock)
    {
        PretrainingCheckpoint.Save(run.VaeCheckpointPath, "vae", step, run.Options.VaeFingerprint,
            [("vae", StateOf(vae)), ("adam", adam.StateTensors())], clock.Metadata());
        run.Say(PretrainingStage.Vae, $"checkpoint: stage 1 step {step} → {run.VaeCheckpointPath}");
    }

    /// <summary>A reconstruction sheet of 16 held-aside items (odd rows originals, even rows reconstructions) in the work folder.</summary>
    private static void WriteReconstructions(PretrainingRun run, AutoencoderKL vae)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (images, captions) = run.Dataset.GetBatch(int.MaxValue, 16, run.Options.RenderThreads);
        var rec = vae.Decode(vae.Encode(images).Mean);
        var cells = new List<Tensor>();
        var labels = new List<string>();
        for (int row = 0; row < 2; row++)
        {
            for (int k = 0; k < 8; k++) { cells.Add(((images[row * 8 + k] + 1) / 2).clamp(0, 1)); labels.Add(captions[row * 8 + k]); }
            for (int k = 0; k < 8; k++) { cells.Add(((rec[row * 8 + k] + 1) / 2).clamp(0, 1)); labels.Add("reconstruction"); }
        }
        ContactSheet.Save(Path.Combine(run.WorkDir, "vae-reconstructions.png"), cells, 8, labels, 2, "VAE reconstructions (rows 2, 4)");
    }

    internal static Dictionary<string, Tensor> StateOf(nn.Module model) =>
        model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    internal static void LoadInto(nn.Module model, IReadOnlyDictionary<string, Tensor> tensors, string source)
    {
        var state = model.state_dict();
        using var _ = no_grad();
        foreach (var (name, target) in state)
        {
            if (!tensors.TryGetValue(name, out var t) || !t.shape.SequenceEqual(target.shape))
                throw new DreamBoothException($"{source}: tensor '{name}' is missing or has another shape");
            target.copy_(t);
        }
        if (tensors.Keys.FirstOrDefault(k => !state.ContainsKey(k)) is { } extra)
            throw new DreamBoothException($"{source}: unexpected tensor '{extra}'");
    }

    private static void CopyWeights(nn.Module from, nn.Module to) => LoadInto(to, StateOf(from), "vae");
}
