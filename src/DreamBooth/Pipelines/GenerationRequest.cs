using static TorchSharp.torch;

namespace DreamBooth.Pipelines;

/// <summary>
/// What to generate: prompts, how many images of each, the sampler settings and the seeds.
/// <para>
/// <b>Images and seeds.</b> The run makes <see cref="ImageCount"/> = <see cref="Prompts"/>.Count ×
/// <see cref="ImagesPerPrompt"/> images, prompt-major (all images of prompt 0, then of prompt 1, ...; diffusers'
/// <c>num_images_per_prompt</c> order). Image <c>i</c> uses its own <c>torch.Generator</c> seeded with
/// <see cref="Seed"/> + <c>i</c> (A1111's convention): its initial noise is <c>randn([1, C, H/f, W/f])</c> from that
/// generator (float32, on the CPU), and a stochastic sampler's per-step noise is drawn from it too. So an image does not
/// depend on the batch size or on the other images, and image <c>i</c> of a run is image 0 of a run with
/// <see cref="Seed"/> + <c>i</c>. A single image equals diffusers' with <c>generator=torch.Generator().manual_seed(seed)</c>,
/// up to float rounding. Batched images differ from unbatched ones only by float rounding (~1e-6).
/// </para>
/// </summary>
public sealed record GenerationRequest
{
    /// <summary>Number of sampling steps when none is given. 30 rather than diffusers' 50: the DDIM, DPM-Solver++ and Euler samplers are close to converged by then, at 60% of the cost.</summary>
    public const int DefaultSteps = 30;

    /// <summary>Guidance scale when none is given (diffusers' default).</summary>
    public const double DefaultGuidanceScale = 7.5;

    /// <summary>Largest guidance scale accepted (in magnitude): useful values are below 30; far larger ones overflow float32 in the sampler and give black images.</summary>
    public const double MaxGuidanceScale = 1000;

    /// <summary>Width and height must be multiples of this (the latent grid of Stable Diffusion, as diffusers checks).</summary>
    public const int SizeMultiple = 8;

    /// <summary>The prompts (at least one). An empty string is allowed: it asks for an unconditional sample, as in diffusers.</summary>
    public required IReadOnlyList<string> Prompts { get; init; }

    /// <summary>
    /// Negative prompts: null (the unconditional embedding is the encoding of ""), one for all prompts, or one per prompt.
    /// Unused when guidance is off (<see cref="GuidanceScale"/> ≤ 1).
    /// </summary>
    public IReadOnlyList<string>? NegativePrompts { get; init; }

    /// <summary>Images per prompt (≥ 1).</summary>
    public int ImagesPerPrompt { get; init; } = 1;

    /// <summary>Number of denoising steps (≥ 1 and at most the scheduler's num_train_timesteps, else an error).</summary>
    public int Steps { get; init; } = DefaultSteps;

    /// <summary>Classifier-free guidance scale g: ε = ε_uncond + g·(ε_cond − ε_uncond). At g ≤ 1 guidance is off: one UNet pass per step, no negative prompt.</summary>
    public double GuidanceScale { get; init; } = DefaultGuidanceScale;

    /// <summary>
    /// Guidance rescale φ in [0, 1] (Lin et al. 2023, diffusers' <c>rescale_noise_cfg</c>): blends the guided prediction
    /// with itself rescaled to the conditional prediction's standard deviation. 0 (the default) leaves it alone.
    /// </summary>
    public double GuidanceRescale { get; init; }

    /// <summary>Image width in pixels, a multiple of 8; null for the model's <see cref="StableDiffusionModel.DefaultSize"/>.</summary>
    public int? Width { get; init; }

    /// <summary>Image height in pixels, a multiple of 8; null for the model's <see cref="StableDiffusionModel.DefaultSize"/>.</summary>
    public int? Height { get; init; }

    /// <summary>Sampler name (<see cref="Schedulers.SchedulerFactory.Names"/>); null for the model's own scheduler config.</summary>
    public string? Scheduler { get; init; }

    /// <summary>DDIM's η (0 = deterministic DDIM); ignored by the other samplers, like diffusers' <c>eta</c>.</summary>
    public double Eta { get; init; }

    /// <summary>
    /// CLIP skip in diffusers' sense: 0 uses the last layer, k the output of layer (n − k), final layer norm applied.
    /// A1111's "Clip skip" is this + 1.
    /// </summary>
    public int ClipSkip { get; init; }

    /// <summary>The seed of image 0 (≥ 0); image i uses <c>Seed + i</c>. Null picks a random seed in [0, 2³²), reported in the result.</summary>
    public long? Seed { get; init; }

    /// <summary>
    /// Initial latents [<see cref="ImageCount"/>, C, H/f, W/f] instead of seeded noise (scaled by the scheduler's
    /// init_noise_sigma, as diffusers does). Seeds still drive a stochastic sampler's per-step noise. Not disposed by the pipeline.
    /// </summary>
    public Tensor? Latents { get; init; }

