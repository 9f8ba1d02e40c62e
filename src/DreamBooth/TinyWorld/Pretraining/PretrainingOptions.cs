using System.Globalization;
using System.Text.Json.Serialization;

namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>
/// Everything that determines a pretraining run's result (<c>dreambooth tiny-world pretrain</c>). Two runs with equal
/// options on the same machine type and thread count produce bit-identical weights; a resumed run must use the same
/// options (<see cref="Fingerprint"/> is stored in every checkpoint and compared).
/// </summary>
public sealed record PretrainingOptions
{
    /// <summary>Seed of the world data, the initial weights, the data order, the noise and the timesteps.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>Architecture name (<see cref="TinyWorldArchitecture.Named"/>): <c>default</c> or <c>micro</c> (tests).</summary>
    public string Architecture { get; init; } = "default";

    // ---- stage 1: the VAE ----

    /// <summary>VAE optimizer steps (stage 1). Each step renders <see cref="VaeBatchSize"/> fresh world images.</summary>
    public int VaeSteps { get; init; } = 4000;

    public int VaeBatchSize { get; init; } = 12;
    public double VaeLearningRate { get; init; } = 1e-3;
    public int VaeWarmupSteps { get; init; } = 100;

    /// <summary>Weight of the KL term (mean over latent elements) against the mean absolute reconstruction error.</summary>
    public double VaeKlWeight { get; init; } = 1e-5;

    /// <summary>Share of VAE training images rotated in hue (<see cref="HueRotation"/>), so that the VAE also
    /// reconstructs colour pairings the world never shows; 0 turns the augmentation off.</summary>
    public double VaeHueAugment { get; init; } = 0.5;

    // ---- stage 2: latents, then text encoder + UNet ----

    /// <summary>World images encoded once to cached latents (dataset items 0 … N−1); stage 2 cycles over them in seeded epochs.</summary>
    public int LatentImages { get; init; } = 60_000;

    /// <summary>UNet + text encoder optimizer steps (stage 2).</summary>
    public int UnetSteps { get; init; } = 6500;

    public int BatchSize { get; init; } = 32;
    public double LearningRate { get; init; } = 5e-4;
    public int WarmupSteps { get; init; } = 400;
    public double WeightDecay { get; init; } = 0.01;
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>
    /// When set, stage 2 continues a finished stage 2 of this many steps (same other options) up to <see cref="UnetSteps"/>:
    /// the cosine schedule over the new total restarts at that step's learning rate (a warm restart), and the moving
    /// average and AdamW moments carry on. Null for a run from scratch.
    /// </summary>
    public int? ExtendsUnetSteps { get; init; }

    /// <summary>Share of captions replaced by the empty caption, so that classifier-free guidance has an unconditional model.</summary>
    public double CaptionDropout { get; init; } = 0.1;

    /// <summary>Decay of the exponential moving average of the stage-2 weights (the shipped weights are the average).</summary>
    public double EmaDecay { get; init; } = 0.999;

    // ---- bookkeeping ----

    /// <summary>Checkpoint every this many optimizer steps (and at the end of each stage, and on cancellation).</summary>
    public int CheckpointEvery { get; init; } = 250;

    /// <summary>Threads for rendering world images (the result does not depend on it).</summary>
    public int RenderThreads { get; init; } = 2;

