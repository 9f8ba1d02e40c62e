using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DreamBooth.Data;
using DreamBooth.Evaluation;
using DreamBooth.IO;
using DreamBooth.Pipelines;
using DreamBooth.Runtime;
using DreamBooth.TinyWorld;
using DreamBooth.TinyWorld.Pretraining;
using DreamBooth.Tokenization;
using DreamBooth.Training;
using static TorchSharp.torch;

namespace DreamBooth.Demo;

/// <summary>A progress report of the demo: the phase ("class images", "training with prior preservation", ...), units done and total, and a detail line (loss, it/s, ETA).</summary>
public sealed record DemoProgress(string Phase, int Done, int Total, string? Detail = null);

/// <summary>One evaluated model of the demo.</summary>
/// <param name="Name">"base model", "DreamBooth (prior preservation)", "DreamBooth (no prior preservation)".</param>
/// <param name="Key">A short file-name key: base, prior, no-prior.</param>
/// <param name="Report">The probe's metrics.</param>
/// <param name="Seconds">Wall time of its training (0 for the base model) and image generation.</param>
public sealed record DemoVariant(string Name, string Key, EvaluationReport Report, double Seconds);

/// <summary>What the demo wrote and measured.</summary>
/// <param name="OutputDir">The output folder.</param>
/// <param name="Identifier">The rare identifier [V] used.</param>
/// <param name="Variants">The evaluated models (base first).</param>
/// <param name="RealCeiling">Mean pairwise identity similarity of the real photos.</param>
/// <param name="Targets">The issue's targets against the measured values.</param>
/// <param name="PhaseSeconds">Wall seconds per phase.</param>
/// <param name="TotalSeconds">Wall seconds of the whole run.</param>
/// <param name="AutoencoderBound">Subject fidelity of the real photos' reconstructions through the model's VAE
/// (<see cref="DreamBoothEvaluator.AutoencoderBound"/>): about the most any fine-tuned model can reach.</param>
/// <param name="WorldRenderBound">Subject fidelity of the world's own renders of the demo subject for the demo's prompts, as
/// they are and through the model's VAE (<see cref="DreamBoothEvaluator.WorldRenderBound"/>): what a perfect generator
/// would score; null when the photos are not the shipped demo subject's.</param>
public sealed record DemoResult(string OutputDir, string Identifier, IReadOnlyList<DemoVariant> Variants, double RealCeiling,
    IReadOnlyList<DemoTarget> Targets, IReadOnlyDictionary<string, double> PhaseSeconds, double TotalSeconds, double? AutoencoderBound = null,
    (double Renders, double ThroughVae)? WorldRenderBound = null);

/// <summary>One of the issue's targets, with the value measured and whether it was met (null when the run had no data for it).</summary>
public sealed record DemoTarget(string Name, string Goal, string Measured, bool? Met);

/// <summary>
/// <c>dreambooth demo</c>: the whole of DreamBooth on the embedded tiny-world model, offline, in minutes.
/// <list type="number">
/// <item>pick a rare identifier [V] for the model's tokenizer (the paper's recipe, <see cref="RareIdentifiers"/>);</item>
/// <item>generate the class images "a photo of a [class]" with the frozen model;</item>
/// <item>fine-tune on the subject photos with the prior-preservation loss (and, with <see cref="DemoOptions.AblatePrior"/>, without it);</item>
/// <item>render "a photo of [V] [class] [context]" for every context of the world and "[rendition] of [V] [class]" for every
/// art rendition, plus class-prompt images, with the base model and every fine-tuned model (the same seeds for all);</item>
/// <item>measure subject fidelity, prompt fidelity, PRES and DIV with the probe, against the real photos' ceiling.</item>
/// </list>
/// Output (written to a staging folder beside <see cref="DemoOptions.OutputDir"/> and moved into place only when the
/// run has finished, so an interrupted or failed demo never touches an earlier result): <c>contact-sheet.png</c>
/// (rows = prompts: the real photos, then each model's images), <c>metrics.md</c>, <c>metrics.json</c>,
/// <c>loss-curve.png</c>, <c>images/KEY/</c> and <c>images/KEY-class/</c> (each model's prompted and class-prompt
/// images, PNGs with their prompts: <c>dreambooth evaluate --real samples --generated images/KEY --class-images
/// images/KEY-class</c> gives that model's metrics, up to PNG rounding), <c>class-images/</c> (prior-preservation training images), and each fine-tuned model folder (<c>prior/</c>, <c>no-prior/</c>, with its training logs).
/// </summary>
public sealed class DreamBoothDemo
{
    /// <summary>File names in the output folder.</summary>
    public const string ContactSheetFile = ContactSheet.FileName, MetricsJsonFile = "metrics.json", MetricsMarkdownFile = "metrics.md", LossCurveFile = "loss-curve.png";

