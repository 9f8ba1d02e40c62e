using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using DreamBooth.Data;
using DreamBooth.IO;
using DreamBooth.Pipelines;
using DreamBooth.Schedulers;
using DreamBooth.Training.Lora;
using Spectre.Console;
using Spectre.Console.Cli;
using Spectre.Console.Rendering;
using static TorchSharp.torch;

namespace DreamBooth.Cli.Commands;

/// <summary>
/// `dreambooth generate`: text-to-image with a Stable Diffusion model folder. Writes <c>NNNN-seedS.png</c> per image
/// (A1111 "parameters" text metadata) and <c>contact-sheet.png</c>. Every check (flags, model folder, LoRA file, files
/// that would be overwritten) runs before any weights are loaded or anything is written; a LoRA is merged into the loaded
/// weights (and checked against them) before the output folder is created.
/// </summary>
public sealed class GenerateCommand : Command<GenerateCommand.Settings>
{
    /// <summary>The contact sheet's file name in the output folder.</summary>
    public const string ContactSheetName = ContactSheet.FileName;

    /// <summary>Largest cell of the contact sheet in pixels: bigger images are shrunk, tiny ones magnified up to 4×.</summary>
    private const int ContactCell = 256;

    /// <summary>Most images one run makes (file names and the per-image bookkeeping stay small; continue with another --seed).</summary>
    public const int MaxImages = 100_000;

    /// <summary>The contact sheet shows the first this many images (a sheet of thousands is neither viewable nor cheap).</summary>
    public const int ContactSheetImages = 100;

    public sealed class Settings : CommandSettings
    {
        [CommandOption("-m|--model <DIR>"), Description("Diffusers model folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/).")]
        public string? Model { get; init; }

        [CommandOption("--prompt <TEXT>"), Description("What to draw. An empty prompt gives unconditional samples.")]
        public string? Prompt { get; init; }

        [CommandOption("--negative-prompt <TEXT>"), Description("What to steer away from (the unconditional side of guidance).")]
        public string? NegativePrompt { get; init; }

        [CommandOption("-n|--num-images <N>"), Description("Number of images (at most 100000; the contact sheet shows the first 100)."), DefaultValue(4)]
        public int NumImages { get; init; } = 4;

        [CommandOption("--steps <N>"), Description("Denoising steps (diffusers' default is 50; 30 is close to converged for DDIM, DPM++ and Euler)."), DefaultValue(GenerationRequest.DefaultSteps)]
        public int Steps { get; init; } = GenerationRequest.DefaultSteps;

        [CommandOption("--guidance-scale <G>"), Description("Classifier-free guidance scale; ≤ 1 turns guidance off."), DefaultValue(GenerationRequest.DefaultGuidanceScale)]
        public double GuidanceScale { get; init; } = GenerationRequest.DefaultGuidanceScale;

        [CommandOption("--guidance-rescale <PHI>"), Description("Guidance rescale φ in [[0, 1]] (Lin et al. 2023); 0 = off."), DefaultValue(0.0)]
        public double GuidanceRescale { get; init; }

        [CommandOption("--scheduler <NAME>"), Description("Sampler: ddim, euler, euler_a, dpm++2m, dpm++2m-karras, pndm, ddpm, or a diffusers class name. Default: the model's own scheduler config.")]
        public string? Scheduler { get; init; }

        [CommandOption("--seed <N>"), Description("Seed of image 0; image i uses seed + i. Default: random (printed and stored in each PNG).")]
        public long? Seed { get; init; }

        [CommandOption("--width <PX>"), Description("Image width, a multiple of 8. Default: the UNet's sample_size × the VAE's scale factor (512 for SD1.5).")]
        public int? Width { get; init; }

        [CommandOption("--height <PX>"), Description("Image height, a multiple of 8. Default: the model's size, as for --width.")]
        public int? Height { get; init; }

        [CommandOption("--batch-size <N>"), Description("Images per UNet batch: faster per image, proportionally more memory. Images do not depend on it, up to float rounding (±1 in a few 8-bit values)."), DefaultValue(1)]
        public int BatchSize { get; init; } = 1;

        [CommandOption("--clip-skip <N>"), Description("Skip the last N text-encoder layers (diffusers' clip_skip; A1111's \"Clip skip\" is N + 1). Applied to the negative prompt too, as A1111 and ComfyUI do; diffusers' pipeline encodes the negative prompt without it."), DefaultValue(0)]
        public int ClipSkip { get; init; }