    /// <summary>Checks ranges; throws a one-line <see cref="DreamBoothException"/> naming the flag.</summary>
    public void Validate()
    {
        static void Positive(int v, string flag)
        {
            if (v < 1) throw new DreamBoothException($"{flag}: {v} must be at least 1");
        }
        static void PositiveReal(double v, string flag)
        {
            if (!(v > 0) || double.IsInfinity(v)) throw new DreamBoothException($"{flag}: {v.ToString(CultureInfo.InvariantCulture)} must be a positive number");
        }
        if (VaeSteps < 0) throw new DreamBoothException($"--vae-steps: {VaeSteps} must not be negative");
        if (UnetSteps < 0) throw new DreamBoothException($"--unet-steps: {UnetSteps} must not be negative");
        Positive(VaeBatchSize, "--vae-batch-size");
        Positive(BatchSize, "--batch-size");
        Positive(LatentImages, "--latent-images");
        Positive(CheckpointEvery, "--checkpoint-every");
        Positive(RenderThreads, "--render-threads");
        PositiveReal(VaeLearningRate, "--vae-learning-rate");
        PositiveReal(LearningRate, "--learning-rate");
        if (VaeWarmupSteps < 0) throw new DreamBoothException($"--vae-warmup-steps: {VaeWarmupSteps} must not be negative");
        if (WarmupSteps < 0) throw new DreamBoothException($"--warmup-steps: {WarmupSteps} must not be negative");
        if (VaeKlWeight < 0 || double.IsNaN(VaeKlWeight)) throw new DreamBoothException($"--vae-kl-weight: {VaeKlWeight} must not be negative");
        if (VaeHueAugment is < 0 or > 1 || double.IsNaN(VaeHueAugment)) throw new DreamBoothException($"--vae-hue-augment: {VaeHueAugment.ToString(CultureInfo.InvariantCulture)} must be in [0, 1]");
        if (WeightDecay < 0 || double.IsNaN(WeightDecay)) throw new DreamBoothException($"--weight-decay: {WeightDecay} must not be negative");
        if (!(MaxGradNorm > 0)) throw new DreamBoothException($"--max-grad-norm: {MaxGradNorm} must be positive");
        if (CaptionDropout is < 0 or > 1 || double.IsNaN(CaptionDropout)) throw new DreamBoothException($"--caption-dropout: {CaptionDropout} must be in [0, 1]");
        if (EmaDecay is < 0 or >= 1 || double.IsNaN(EmaDecay)) throw new DreamBoothException($"--ema-decay: {EmaDecay} must be in [0, 1)");
        if (ExtendsUnetSteps is int from && (from < 1 || from >= UnetSteps))
            throw new DreamBoothException($"--extend-from-unet-steps: {from} must be at least 1 and below --unet-steps {UnetSteps}");
        if (Architecture is not ("default" or "micro")) throw new DreamBoothException($"--architecture: unknown architecture '{Architecture}' (expected default or micro)");
    }

    /// <summary>The options that fix stage 1's result (a finished VAE is reused only when these match).</summary>
    [JsonIgnore]
    public string VaeFingerprint => string.Join(";", Inv($"seed={Seed}"), $"architecture={Architecture}", Inv($"vae_steps={VaeSteps}"),
        Inv($"vae_batch_size={VaeBatchSize}"), Inv($"vae_lr={VaeLearningRate:R}"), Inv($"vae_warmup={VaeWarmupSteps}"), Inv($"vae_kl={VaeKlWeight:R}"),
        Inv($"vae_hue_augment={VaeHueAugment:R}"));

    /// <summary>The options that fix the whole run's result (excludes <see cref="CheckpointEvery"/> and <see cref="RenderThreads"/>).</summary>
    [JsonIgnore]
    public string Fingerprint => string.Join(";", VaeFingerprint, Inv($"latent_images={LatentImages}"), Inv($"unet_steps={UnetSteps}"),
        Inv($"batch_size={BatchSize}"), Inv($"lr={LearningRate:R}"), Inv($"warmup={WarmupSteps}"), Inv($"wd={WeightDecay:R}"),
        Inv($"max_grad_norm={MaxGradNorm:R}"), Inv($"caption_dropout={CaptionDropout:R}"), Inv($"ema={EmaDecay:R}"))
        + (ExtendsUnetSteps is int from ? Inv($";extends_unet_steps={from}") : "");

    /// <summary>The options of the finished run that <see cref="ExtendsUnetSteps"/> continues (null when not extending).</summary>
    [JsonIgnore]
    public PretrainingOptions? Extended => ExtendsUnetSteps is int from ? this with { UnetSteps = from, ExtendsUnetSteps = null } : null;

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