    private readonly DemoOptions _o;
    private readonly IProgress<DemoProgress>? _progress;
    private readonly Action<string> _warn;
    private readonly Action<string> _info;

    /// <param name="options">The settings.</param>
    /// <param name="progress">Receives progress reports.</param>
    /// <param name="warn">Receives warnings (one line each).</param>
    /// <param name="info">Receives notes.</param>
    public DreamBoothDemo(DemoOptions options, IProgress<DemoProgress>? progress = null, Action<string>? warn = null, Action<string>? info = null)
    {
        _o = options;
        _progress = progress;
        _warn = warn ?? (_ => { });
        _info = info ?? (_ => { });
    }

    /// <summary>Runs the demo; see the class description.</summary>
    /// <exception cref="DreamBoothException">Bad settings or input files (checked before any work).</exception>
    /// <exception cref="OperationCanceledException">Cancelled; the staging folder is removed and the output folder left as it was.</exception>
    public DemoResult Run(CancellationToken cancellationToken = default)
    {
        var total = Stopwatch.StartNew();
        var o = _o;
        o.Validate();
        string modelPath = Path.GetFullPath(o.ModelPath ?? ShippedModels.Find("tiny-world"));
        string samplesDir = Path.GetFullPath(o.SamplesDir ?? ShippedModels.Samples());
        string probeDir = Path.GetFullPath(o.ProbeDir ?? Probe.DefaultDirectory);
        string outputDir = Path.GetFullPath(o.OutputDir);
        CheckFolders(modelPath, samplesDir, probeDir, outputDir);

        var model = ModelFolder.Open(modelPath);
        if (model.Index is null) throw new DreamBoothException($"--model {modelPath}: a complete Stable Diffusion pipeline folder (model_index.json) is needed");
        var tokenizer = ClipTokenizer.FromPretrained(model["tokenizer"].Directory);
        string identifier = o.Identifier ?? PickIdentifier(tokenizer, modelPath);
        CheckIdentifier(tokenizer, identifier);
        var realPaths = ImageIO.ListImages(samplesDir); // files it skips are named by each training run's loader
        if (realPaths.Count == 0) throw new DreamBoothException($"--samples {samplesDir}: {ImageIO.NoImages}");
        var real = realPaths.Select(ImageIO.Load).ToList(); // decoded first: a broken file is named, not counted as a photo
        if (realPaths.Count < 2)
            throw new DreamBoothException($"--samples {samplesDir}: one photo; the demo needs at least 2 (the real-images ceiling compares the photos in pairs; the paper uses 3–5)");
        using var probe = Probe.Load(probeDir);

        var phases = new Dictionary<string, double>();
        var images = new List<(string Key, IReadOnlyList<Tensor> Images)>();
        try
        {
            return StagedFolder.Write(outputDir, o.Overwrite, staging =>
            {
                _info($"identifier: {identifier}; instance prompt: \"{o.InstancePrompt(identifier)}\"; class prompt: \"{o.ClassPrompt}\"");
                var prompts = o.EvaluationPrompts(identifier);
                var variants = new List<DemoVariant>();

                // The base model: the same prompts, before any fine-tuning.
                var sw = Stopwatch.StartNew();
                variants.Add(Measure("base model", "base", modelPath, staging, prompts, probe, real, images, cancellationToken) with { Seconds = sw.Elapsed.TotalSeconds });
                phases["generate + evaluate base model"] = sw.Elapsed.TotalSeconds;

                string classDir = Path.Combine(staging, "class-images");
                var runs = new List<(string Name, string Key, bool Prior)> { ("DreamBooth (prior preservation)", "prior", true) };
                if (o.AblatePrior) runs.Add(("DreamBooth (no prior preservation)", "no-prior", false));
                foreach (var (name, key, prior) in runs)
                {
                    sw.Restart();
                    string runDir = Path.Combine(staging, key);
                    Train(modelPath, samplesDir, runDir, classDir, identifier, prior, name, phases, cancellationToken);
                    double trainSeconds = sw.Elapsed.TotalSeconds;
                    phases[$"train {key}"] = trainSeconds;
                    var gen = Stopwatch.StartNew();
                    var variant = Measure(name, key, runDir, staging, prompts, probe, real, images, cancellationToken);
                    phases[$"generate + evaluate {key}"] = gen.Elapsed.TotalSeconds;
                    variants.Add(variant with { Seconds = sw.Elapsed.TotalSeconds });
                }

                sw.Restart();
                Report("writing results", 0, 1);
                WriteContactSheet(Path.Combine(staging, ContactSheetFile), prompts, real, images, variants);
                string lossCurve = Path.Combine(staging, "prior", "logs", "loss_curve.png");
                if (File.Exists(lossCurve)) File.Copy(lossCurve, Path.Combine(staging, LossCurveFile));
                double ceiling = variants[0].Report.RealCeiling ?? double.NaN;
                double bound;
                (double, double)? worldBound = null;
                using (var vae = Models.Vae.AutoencoderKL.FromPretrained(model["vae"]))
                {
                    bound = DreamBoothEvaluator.AutoencoderBound(probe, vae, real);
                    if (DemoSubject.AreItsPhotos(real))
                        worldBound = DreamBoothEvaluator.WorldRenderBound(probe, vae, real, prompts, o.ImagesPerPrompt, o.Seed);
                }
                var targets = Targets(variants, worldBound?.Item1 / ceiling);
                phases["write results"] = sw.Elapsed.TotalSeconds;
                var result = new DemoResult(outputDir, identifier, variants, ceiling, targets, phases, total.Elapsed.TotalSeconds, bound, worldBound);
                AtomicFile.WriteAllBytes(Path.Combine(staging, MetricsJsonFile), JsonSerializer.SerializeToUtf8Bytes(Json(result, modelPath, samplesDir, probeDir), ConfigJson.Options));
                AtomicFile.WriteAllText(Path.Combine(staging, MetricsMarkdownFile), ToMarkdown(result, modelPath, samplesDir));
                Report("writing results", 1, 1);
                return result;
            }, cancellationToken);
        }
        finally
        {
            foreach (var t in real) t.Dispose();
            foreach (var (_, list) in images) foreach (var t in list) t.Dispose();
        }
    }