        [CommandOption("--dtype <TYPE>"), Description("Weights dtype: fp32 or bf16 (faster on CPUs with AVX512-BF16; sampling arithmetic stays float32)."), DefaultValue("fp32")]
        public string DType { get; init; } = "fp32";

        [CommandOption("--lora <FILE>"), Description("LoRA weights to merge before sampling: a .safetensors file (e.g. pytorch_lora_weights.safetensors from `dreambooth train --lora`, or the folder holding it). Applies to the UNet, and to the text encoder when the file has text-encoder weights.")]
        public string? Lora { get; init; }

        [CommandOption("--lora-scale <X>"), Description("LoRA strength: W + X·(alpha/rank)·B·A; 0 gives the base model. Default 1.")]
        public double? LoraScale { get; init; }

        [CommandOption("-o|--output <DIR>"), Description("Output folder (created if missing)."), DefaultValue("generated")]
        public string Output { get; init; } = "generated";

        [CommandOption("--overwrite"), Description("Replace existing files of the same names.")]
        public bool Overwrite { get; init; }

        public override ValidationResult Validate()
        {
            string? error = Check();
            return error is null ? ValidationResult.Success() : ValidationResult.Error(error);
        }

        private string? Check()
        {
            if (string.IsNullOrWhiteSpace(Model)) return "--model is required (a diffusers model folder)";
            if (Prompt is null) return "--prompt is required (it may be \"\" for unconditional samples)";
            if (NumImages < 1) return $"--num-images must be at least 1, got {NumImages}";
            if (NumImages > MaxImages) return $"--num-images {NumImages}: at most {MaxImages} per run (run again with --seed <last seed + 1> for more)";
            if (Steps < 1) return $"--steps must be at least 1, got {Steps}";
            if (!double.IsFinite(GuidanceScale)) return $"--guidance-scale must be a finite number, got {GuidanceScale}";
            if (Math.Abs(GuidanceScale) > GenerationRequest.MaxGuidanceScale) return $"--guidance-scale {GuidanceScale}: at most {GenerationRequest.MaxGuidanceScale} (useful values are below 30)";
            if (!double.IsFinite(GuidanceRescale) || GuidanceRescale is < 0 or > 1) return $"--guidance-rescale must be between 0 and 1, got {GuidanceRescale}";
            if (Scheduler is not null && !SchedulerFactory.IsKnown(Scheduler)) return $"--scheduler: unknown scheduler '{Scheduler}'; valid names: {SchedulerFactory.ValidNamesText}";
            if (Seed is < 0) return $"--seed must be ≥ 0, got {Seed}";
            if (Width is int w && (w <= 0 || w % GenerationRequest.SizeMultiple != 0)) return $"--width {w} must be a positive multiple of {GenerationRequest.SizeMultiple}";
            if (Height is int h && (h <= 0 || h % GenerationRequest.SizeMultiple != 0)) return $"--height {h} must be a positive multiple of {GenerationRequest.SizeMultiple}";
            if (BatchSize < 1) return $"--batch-size must be at least 1, got {BatchSize}";
            if (ClipSkip < 0) return $"--clip-skip must be ≥ 0, got {ClipSkip}";
            if (!ModelDType.TryParse(DType, out var dtype) || dtype is not (ScalarType.Float32 or ScalarType.BFloat16)) return $"--dtype: unknown dtype '{DType}' (use fp32 or bf16)";
            if (Lora is not null && string.IsNullOrWhiteSpace(Lora)) return "--lora must name a .safetensors file";
            if (LoraScale is double scale && !double.IsFinite(scale)) return $"--lora-scale must be a finite number, got {scale}";
            if (LoraScale is not null && Lora is null) return "--lora-scale needs --lora <FILE>";
            if (string.IsNullOrWhiteSpace(Output)) return "--output must name a folder";
            if (File.Exists(Output)) return $"--output {Output}: is a file, expected a folder";
            return null;
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        // 1. Everything that can be checked without loading weights, so bad input costs a second and writes nothing.
        var folder = ModelFolder.Open(settings.Model!);
        _ = StableDiffusionComponents.FromFolder(folder); // all five components present
        var dtype = ModelDType.Parse(settings.DType);
        var request = new GenerationRequest
        {
            Prompts = [settings.Prompt!],
            NegativePrompts = settings.NegativePrompt is null ? null : [settings.NegativePrompt],
            ImagesPerPrompt = settings.NumImages,
            Steps = settings.Steps,
            GuidanceScale = settings.GuidanceScale,
            GuidanceRescale = settings.GuidanceRescale,
            Scheduler = settings.Scheduler,
            Seed = settings.Seed,
            Width = settings.Width,
            Height = settings.Height,
            BatchSize = settings.BatchSize,
            ClipSkip = settings.ClipSkip,
        }.WithSeed();
        request.Validate();
        CheckSteps(folder, request);
        using var lora = settings.Lora is null ? null : ReadLora(settings.Lora);
        double loraScale = settings.LoraScale ?? 1.0;

        var output = Path.GetFullPath(settings.Output);
        AtomicFile.CheckWritableFolder(output, "--output", settings.Output);
        var imagePaths = Enumerable.Range(0, request.ImageCount).Select(i => Path.Combine(output, ImageFileName(i, request.SeedOf(i)))).ToList();
        var contactPath = Path.Combine(output, ContactSheetName);
        foreach (var path in imagePaths.Append(contactPath))
        {
            if (Directory.Exists(path)) throw new DreamBoothException($"{path}: is a folder, cannot write an image there");
            if (File.Exists(path) && !settings.Overwrite) throw new DreamBoothException($"{path}: already exists (use --overwrite to replace it)");
        }

        // 2. Load and generate.
        AnsiConsole.MarkupLine($"Seed [bold]{request.Seed}[/] (images use seed + index) · {Markup.Escape(folder.Root)} · {ModelDType.Name(dtype)}");
        using var model = StableDiffusionModel.Load(folder, dtype);
        if (lora is not null)
        {
            var applied = ForLora(() => LoraWeights.Apply(model.Unet, model.TextEncoder, lora, loraScale));
            AnsiConsole.MarkupLine($"LoRA [bold]{Markup.Escape(LoraName(lora.Path))}[/] × {loraScale.ToString(CultureInfo.InvariantCulture)}: " +
                                   $"{applied.UnetLayers} UNet and {applied.TextEncoderLayers} text encoder layers ({applied.Format})");
        }
        (string, double)? loraMetadata = lora is null ? null : (LoraName(lora.Path), loraScale);
        var (defaultHeight, defaultWidth) = model.DefaultSize;
        int width = request.Width ?? defaultWidth, height = request.Height ?? defaultHeight;
        string sampler;
        using (var scheduler = model.CreateScheduler(request.Scheduler)) sampler = SamplerName.Of(scheduler);

        var warnings = new List<string>();
        var pipeline = new StableDiffusionPipeline(model, warnings.Add);
        var progress = new StepProgress();
        var batches = pipeline.GenerateBatches(request, progress, cancellationToken); // checks the request against the model first
        bool created = !Directory.Exists(output);
        Directory.CreateDirectory(output);
        AtomicFile.RemoveStaleTemps(output); // a killed earlier run's half-written image

        var thumbnails = new List<Tensor>();
        var clock = Stopwatch.StartNew();
        try
        {
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new StepsPerSecondColumn(),
                    new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask($"{request.ImageCount} image(s), {request.Steps} steps, {sampler}", maxValue: (double)request.Steps * BatchCount(request));
                    progress.Task = task;
                    foreach (var batch in batches)
                    {
                        using (batch)
                        {
                            for (int k = 0; k < batch.Count; k++)
                            {
                                int index = batch.FirstIndex + k;
                                using var image = batch.Images[k];
                                var parameters = GenerationMetadata.For(request, index, sampler, model.Name, width, height, loraMetadata);
                                ImageIO.SavePng(imagePaths[index], image, [new(GenerationParameters.PngKey, parameters.Format())]);
                                if (thumbnails.Count < ContactSheetImages) thumbnails.Add(Thumbnail(image));
                            }
                        }
                    }
                });
            int columns = (int)Math.Ceiling(Math.Sqrt(thumbnails.Count));
            var captions = Enumerable.Range(0, thumbnails.Count).Select(i => $"#{i} seed {request.SeedOf(i)}").ToList();
            string title = Truncate(request.Prompts[0], 80) + (request.ImageCount > thumbnails.Count ? $" (first {thumbnails.Count} of {request.ImageCount})" : "");
            ContactSheet.Save(contactPath, thumbnails, columns, captions, ContactScale(width, height), title);
        }
        catch when (created && StagedFolder.IsEmptyTree(output))
        {
            // Nothing was written: leave no empty folder behind (a folder that held images is kept with them).
            StagedFolder.TryDelete(output);
            throw;
        }
        finally
        {
            foreach (var t in thumbnails) t.Dispose();
        }

