using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DreamBooth.Data;
using DreamBooth.Demo;
using DreamBooth.IO;
using DreamBooth.Pipelines;
using DreamBooth.Runtime;
using DreamBooth.TinyWorld;
using static TorchSharp.torch;

namespace DreamBooth.Evaluation;

/// <summary>Settings of <see cref="HeldOutEvaluation"/>.</summary>
public sealed record HeldOutOptions
{
    /// <summary>The model to measure (diffusers layout); null for the shipped <c>models/tiny-world</c>.</summary>
    public string? ModelPath { get; init; }

    /// <summary>Probe folder; null for the shipped <c>models/probe</c>.</summary>
    public string? ProbeDir { get; init; }

    /// <summary>Where the images, contact sheet and metrics go (staged beside it, moved into place at the end).</summary>
    public string OutputDir { get; init; } = DefaultOutputDir;

    /// <summary>Default output folder.</summary>
    public const string DefaultOutputDir = "heldout-out";

    /// <summary>Replace an existing <see cref="OutputDir"/> (only once the new run has finished).</summary>
    public bool Overwrite { get; init; }

    /// <summary>Defaults of the settings (constants, for the command line's help).</summary>
    public const int DefaultImagesPerPrompt = 4, DefaultInferenceSteps = 25, DefaultBatchSize = 16;

    /// <summary>Default seed of image 0.</summary>
    public const long DefaultSeed = 1;

    /// <summary>Images per held-out prompt.</summary>
    public int ImagesPerPrompt { get; init; } = DefaultImagesPerPrompt;

    /// <summary>Sampling steps per image.</summary>
    public int InferenceSteps { get; init; } = DefaultInferenceSteps;

    /// <summary>Classifier-free guidance scale: the default of <c>dreambooth generate</c> and <c>dreambooth demo</c>.</summary>
    public double GuidanceScale { get; init; } = GenerationRequest.DefaultGuidanceScale;

    /// <summary>Seed of image 0; image i of the run uses Seed + i (prompt-major, as in <see cref="GenerationRequest"/>).</summary>
    public long Seed { get; init; } = DefaultSeed;

    /// <summary>Images per UNet batch.</summary>
    public int BatchSize { get; init; } = DefaultBatchSize;

    /// <summary>Checks the settings; each problem is one line naming the flag.</summary>
    /// <exception cref="DreamBoothException">A setting is out of range.</exception>
    public void Validate()
    {
        static void Require(bool ok, FormattableString message)
        {
            if (!ok) throw new DreamBoothException(message.ToString(CultureInfo.InvariantCulture));
        }
        Require(!string.IsNullOrWhiteSpace(OutputDir), $"--output: must name a folder");
        Require(ImagesPerPrompt >= 1, $"--num-images {ImagesPerPrompt}: must be at least 1");
        Require(InferenceSteps >= 1, $"--steps {InferenceSteps}: must be at least 1");
        Require(double.IsFinite(GuidanceScale) && GuidanceScale >= 0 && GuidanceScale <= GenerationRequest.MaxGuidanceScale,
            $"--guidance-scale {GuidanceScale}: must be a number from 0 to {GenerationRequest.MaxGuidanceScale}");
        Require(Seed >= 0, $"--seed {Seed}: must be zero or positive");
        Require(BatchSize >= 1, $"--batch-size {BatchSize}: must be at least 1");
    }
}

/// <summary>What <see cref="HeldOutEvaluation"/> measured.</summary>
/// <param name="OutputDir">The output folder.</param>
/// <param name="Report">The probe's metrics over every held-out image.</param>
/// <param name="Target">The issue's base-model target: class and context correct in ≥ 90 % of the images.</param>
/// <param name="Seconds">Wall seconds of the whole run.</param>
public sealed record HeldOutResult(string OutputDir, EvaluationReport Report, DemoTarget Target, double Seconds);

/// <summary>
/// <c>dreambooth tiny-world heldout</c>: the base model's compositional generalisation. For every
/// <see cref="HeldOutSplit"/> combination (a class, body colour and context that never appear together in
/// pretraining, e.g. "a photo of a red dog on the beach") it generates <see cref="HeldOutOptions.ImagesPerPrompt"/>
/// images and has the probe read class, colour, context and rendition back; the issue's target is class and context
/// correct in ≥ 90 % of the images. Writes <c>images/</c> (PNGs with their A1111 parameters, readable by
/// <c>dreambooth evaluate</c>), <c>contact-sheet.png</c> (a row per prompt), <c>metrics.json</c> and <c>metrics.md</c>,
/// all at once when the run has finished.
/// </summary>
public sealed class HeldOutEvaluation(HeldOutOptions options, IProgress<(int Done, int Total)>? progress = null, Action<string>? warn = null)
{
    /// <summary>The issue's goal for class + context accuracy on held-out combinations.</summary>
    public const double TargetAccuracy = 0.90;

    /// <summary>File names in the output folder.</summary>
    public const string ContactSheetFile = ContactSheet.FileName, MetricsJsonFile = "metrics.json", MetricsMarkdownFile = "metrics.md", ImagesFolder = "images";

    /// <summary>The held-out prompts, in <see cref="HeldOutSplit.Combinations"/> order.</summary>
    public static IReadOnlyList<string> Prompts => HeldOutSplit.Combinations.Select(c => c.Prompt).ToList();