    /// <summary>The staging folder of <paramref name="outputDir"/> (a sibling, so the final move is a rename on one file system).</summary>
    public static string StagingPath(string outputDir) => StagedFolder.StagingPath(outputDir);

    private void CheckFolders(string modelPath, string samplesDir, string probeDir, string outputDir)
    {
        if (!Directory.Exists(modelPath)) throw new DreamBoothException($"--model {modelPath}: folder not found");
        if (!Directory.Exists(samplesDir)) throw new DreamBoothException($"--samples {samplesDir}: folder not found");
        if (!Directory.Exists(probeDir)) throw new DreamBoothException($"--probe {probeDir}: folder not found");
        StagedFolder.CheckOutput(outputDir, _o.Overwrite, "demo", ("--model", modelPath), ("--samples", samplesDir), ("--probe", probeDir));
    }

    private static string PickIdentifier(ClipTokenizer tokenizer, string modelPath)
    {
        // A tiny-world model never saw a word outside the world's captions; any other vocabulary: the paper's rare tokens.
        bool tinyWorld = File.Exists(Path.Combine(modelPath, TinyWorldPretrainer.RecordFileName));
        var excluded = tinyWorld ? new HashSet<string>(Captioner.Words, StringComparer.Ordinal) : null;
        return RareIdentifiers.Suggest(tokenizer, 1, excluded).FirstOrDefault()?.Text
            ?? throw new DreamBoothException($"--model {modelPath}: the tokenizer has no rare single-token word to use as identifier; pass --identifier");
    }

    private static void CheckIdentifier(ClipTokenizer tokenizer, string identifier)
    {
        int n = tokenizer.EncodeTokens(identifier).Count;
        if (n != 1) throw new DreamBoothException($"--identifier {identifier}: encodes to {n} tokens; the paper's identifiers are single tokens (see dreambooth identifiers)");
    }

