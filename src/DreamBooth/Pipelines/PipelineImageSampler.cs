using DreamBooth.Data;
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
        using var model = new StableDiffusionModel(m.Tokenizer, m.TextEncoder, m.Unet, m.Vae, ReadSchedulerConfig(), ModelName, ownsModules: false);
        var pipeline = new StableDiffusionPipeline(model, _warn);
        using var scope = NewDisposeScope();
        var parts = new List<Tensor>();
        // The pipeline seeds image i with seed + i: one request per run of consecutive seeds.
        for (int start = 0; start < seeds.Count;)
        {
            int end = start + 1;
            while (end < seeds.Count && seeds[end] == seeds[end - 1] + 1) end++;
            using var result = pipeline.Generate(Request(prompt, seeds[start], end - start), cancellationToken: cancellationToken);
            parts.Add(result.Images.to_type(ScalarType.Float32).cpu().clone());
            start = end;
        }
        return (parts.Count == 1 ? parts[0] : cat(parts, 0)).MoveToOuterDisposeScope();
    }

    /// <summary>The full A1111 record: prompt, steps, sampler, CFG scale, seed, size and model, as <c>generate</c> writes it.</summary>
    public GenerationParameters Describe(string prompt, long seed, int width, int height) =>
        GenerationMetadata.For(Request(prompt, seed, 1), 0, SamplerLabel, ModelName, width, height);

    private GenerationRequest Request(string prompt, long seed, int count) => new()
    {
        Prompts = [prompt],
        ImagesPerPrompt = count,
        Steps = Steps,
        GuidanceScale = GuidanceScale,
        Scheduler = Scheduler,
        Width = _models.Resolution,
        Height = _models.Resolution,
        Seed = seed,
        BatchSize = Math.Max(1, _models.BatchSize),
    };

    private string ModelName => Path.GetFileName(Path.TrimEndingDirectorySeparator(_models.Model.Root));

    // The model folder's scheduler config and the A1111 name of the configured sampler, read once per sampler
    // (Describe runs for every class image).
    private SchedulerConfig? _schedulerConfig;
    private string? _samplerLabel;

    private SchedulerConfig ReadSchedulerConfig() => _schedulerConfig ??= SchedulerConfig.Read(_models.Model["scheduler"].ConfigPath
        ?? throw new DreamBoothException($"{_models.Model["scheduler"].Directory}: no scheduler_config.json"));

    private string SamplerLabel
    {
        get
        {
            if (_samplerLabel is null)
            {
                using var scheduler = SchedulerFactory.Create(Scheduler, ReadSchedulerConfig());
                _samplerLabel = SamplerName.Of(scheduler);
            }
            return _samplerLabel;
        }
    }
}