        foreach (var w in (lora?.Warnings ?? []).Concat(warnings)) Console.Error.WriteLine("warning: " + w);
        double seconds = clock.Elapsed.TotalSeconds;
        int totalSteps = request.Steps * BatchCount(request);
        AnsiConsole.MarkupLine($"Wrote {request.ImageCount} image(s) and {ContactSheetName} to [bold]{Markup.Escape(output)}[/] in {seconds:0.0} s " +
                               $"({totalSteps / Math.Max(seconds, 1e-9):0.00} batch steps/s, {seconds / request.ImageCount:0.00} s/image)");
        return 0;
    }

    // The step count against the sampler built from the model's scheduler config (some samplers bound it), with the
    // error naming --steps (and --scheduler) rather than the scheduler class alone.
    private static void CheckSteps(ModelFolder folder, GenerationRequest request)
    {
        using var scheduler = SchedulerFactory.Create(request.Scheduler, SchedulerConfig.Read(folder["scheduler"].ConfigPath!));
        try
        {
            scheduler.SetTimesteps(request.Steps);
        }
        catch (DreamBoothException e)
        {
            throw new DreamBoothException($"--steps {request.Steps}{(request.Scheduler is { } name ? $" with --scheduler {name}" : "")}: {e.Message}");
        }
    }

    /// <summary>The file name of image <paramref name="index"/>: <c>0000-seed1234.png</c>.</summary>
    public static string ImageFileName(int index, long seed) => string.Create(CultureInfo.InvariantCulture, $"{index:D4}-seed{seed}.png");

    /// <summary>
    /// The name recorded for a LoRA file: its file name without extension, or for diffusers' default name
    /// (<c>pytorch_lora_weights.safetensors</c>, which every trained LoRA has) the name of the folder holding it.
    /// </summary>
    public static string LoraName(string path)
    {
        var full = Path.GetFullPath(path);
        if (!string.Equals(Path.GetFileName(full), LoraWeights.FileName, StringComparison.Ordinal)) return Path.GetFileNameWithoutExtension(full);
        return Path.GetFileName(Path.GetDirectoryName(full)) is { Length: > 0 } folder ? folder : Path.GetFileNameWithoutExtension(full);
    }

    // --lora names a file, or a folder holding pytorch_lora_weights.safetensors (the trainer's output folder or a checkpoint).
    private static LoraFile ReadLora(string path)
    {
        if (Directory.Exists(path))
        {
            var inside = Path.Combine(path, LoraWeights.FileName);
            if (!File.Exists(inside)) throw new DreamBoothException($"--lora {path}: is a folder without {LoraWeights.FileName}");
            path = inside;
        }
        return ForLora(() => LoraFile.Read(path));
    }

    // Errors from the LoRA reader and merge name the file; this adds the flag.
    private static T ForLora<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (DreamBoothException e) when (!e.Message.StartsWith("--lora", StringComparison.Ordinal))
        {
            throw new DreamBoothException($"--lora: {e.Message}", e);
        }
    }

    private static int BatchCount(GenerationRequest request) => (request.ImageCount + request.BatchSize - 1) / request.BatchSize;

    private static int ContactScale(int width, int height) => Math.Clamp(ContactCell / Math.Max(width, height), 1, 4);

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";

    // A CPU copy for the contact sheet, shrunk (area average) when larger than a cell.
    private static Tensor Thumbnail(Tensor image)
    {
        using var scope = NewDisposeScope();
        long h = image.shape[1], w = image.shape[2];
        double shrink = Math.Min(1.0, (double)ContactCell / Math.Max(h, w));
        var t = shrink >= 1.0 ? image.clone()
            : nn.functional.interpolate(image.unsqueeze(0), [Math.Max(1, (long)(h * shrink)), Math.Max(1, (long)(w * shrink))], mode: InterpolationMode.Area).squeeze(0);
        return t.MoveToOuterDisposeScope();
    }

    /// <summary>Moves the progress bar to the run's completed step count.</summary>
    private sealed class StepProgress : IProgress<GenerationProgress>
    {
        public ProgressTask? Task { get; set; }

        public void Report(GenerationProgress value)
        {
            if (Task is null) return;
            Task.MaxValue = value.TotalSteps;
            Task.Value = value.CompletedSteps;
        }
    }

    /// <summary>"12.3 steps/s" from the task's measured speed.</summary>
    private sealed class StepsPerSecondColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(task.Speed is double speed ? $"{speed:0.00} steps/s" : "-- steps/s");
    }
}