    /// <summary>Images per UNet batch (≥ 1). Larger batches are faster per image and take proportionally more memory; under guidance the UNet sees twice this many rows.</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>Also return the final latents (before VAE decoding) with the images.</summary>
    public bool ReturnLatents { get; init; }

    /// <summary>
    /// Called after each scheduler step with the new latents (diffusers' <c>callback_on_step_end</c>); the tensor is only
    /// valid during the call (clone it to keep it). Runs on the generating thread.
    /// </summary>
    public Action<DenoisingStep>? OnStepEnd { get; init; }

    /// <summary>The number of images: prompts × images per prompt.</summary>
    public int ImageCount => Prompts.Count * ImagesPerPrompt;

    /// <summary>Whether classifier-free guidance is on (scale &gt; 1).</summary>
    public bool UsesGuidance => GuidanceScale > 1.0;

    /// <summary>The prompt of image <paramref name="index"/>.</summary>
    public string PromptOf(int index) => Prompts[index / ImagesPerPrompt];

    /// <summary>The negative prompt of image <paramref name="index"/> ("" when none; null when guidance is off).</summary>
    public string? NegativePromptOf(int index) => !UsesGuidance ? null
        : NegativePrompts is null ? ""
        : NegativePrompts.Count == 1 ? NegativePrompts[0]
        : NegativePrompts[index / ImagesPerPrompt];

    /// <summary>The seed of image <paramref name="index"/> (<see cref="Seed"/> + index); call on a request with a seed.</summary>
    public long SeedOf(int index) => (Seed ?? throw new InvalidOperationException("the request has no seed yet: use WithSeed()")) + index;

    /// <summary>This request with <see cref="Seed"/> set: unchanged when it has one, else a random seed in [0, 2³²).</summary>
    public GenerationRequest WithSeed() => Seed is null ? this with { Seed = Random.Shared.NextInt64(0, 1L << 32) } : this;

    /// <summary>
    /// Checks the settings that do not depend on the model. Every problem is a one-line <see cref="DreamBoothException"/>
    /// naming the setting.
    /// </summary>
    public void Validate()
    {
        if (Prompts is null || Prompts.Count == 0) throw new DreamBoothException("prompts: at least one prompt is needed");
        if (Prompts.Any(p => p is null)) throw new DreamBoothException("prompts: a prompt is null");
        if (NegativePrompts is not null)
        {
            if (NegativePrompts.Count != 1 && NegativePrompts.Count != Prompts.Count)
                throw new DreamBoothException($"negative prompts: give one, or one per prompt ({Prompts.Count}); got {NegativePrompts.Count}");
            if (NegativePrompts.Any(p => p is null)) throw new DreamBoothException("negative prompts: a negative prompt is null");
        }
        if (ImagesPerPrompt < 1) throw new DreamBoothException($"number of images per prompt must be at least 1, got {ImagesPerPrompt}");
        if ((long)Prompts.Count * ImagesPerPrompt > int.MaxValue) throw new DreamBoothException("too many images requested");
        if (Steps < 1) throw new DreamBoothException($"number of steps must be at least 1, got {Steps}");
        if (!double.IsFinite(GuidanceScale)) throw new DreamBoothException($"guidance scale must be a finite number, got {GuidanceScale}");
        if (Math.Abs(GuidanceScale) > MaxGuidanceScale) throw new DreamBoothException($"guidance scale {GuidanceScale} is out of range: at most {MaxGuidanceScale} (useful values are below 30)");
        if (!double.IsFinite(GuidanceRescale) || GuidanceRescale < 0 || GuidanceRescale > 1)
            throw new DreamBoothException($"guidance rescale must be between 0 and 1, got {GuidanceRescale}");
        CheckSize("width", Width);
        CheckSize("height", Height);
        if (!double.IsFinite(Eta) || Eta < 0) throw new DreamBoothException($"eta must be a number ≥ 0, got {Eta}");
        if (ClipSkip < 0) throw new DreamBoothException($"clip skip must be ≥ 0, got {ClipSkip}");
        if (Seed is < 0) throw new DreamBoothException($"seed must be ≥ 0, got {Seed}");
        if (Seed is long s && s > long.MaxValue - ImageCount) throw new DreamBoothException($"seed {s} is too large: seed + image index must fit in 64 bits");
        if (BatchSize < 1) throw new DreamBoothException($"batch size must be at least 1, got {BatchSize}");
        if (Latents is not null && (Latents.dim() != 4 || Latents.shape[0] != ImageCount))
            throw new DreamBoothException($"initial latents must have shape [{ImageCount}, C, h, w] (one per image), got [{string.Join(", ", Latents.shape)}]");
    }

    private static void CheckSize(string name, int? value)
    {
        if (value is int v && (v <= 0 || v % SizeMultiple != 0))
            throw new DreamBoothException($"{name} {v} must be a positive multiple of {SizeMultiple}");
    }
}