    private void Train(string modelPath, string samplesDir, string runDir, string classDir, string identifier, bool prior, string name,
        Dictionary<string, double> phases, CancellationToken ct)
    {
        var o = _o;
        var options = new DreamBoothTrainingOptions
        {
            ModelPath = modelPath,
            InstanceDataDir = samplesDir,
            InstancePrompt = o.InstancePrompt(identifier),
            Identifier = identifier,
            OutputDir = runDir,
            WithPriorPreservation = prior,
            ClassPrompt = prior ? o.ClassPrompt : null,
            ClassDataDir = prior ? classDir : null,
            NumClassImages = o.NumClassImages,
            PriorLossWeight = o.PriorLossWeight,
            SampleBatchSize = 25,
            Seed = o.Seed,
            TrainBatchSize = o.TrainBatchSize,
            MaxTrainSteps = o.MaxTrainSteps,
            LearningRate = o.LearningRate,
            TrainTextEncoder = o.TrainTextEncoder,
            TextEncoderLearningRate = o.TrainTextEncoder ? o.TextEncoderLearningRate : null,
            RandomFlip = true,
            CheckpointingSteps = o.MaxTrainSteps, // one checkpoint at the end: the demo is short and starts afresh
            CheckpointsTotalLimit = 1,
        };
        var classTimer = Stopwatch.StartNew();
        bool classesDone = false;
        var progress = new SyncProgress<TrainingProgress>(p =>
        {
            if (p.Phase != TrainingPhase.ClassImages && !classesDone && prior)
            {
                classesDone = true;
                phases["class images"] = classTimer.Elapsed.TotalSeconds;
            }
            switch (p.Phase)
            {
                case TrainingPhase.ClassImages: Report("class images (frozen model)", p.Done, p.Total); break;
                case TrainingPhase.Training:
                    Report($"training: {name}", p.Done, p.Total, string.Create(CultureInfo.InvariantCulture,
                        $"loss {p.SmoothedLoss:0.0000}  {p.StepsPerSecond:0.00} it/s  ETA {p.Eta:mm\\:ss}"));
                    break;
                default: Report($"training: {name}", 0, o.MaxTrainSteps, p.Phase.ToString().ToLowerInvariant()); break;
            }
        });
        new DreamBoothTrainer(options, ImageSetImages.Loader, PipelineImageSampler.Factory(_warn), progress, _warn, _ => { }).Run(ct);
        // The checkpoint duplicates the final weights; the model folder is what the demo uses.
        foreach (var (_, path) in TrainingCheckpoint.List(runDir)) StagedFolder.TryDelete(path);
    }

    private DemoVariant Measure(string name, string key, string modelDir, string staging, IReadOnlyList<string> prompts, Probe probe,
        IReadOnlyList<Tensor> real, List<(string Key, IReadOnlyList<Tensor> Images)> images, CancellationToken ct)
    {
        var o = _o;
        // The subject's prompted images and the class-prompt images (PRES) in separate folders, so that
        // `dreambooth evaluate --generated images/KEY --class-images images/KEY-class` reproduces these metrics.
        string dir = Path.Combine(staging, "images", key), classDir = Path.Combine(staging, "images", key + "-class");
        using var model = StableDiffusionModel.Load(modelDir);
        var pipeline = new StableDiffusionPipeline(model, _warn);
        int total = prompts.Count * o.ImagesPerPrompt + o.ClassPromptImages;
        string phase = $"generating: {name}";
        Report(phase, 0, total);
        List<Tensor> Generate(IReadOnlyList<string> ps, int perPrompt, long seed, string folder, string prefix, int offset) =>
            pipeline.GenerateToFolder(new GenerationRequest
            {
                Prompts = ps, ImagesPerPrompt = perPrompt, Steps = o.InferenceSteps, GuidanceScale = o.GuidanceScale, Seed = seed, BatchSize = 16,
            }, folder, prefix, new SyncProgress<int>(n => Report(phase, offset + n, total)), ct);
        // The same seeds for every model, so the rows of the contact sheet compare like with like.
        var generated = Generate(prompts, o.ImagesPerPrompt, o.Seed * DemoOptions.ImageSeedStride, dir, "p", 0);
        var classImages = Generate([o.ClassPrompt], o.ClassPromptImages, o.Seed * DemoOptions.ImageSeedStride + DemoOptions.ImageSeedStride / 2, classDir, "class-", generated.Count);
        images.Add((key, generated));
        Report($"evaluating: {name}", 0, 1);
        var report = DreamBoothEvaluator.Evaluate(probe, real,
            generated.Select((t, i) => (t, prompts[i / o.ImagesPerPrompt])).ToList(),
            classImages.Select(t => (t, (string?)o.ClassPrompt)).ToList());
        foreach (var t in classImages) t.Dispose();
        Report($"evaluating: {name}", 1, 1);
        return new DemoVariant(name, key, report, 0);
    }

