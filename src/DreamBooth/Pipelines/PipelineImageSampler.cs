using DreamBooth.Schedulers;
using DreamBooth.Training;
using static TorchSharp.torch;

namespace DreamBooth.Pipelines;

/// <summary>
/// The trainer's <see cref="IImageSampler"/> over the text-to-image pipeline: class images from the frozen model and
/// validation images from the model being trained, with the settings diffusers' DreamBooth scripts use
/// (class images: the pipeline defaults; validation: 25 steps), guidance <see cref="GenerationRequest.DefaultGuidanceScale"/>,
/// the model's own scheduler. Image k starts from the noise of <c>seeds[k]</c> (the pipeline's seed convention).
/// The modules are borrowed: the sampler never disposes them and uses them in whatever mode and dtype they are in.
/// </summary>
public sealed class PipelineImageSampler : IImageSampler
{
    /// <summary>Sampling steps of validation images (diffusers' train_dreambooth.py uses 25).</summary>
    public const int ValidationSteps = 25;

    private readonly SamplerModels _models;
    private readonly Action<string>? _warn;

    /// <summary>A sampler over the run's live models; <paramref name="warn"/> receives pipeline warnings (prompt truncation).</summary>
    public PipelineImageSampler(SamplerModels models, Action<string>? warn = null)
    {
        _models = models;
        _warn = warn;
    }

    /// <summary>Sampling steps per image.</summary>
    public int Steps { get; init; } = GenerationRequest.DefaultSteps;

    /// <summary>Classifier-free guidance scale.</summary>
    public double GuidanceScale { get; init; } = GenerationRequest.DefaultGuidanceScale;

    /// <summary>Sampler name (<see cref="SchedulerFactory.Names"/>); null for the model's own scheduler config.</summary>
    public string? Scheduler { get; init; }

    /// <summary>The factory the trainer and <c>class-images</c> use: purpose-dependent step counts, as in diffusers' scripts.</summary>
    public static ImageSamplerFactory Factory(Action<string>? warn = null) => models => new PipelineImageSampler(models, warn)
    {
        Steps = models.Purpose == SamplerPurpose.Validation ? ValidationSteps : GenerationRequest.DefaultSteps,
    };

    /// <inheritdoc/>
    public Tensor Generate(string prompt, IReadOnlyList<long> seeds, CancellationToken cancellationToken = default)
    {
        if (seeds.Count == 0) throw new ArgumentException("at least one seed is needed", nameof(seeds));
        var m = _models;
        var schedulerConfig = SchedulerConfig.Read(m.Model["scheduler"].ConfigPath
            ?? throw new DreamBoothException($"{m.Model["scheduler"].Directory}: no scheduler_config.json"));
        using var model = new StableDiffusionModel(m.Tokenizer, m.TextEncoder, m.Unet, m.Vae, schedulerConfig,
            Path.GetFileName(Path.TrimEndingDirectorySeparator(m.Model.Root)), ownsModules: false);
        var pipeline = new StableDiffusionPipeline(model, _warn);
        using var scope = NewDisposeScope();
        var parts = new List<Tensor>();
        // The pipeline seeds image i with seed + i: one request per run of consecutive seeds.
        for (int start = 0; start < seeds.Count;)
        {
            int end = start + 1;
            while (end < seeds.Count && seeds[end] == seeds[end - 1] + 1) end++;
            var request = new GenerationRequest
            {
                Prompts = [prompt],
                ImagesPerPrompt = end - start,
                Steps = Steps,
                GuidanceScale = GuidanceScale,
                Scheduler = Scheduler,
                Width = m.Resolution,
                Height = m.Resolution,
                Seed = seeds[start],
                BatchSize = Math.Max(1, m.BatchSize),
            };
            using var result = pipeline.Generate(request, cancellationToken: cancellationToken);
            parts.Add(result.Images.to_type(ScalarType.Float32).cpu().clone());
            start = end;
        }
        return (parts.Count == 1 ? parts[0] : cat(parts, 0)).MoveToOuterDisposeScope();
    }
}