    /// <summary>Runs the evaluation; see the class description.</summary>
    /// <exception cref="DreamBoothException">Bad settings or input folders (checked before any work).</exception>
    /// <exception cref="OperationCanceledException">Cancelled; the staging folder is removed and the output folder left as it was.</exception>
    public HeldOutResult Run(CancellationToken cancellationToken = default)
    {
        var o = options;
        o.Validate();
        var clock = Stopwatch.StartNew();
        string modelPath = Path.GetFullPath(o.ModelPath ?? ShippedModels.Find("tiny-world"));
        string probeDir = Path.GetFullPath(o.ProbeDir ?? Probe.DefaultDirectory);
        string outputDir = Path.GetFullPath(o.OutputDir);
        if (!Directory.Exists(modelPath)) throw new DreamBoothException($"--model {modelPath}: folder not found");
        if (!Directory.Exists(probeDir)) throw new DreamBoothException($"--probe {probeDir}: folder not found");
        StagedFolder.CheckOutput(outputDir, o.Overwrite, "held-out evaluation", ("--model", modelPath), ("--probe", probeDir));

        using var probe = Probe.Load(probeDir);
        using var model = StableDiffusionModel.Load(modelPath);
        var prompts = Prompts;
        var images = new List<Tensor>();
        try
        {
            return StagedFolder.Write(outputDir, o.Overwrite, staging =>
            {
                string imageDir = Path.Combine(staging, ImagesFolder);
                string sampler;
                using (var scheduler = model.CreateScheduler()) sampler = SamplerName.Of(scheduler);
                var request = new GenerationRequest
                {
                    Prompts = prompts, ImagesPerPrompt = o.ImagesPerPrompt, Steps = o.InferenceSteps, GuidanceScale = o.GuidanceScale,
                    Seed = o.Seed, BatchSize = o.BatchSize,
                };
                int total = request.ImageCount;
                progress?.Report((0, total));
                images.AddRange(new StableDiffusionPipeline(model, warn).GenerateToFolder(request, imageDir, "p",
                    new SyncProgress<int>(n => progress?.Report((n, total))), cancellationToken));
                cancellationToken.ThrowIfCancellationRequested();

                var report = DreamBoothEvaluator.Evaluate(probe, Array.Empty<Tensor>(),
                    images.Select((t, i) => (t, prompts[i / o.ImagesPerPrompt])).ToList());
                var target = Target(report);
                ContactSheet.Save(Path.Combine(staging, ContactSheetFile), images, o.ImagesPerPrompt,
                    images.Select((_, i) => i % o.ImagesPerPrompt == 0 ? prompts[i / o.ImagesPerPrompt] : "").ToList(), scale: 2,
                    title: $"held-out combinations: {model.Name}, {o.InferenceSteps} steps, guidance {o.GuidanceScale.ToString(CultureInfo.InvariantCulture)}, seed {o.Seed}");
                var result = new HeldOutResult(outputDir, report, target, clock.Elapsed.TotalSeconds);
                AtomicFile.WriteAllBytes(Path.Combine(staging, MetricsJsonFile), JsonSerializer.SerializeToUtf8Bytes(new
                {
                    model = modelPath,
                    probe = probeDir,
                    images_per_prompt = o.ImagesPerPrompt,
                    steps = o.InferenceSteps,
                    guidance_scale = o.GuidanceScale,
                    seed = o.Seed,
                    sampler,
                    target = new { name = target.Name, goal = target.Goal, measured = target.Measured, met = target.Met },
                    seconds = Math.Round(result.Seconds, 1),
                    metrics = report,
                }, ConfigJson.Options));
                AtomicFile.WriteAllText(Path.Combine(staging, MetricsMarkdownFile), ToMarkdown(result, modelPath, o, sampler));
                return result;
            }, cancellationToken);
        }
        finally
        {
            foreach (var t in images) t.Dispose();
        }
    }

    /// <summary>The issue's base-model target against a report of held-out images.</summary>
    public static DemoTarget Target(EvaluationReport report)
    {
        double accuracy = report.ClassAndContextAccuracy ?? 0;
        return new DemoTarget("class and context correct on held-out combinations", $"≥ {TargetAccuracy:P0}",
            string.Create(CultureInfo.InvariantCulture, $"{accuracy:P1} of {report.GeneratedImages} images"), accuracy >= TargetAccuracy);
    }

    private static string ToMarkdown(HeldOutResult r, string modelPath, HeldOutOptions o, string sampler)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Held-out caption combinations (tiny world)").AppendLine();
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Model `{modelPath}`: {HeldOutSplit.Combinations.Count} (class, colour, context) combinations absent from pretraining × {o.ImagesPerPrompt} images, {o.InferenceSteps} steps ({sampler}), guidance {o.GuidanceScale}, seeds {o.Seed}–{o.Seed + r.Report.GeneratedImages - 1}; {r.Seconds:0} s.")).AppendLine();
        sb.AppendLine("| target | goal | measured | met |").AppendLine("|---|---|---|---|");
        sb.AppendLine($"| {r.Target.Name} | {r.Target.Goal} | {r.Target.Measured} | {(r.Target.Met == true ? "yes" : "no")} |").AppendLine();
        // The evaluator's own report (its first heading demoted under ours).
        sb.Append(r.Report.ToMarkdown().Replace("# DreamBooth evaluation (tiny world)", "## Probe readings", StringComparison.Ordinal));
        return sb.ToString();
    }
}