    private void WriteContactSheet(string path, IReadOnlyList<string> prompts, IReadOnlyList<Tensor> real,
        List<(string Key, IReadOnlyList<Tensor> Images)> images, IReadOnlyList<DemoVariant> variants)
    {
        int columns = Math.Max(real.Count, _o.ImagesPerPrompt * images.Count);
        // Row 0: the real photos. Then one row per prompt: each model's images side by side (base | prior | no prior).
        var cells = new List<Tensor>();
        var captions = new List<string>();
        using var blank = ones(3, real[0].shape[1], real[0].shape[2]);
        for (int c = 0; c < columns; c++)
        {
            cells.Add(c < real.Count ? real[c] : blank);
            captions.Add(c < real.Count ? $"real photo {c + 1}" : "");
        }
        for (int p = 0; p < prompts.Count; p++)
        {
            for (int v = 0; v < images.Count; v++)
                for (int k = 0; k < _o.ImagesPerPrompt; k++)
                {
                    cells.Add(images[v].Images[p * _o.ImagesPerPrompt + k]);
                    captions.Add(k == 0 ? $"{images[v].Key}: {prompts[p]}" : images[v].Key);
                }
            for (int c = images.Count * _o.ImagesPerPrompt; c < columns; c++)
            {
                cells.Add(blank);
                captions.Add("");
            }
        }
        ContactSheet.Save(path, cells, columns, captions, scale: 2,
            title: $"DreamBooth demo: {string.Join(" | ", variants.Select(v => $"{v.Key} = {v.Name}"))}");
    }

    /// <summary>The issue's targets against the measured values (null = no data, e.g. without the ablation run).</summary>
    /// <param name="variants">The evaluated models.</param>
    /// <param name="perfectRatio">A perfect generator's subject fidelity as a share of the ceiling (<see cref="DemoResult.WorldRenderBound"/>), quoted beside the subject-fidelity target.</param>
    public static IReadOnlyList<DemoTarget> Targets(IReadOnlyList<DemoVariant> variants, double? perfectRatio = null)
    {
        var baseModel = variants.First(v => v.Key == "base").Report;
        var prior = variants.FirstOrDefault(v => v.Key == "prior")?.Report;
        var noPrior = variants.FirstOrDefault(v => v.Key == "no-prior")?.Report;
        static string F(double? x) => EvaluationReport.F(x);
        var list = new List<DemoTarget>
        {
            new("subject fidelity (prior preservation)", "≥ 0.90 × real-images ceiling",
                prior?.SubjectFidelityRatio is { } r
                    ? $"{r:P1} of the ceiling ({F(prior.SubjectFidelity)} / {F(prior.RealCeiling)})" + (perfectRatio is { } pr ? $"; a perfect generator: {pr:P1}" : "")
                    : "–",
                prior?.SubjectFidelityRatio is { } r2 ? r2 >= 0.90 : null),
            new("prompt fidelity (prior preservation)", "≥ 0.85", F(prior?.PromptFidelity), prior is null ? null : prior.PromptFidelity >= 0.85),
            new("PRES with vs. without prior preservation", "with ≤ 0.75 × without",
                prior?.Pres is { } a && noPrior?.Pres is { } b ? $"{F(a)} vs {F(b)}" : "– (run with --ablate-prior)",
                prior?.Pres is { } a2 && noPrior?.Pres is { } b2 ? a2 <= 0.75 * b2 : null),
            new("DIV with vs. without prior preservation", "with ≥ without",
                prior?.Diversity is { } d && noPrior?.Diversity is { } e ? $"{F(d)} vs {F(e)}" : "– (run with --ablate-prior)",
                prior?.Diversity is { } d2 && noPrior?.Diversity is { } e2 ? d2 >= e2 : null),
            new("subject fidelity rises over the base model", "prior > base",
                $"{F(prior?.SubjectFidelity)} vs {F(baseModel.SubjectFidelity)}",
                prior?.SubjectFidelity is { } s && baseModel.SubjectFidelity is { } t ? s > t : null),
        };
        return list;
    }

    private static object Json(DemoResult r, string modelPath, string samplesDir, string probeDir) => new
    {
        identifier = r.Identifier,
        model = modelPath,
        samples = samplesDir,
        probe = probeDir,
        real_images_ceiling = r.RealCeiling,
        autoencoder_bound = r.AutoencoderBound,
        world_render_bound = r.WorldRenderBound?.Renders,
        world_render_vae_bound = r.WorldRenderBound?.ThroughVae,
        variants = r.Variants.Select(v => new { name = v.Name, key = v.Key, seconds = Math.Round(v.Seconds, 1), metrics = v.Report }),
        targets = r.Targets.Select(t => new { name = t.Name, goal = t.Goal, measured = t.Measured, met = t.Met }),
        phase_seconds = r.PhaseSeconds.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 1)),
        total_seconds = Math.Round(r.TotalSeconds, 1),
        processor_count = Environment.ProcessorCount,
    };

    /// <summary>The Markdown report: the metrics table, the targets, the timings.</summary>
    public static string ToMarkdown(DemoResult r, string modelPath, string samplesDir)
    {
        static string F(double? x) => EvaluationReport.F(x);
        var sb = new System.Text.StringBuilder();
        sb.AppendLine("# DreamBooth demo (tiny world)").AppendLine();
        sb.AppendLine($"Model `{modelPath}`, subject photos `{samplesDir}`, identifier `{r.Identifier}`. Metrics by the probe (see `dreambooth evaluate`).").AppendLine();
        sb.AppendLine("| model | subject fidelity | % of ceiling | prompt fidelity | class accuracy | PRES ↓ | DIV ↑ |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        sb.AppendLine($"| real photos (ceiling) | {F(r.RealCeiling)} | 100 % | | | | |");
        if (r.AutoencoderBound is { } bound)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| real photos through the model's VAE (bound) | {F(bound)} | {bound / r.RealCeiling * 100:0.0} % | | | | |"));
        if (r.WorldRenderBound is { } world)
        {
            var (renders, throughVae) = world;
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| the world's renders of the subject for the prompts (a perfect generator) | {F(renders)} | {renders / r.RealCeiling * 100:0.0} % | | | | |"));
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| the same renders through the model's VAE | {F(throughVae)} | {throughVae / r.RealCeiling * 100:0.0} % | | | | |"));
        }
        foreach (var v in r.Variants)
        {
            var m = v.Report;
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {v.Name} | {F(m.SubjectFidelity)} | {(m.SubjectFidelityRatio is { } x ? $"{x * 100:0.0} %" : "–")} | {F(m.PromptFidelity)} | {F(m.ClassAccuracy)} | {F(m.Pres)} | {F(m.Diversity)} |"));
        }
        sb.AppendLine().AppendLine("| target | goal | measured | met |").AppendLine("|---|---|---|---|");
        foreach (var t in r.Targets) sb.AppendLine($"| {t.Name} | {t.Goal} | {t.Measured} | {(t.Met is null ? "–" : t.Met.Value ? "yes" : "no")} |");
        sb.AppendLine().AppendLine("| phase | seconds |").AppendLine("|---|---:|");
        foreach (var (k, v) in r.PhaseSeconds) sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {k} | {v:0.0} |"));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| **total** | {r.TotalSeconds:0.0} |"));
        sb.AppendLine().AppendLine("Per-prompt figures of each model:").AppendLine();
        foreach (var v in r.Variants)
        {
            sb.AppendLine($"## {v.Name}").AppendLine();
            sb.AppendLine("| prompt | subject fidelity | prompt fidelity | class acc. | DIV | predicted context | predicted rendition |");
            sb.AppendLine("|---|---:|---:|---:|---:|---|---|");
            foreach (var p in v.Report.Prompts)
                sb.AppendLine($"| {p.Prompt} | {F(p.SubjectFidelity)} | {F(p.PromptFidelity)} | {F(p.ClassAccuracy)} | {F(p.Diversity)} | {p.PredictedContexts} | {p.PredictedStyles} |");
            sb.AppendLine();
        }
        return sb.ToString();
    }

    private void Report(string phase, int done, int total, string? detail = null) => _progress?.Report(new DemoProgress(phase, done, total, detail));
}
