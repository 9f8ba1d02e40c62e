using System.Diagnostics;
using System.Globalization;
using DreamBooth.Data;
using DreamBooth.IO;
using DreamBooth.Models;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Runtime;
using DreamBooth.Schedulers;
using DreamBooth.Tokenization;
using DreamBooth.Training.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Training;

/// <summary>
/// The DreamBooth training loop (Ruiz et al. 2023), as diffusers' train_dreambooth.py / train_dreambooth_lora.py run it,
/// with exact resume. One run:
/// <list type="number">
/// <item>check the options and the output folder (a folder of another run is refused; the same run may resume there);</item>
/// <item>load the frozen model and top up the class images (prior preservation);</item>
/// <item>load the images, encode every augmentation variant with the VAE once, tokenize (and, with a frozen text encoder, encode) the prompts once;</item>
/// <item>make the trained parameters: the whole UNet (and text encoder), or LoRA adapters; fp32 masters for bf16;</item>
/// <item>per optimizer step, <c>--gradient-accumulation-steps</c> micro-batches of <see cref="DreamBoothStep"/>, then clip,
/// AdamW, LR schedule; log; checkpoint every <c>--checkpointing-steps</c>; validate every <c>--validation-steps</c>;</item>
/// <item>write the diffusers folder (or the LoRA file).</item>
/// </list>
/// Randomness comes from three generators seeded from <c>--seed</c>: data (crops, shuffling, variant picks) = seed,
/// noise (latent samples, noise, timesteps) = seed + 1, LoRA initialization = seed + 2. Their states, the optimizer,
/// the data position and the weights are in every checkpoint, so a resumed run ends with the same weights as an
/// uninterrupted one, bit for bit. Cancellation saves a checkpoint and throws <see cref="OperationCanceledException"/>;
/// a non-finite loss stops the run with a <see cref="DreamBoothException"/>, leaving the last good checkpoint.
/// </summary>
public sealed class DreamBoothTrainer
{
    private readonly DreamBoothTrainingOptions _options;
    private readonly TrainingImageLoader _loadImages;
    private readonly ImageSamplerFactory? _samplerFactory;
    private readonly IProgress<TrainingProgress>? _progress;
    private readonly Action<string> _warn;
    private readonly Action<string> _info;

    /// <param name="options">The run's options.</param>
    /// <param name="loadImages">Loads an image folder (the data pipeline).</param>
    /// <param name="samplerFactory">Text-to-image over the run's models, for class images and validation; required when either is needed.</param>
    /// <param name="progress">Receives progress reports.</param>
    /// <param name="warn">Receives warnings (one line each).</param>
    /// <param name="info">Receives notes (resuming, checkpoints written).</param>
    public DreamBoothTrainer(DreamBoothTrainingOptions options, TrainingImageLoader loadImages, ImageSamplerFactory? samplerFactory = null,
        IProgress<TrainingProgress>? progress = null, Action<string>? warn = null, Action<string>? info = null)
    {
        _options = options;
        _loadImages = loadImages;
        _samplerFactory = samplerFactory;
        _progress = progress;
        _warn = warn ?? (_ => { });
        _info = info ?? (_ => { });
    }

    /// <summary>Runs the training; see the class description.</summary>
    public TrainingResult Run(CancellationToken cancellationToken = default)
    {
        string outputDir = Path.GetFullPath(_options.OutputDir);
        bool existed = Directory.Exists(outputDir);
        try
        {
            return RunIn(outputDir, cancellationToken);
        }
        catch when (!existed && StagedFolder.IsEmptyTree(outputDir))
        {
            // The run failed before writing anything (bad instance images, say): leave no empty folder behind. A folder
            // with files (class images generated for it, a manifest, logs) is kept: they are work or the run's record.
            StagedFolder.TryDelete(outputDir);
            throw;
        }
    }

    private TrainingResult RunIn(string outputDir, CancellationToken cancellationToken)
    {
        var o = _options;
        foreach (var w in o.Validate()) _warn(w);
        if (o.ValidationPrompt is not null && _samplerFactory is null)
            throw new DreamBoothException("--validation-prompt: no image generation available in this build");

        // 1. The base model and the output folder.
        var model = ModelFolder.Open(o.ModelPath);
        if (model.Index is null)
            throw new DreamBoothException($"{o.ModelPath}: a complete Stable Diffusion pipeline folder (model_index.json) is needed for training");
        foreach (var c in new[] { "unet", "vae", "text_encoder", "tokenizer", "scheduler" }) _ = model[c];
        var unetConfig = model["unet"].ReadConfig<UNet2DConditionConfig>();
        var vaeConfig = model["vae"].ReadConfig<AutoencoderKLConfig>();
        int vaeFactor = 1 << (vaeConfig.BlockOutChannels.Length - 1);
        int resolution = o.Resolution ?? DefaultResolution(unetConfig, vaeFactor, o.ModelPath);
        if (resolution % vaeFactor != 0)
            throw new DreamBoothException($"--resolution {resolution}: must be a multiple of the VAE's downsampling factor {vaeFactor}");
        CheckSizes(o, model, unetConfig, vaeConfig, resolution, vaeFactor);

        var saved = RunManifest.Read(outputDir);
        long seed = o.Seed ?? (saved?.Values.TryGetValue("--seed", out var s) == true ? long.Parse(s, CultureInfo.InvariantCulture) : Random.Shared.NextInt64(0, 1L << 31));
        if (o.Seed is null) _info($"seed {seed}");
        var identity = Identity(model, resolution, seed);
        string? resumeFrom = PrepareOutputFolder(outputDir, saved, identity);

        // 2. Frozen models; class images.
        var tokenizer = ClipTokenizer.FromPretrained(model["tokenizer"].Directory);
        using var textEncoder = CLIPTextModel.FromPretrained(model["text_encoder"]);
        using var vae = AutoencoderKL.FromPretrained(model["vae"]);
        using var unet = UNet2DConditionModel.FromPretrained(model["unet"]);
        using var noiseScheduler = new DDPMScheduler(SchedulerConfig.Read(model["scheduler"].ConfigPath!));
        foreach (var p in vae.parameters().Concat(textEncoder.parameters()).Concat(unet.parameters())) p.requires_grad_(false);
        SamplerModels Models(SamplerPurpose purpose) => new(model, unet, textEncoder, vae, tokenizer, resolution, purpose, o.SampleBatchSize);
        string classDir = o.EffectiveClassDataDir;
        if (o.WithPriorPreservation)
        {
            ClassImageGenerator.Generate(classDir, o.ClassPrompt!, o.NumClassImages, o.SampleBatchSize, seed,
                () => (_samplerFactory ?? throw new DreamBoothException($"--class-data-dir {classDir}: has fewer than {o.NumClassImages} images and no image generation is available to add more"))(Models(SamplerPurpose.ClassImages)),
                new SyncProgress<ClassImagesProgress>(p => Report(new TrainingProgress(TrainingPhase.ClassImages, p.Done, p.Total))), cancellationToken);
        }

        // 3. Data: images with their variants, cached latents, prompts.
        using var dataGenerator = new Generator((ulong)seed);
        using var noiseGenerator = new Generator((ulong)(seed + 1));
        using var initGenerator = new Generator((ulong)(seed + 2));
        var instances = _loadImages(new TrainingImageRequest(o.InstanceDataDir, o.InstancePrompt, false, null, resolution, o.CenterCrop, o.RandomFlip, o.RandomCropsPerImage), dataGenerator, _warn);
        var classes = o.WithPriorPreservation
            ? _loadImages(new TrainingImageRequest(classDir, o.ClassPrompt, true, o.NumClassImages, resolution, o.CenterCrop, o.RandomFlip, o.RandomCropsPerImage), dataGenerator, _warn)
            : null;
        var instancePrompts = Enumerable.Range(0, instances.Count).Select(instances.PromptOf).ToList();
        foreach (var w in InstancePromptCheck.Warnings(instancePrompts, o.WithPriorPreservation ? o.ClassPrompt : null, o.Identifier, tokenizer)) _warn(w);
        identity = WithData(identity, instances, classes);
        // Also when resuming into a new folder from a checkpoint elsewhere: that folder must be resumable in turn.
        if (resumeFrom is null || saved is null) RunManifest.Write(outputDir, identity, o.ModelPath);

        int totalVariants = Enumerable.Range(0, instances.Count).Sum(instances.VariantCount) + (classes is null ? 0 : Enumerable.Range(0, classes.Count).Sum(classes.VariantCount));
        int encoded = 0;
        var cacheProgress = new SyncProgress<int>(n => Report(new TrainingProgress(TrainingPhase.Caching, encoded + n, totalVariants)));
        using var instanceLatents = LatentCache.Encode(instances, vae, o.SampleBatchSize, cacheProgress, cancellationToken);
        encoded = Enumerable.Range(0, instances.Count).Sum(instances.VariantCount);
        using var classLatents = classes is null ? null : LatentCache.Encode(classes, vae, o.SampleBatchSize, cacheProgress, cancellationToken);
        using var prompts = new TrainingPrompts(tokenizer, o.WithPriorPreservation ? instancePrompts.Append(o.ClassPrompt!) : instancePrompts, _warn);
        if (!o.TrainTextEncoder) prompts.Cache(textEncoder);

        // 4. What is trained.
        var (loraLayers, trainedModules) = TrainingParameters.MakeTrainable(unet, textEncoder,
            o.Lora ? LoraSettings.Create(o.LoraRank, o.LoraAlpha, o.LoraInit) : null, o.TrainTextEncoder, o.GradientCheckpointing, initGenerator);
        using var parameters = TrainingParameters.Prepare(trainedModules, o.ComputeDType);

        double lrScale = o.ScaleLr ? o.GradientAccumulationSteps * o.TrainBatchSize : 1;
        double unetLr = o.BaseLearningRate * lrScale, textLr = (o.TextEncoderLearningRate ?? o.BaseLearningRate) * lrScale;
        var groups = new List<OptimizerGroup>
        {
            new(LoraAdapters.Unet, Group(parameters, LoraAdapters.Unet), unetLr, o.AdamWeightDecay),
        };
        if (o.TrainTextEncoder) groups.Add(new(LoraAdapters.TextEncoder, Group(parameters, LoraAdapters.TextEncoder), textLr, o.AdamWeightDecay));
        using var optimizer = new AdamW(groups, o.AdamBeta1, o.AdamBeta2, o.AdamEpsilon);

        var data = new DataOrder(Math.Max(instances.Count, classes?.Count ?? 0), o.TrainBatchSize);
        int updatesPerEpoch = (data.BatchesPerEpoch + o.GradientAccumulationSteps - 1) / o.GradientAccumulationSteps;
        int maxSteps = o.MaxTrainSteps ?? o.NumTrainEpochs * updatesPerEpoch;
        var schedule = o.LrScheduler == LrScheduleKind.Polynomial
            ? LearningRateSchedule.ForPolynomial(o.LrWarmupSteps, maxSteps, unetLr, o.LrPower)
            // diffusers passes --lr-num-cycles only to cosine_with_restarts; plain cosine keeps half a cycle.
            : new LearningRateSchedule(o.LrScheduler, o.LrWarmupSteps, maxSteps, o.LrScheduler == LrScheduleKind.CosineWithRestarts ? o.LrNumCycles : 0.5);

        // 5. Resume.
        int step = 0;
        if (resumeFrom is not null)
        {
            step = Restore(resumeFrom, identity, parameters, optimizer, data, dataGenerator, noiseGenerator);
            _info($"resumed from {resumeFrom} at step {step}");
        }
        int lastCheckpoint = step;
        void SaveCheckpoint()
        {
            using var scope = NewDisposeScope();
            var generators = new Dictionary<string, Tensor> { ["data"] = dataGenerator.get_state(), ["noise"] = noiseGenerator.get_state() };
            var contents = new CheckpointContents(step, identity, parameters.MasterTensors(), optimizer.StateTensors(), optimizer.StepCount, generators, data.State);
            var path = TrainingCheckpoint.Save(outputDir, contents, dir =>
            {
                if (o.Lora) LoraWeights.Save(Path.Combine(dir, LoraWeights.FileName), loraLayers, parameters.MasterTensors());
            });
            lastCheckpoint = step;
            _info($"saved {path}");
            if (o.CheckpointsTotalLimit is int limit)
                foreach (var removed in TrainingCheckpoint.Prune(outputDir, limit)) _info($"removed {removed}");
        }

        Directory.CreateDirectory(Path.Combine(outputDir, "logs"));
        using var log = TrainingLog.Open(Path.Combine(outputDir, "logs", "train_log.csv"), step);
        void WritePlot() => AtomicFile.WriteAllBytes(Path.Combine(outputDir, "logs", "loss_curve.png"), TrainingPlots.LossCurve(log.Rows));
        var sheets = new List<string>();
        IImageSampler? validationSampler = null;
        int lastValidation = -1;
        string ValidationPath(int atStep) => Path.Combine(outputDir, "validation", $"step-{atStep:D6}.png");
        void Validate()
        {
            validationSampler ??= _samplerFactory!(Models(SamplerPurpose.Validation));
            Report(new TrainingProgress(TrainingPhase.Validation, step, maxSteps));
            unet.eval();
            textEncoder.eval();
            using (var scope = NewDisposeScope())
            using (no_grad())
            {
                var seeds = Enumerable.Range(0, o.NumValidationImages).Select(i => seed + i).ToList();
                Tensor? images = null;
                try
                {
                    images = validationSampler.Generate(o.ValidationPrompt!, seeds, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    // Ctrl-C during a (long) validation keeps the steps trained since the last checkpoint, as in the loop.
                    if (step > lastCheckpoint) SaveCheckpoint();
                    WritePlot();
                    throw;
                }
                catch (DreamBoothException e)
                {
                    // Validation images are a view of the run, not the run: one that cannot be made (memory, non-finite
                    // values) is reported and training goes on, instead of losing the steps since the last checkpoint.
                    _warn($"validation at step {step} skipped: {e.Message}");
                }
                if (images is not null)
                {
                    var path = ValidationPath(step);
                    var cells = Enumerable.Range(0, (int)images.shape[0]).Select(i => images[i]).ToList();
                    ContactSheet.Save(path, cells, columns: (int)Math.Ceiling(Math.Sqrt(cells.Count)), seeds.Select(x => $"seed {x}").ToList(),
                        scale: Math.Max(1, 256 / resolution), title: $"step {step}: {o.ValidationPrompt}");
                    sheets.Add(path);
                }
            }
            unet.train();
            if (o.TrainTextEncoder) textEncoder.train();
            lastValidation = step;
        }

        // 6. The loop.
        var lossOptions = new DreamBoothLossOptions(o.PriorLossWeight, o.SnrGamma, o.OffsetNoise);
        var recent = new Queue<double>();
        // The debiased moving average of the loss (as the plot's curve), carried over a resume by replaying the log.
        var smoothed = new DebiasedAverage();
        foreach (var r in log.Rows) smoothed.Add(r.Loss);
        // A run stopped at a validation step (its checkpoint comes first) resumes with the same weights: make the image it missed.
        if (o.ValidationPrompt is not null && step > 0 && step < maxSteps && step % o.ValidationSteps == 0 && !File.Exists(ValidationPath(step))) Validate();
        while (step < maxSteps)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                if (step > lastCheckpoint) SaveCheckpoint();
                WritePlot();
                cancellationToken.ThrowIfCancellationRequested();
            }
            var clock = Stopwatch.StartNew();
            double lossSum = 0, instanceSum = 0, priorSum = 0;
            int micro = 0;
            bool endOfEpoch;
            do
            {
                using var scope = NewDisposeScope();
                (var examples, endOfEpoch) = data.Next(dataGenerator);
                var instanceRows = examples.Select(e => DataOrder.Pair(e, instances.Count, classes?.Count).Instance)
                    .Select(i => (i, PickVariant(instanceLatents, i, dataGenerator))).ToList();
                var classRows = classes is null ? [] : examples.Select(e => DataOrder.Pair(e, instances.Count, classes.Count).Class!.Value)
                    .Select(i => (i, PickVariant(classLatents!, i, dataGenerator))).ToList();
                var latents = classRows.Count == 0 ? instanceLatents.Sample(instanceRows, noiseGenerator)
                    : cat([instanceLatents.Sample(instanceRows, noiseGenerator), classLatents!.Sample(classRows, noiseGenerator)], 0);
                var rowPrompts = instanceRows.Select(r => instances.PromptOf(r.i)).Concat(classRows.Select(_ => o.ClassPrompt!)).ToList();
                var encoderHiddenStates = prompts.ForBatch(rowPrompts, o.TrainTextEncoder ? textEncoder : null);
                var (noise, timesteps) = DreamBoothStep.SampleNoise(latents, noiseScheduler.NumTrainTimesteps, noiseGenerator, o.OffsetNoise);
                var result = DreamBoothStep.Compute(unet, noiseScheduler, latents, noise, timesteps, encoderHiddenStates, instanceRows.Count, lossOptions, o.ComputeDType);
                double loss = result.Loss.item<float>();
                if (!double.IsFinite(loss)) throw NonFinite("loss", loss, step + 1, data.Epoch, lastCheckpoint, outputDir, WritePlot);
                DreamBoothStep.Backward(result, parameters, o.GradientAccumulationSteps);
                lossSum += loss;
                instanceSum += result.InstanceLoss.item<float>();
                if (result.PriorLoss is not null) priorSum += result.PriorLoss.item<float>();
                micro++;
            }
            while (micro < o.GradientAccumulationSteps && !endOfEpoch);

            double lrFactor = schedule.Factor(step);
            double norm = DreamBoothStep.ApplyGradients(parameters, optimizer, o.MaxGradNorm, lrFactor);
            if (!double.IsFinite(norm)) throw NonFinite("gradient norm", norm, step + 1, data.Epoch, lastCheckpoint, outputDir, WritePlot);
            step++;
            double seconds = clock.Elapsed.TotalSeconds;
            var row = new TrainingLogRow(step, endOfEpoch ? data.Epoch - 1 : data.Epoch, lossSum / micro, instanceSum / micro,
                classes is null ? null : priorSum / micro, unetLr * lrFactor, norm, seconds);
            log.Append(row);
            smoothed.Add(row.Loss);
            recent.Enqueue(seconds);
            if (recent.Count > 20) recent.Dequeue();
            double perStep = recent.Average();
            Report(new TrainingProgress(TrainingPhase.Training, step, maxSteps, row.Loss, smoothed.Value, row.LearningRate, norm,
                perStep > 0 ? 1 / perStep : null, TimeSpan.FromSeconds(perStep * (maxSteps - step))));

            if (step % o.CheckpointingSteps == 0)
            {
                SaveCheckpoint();
                WritePlot();
            }
            if (o.ValidationPrompt is not null && step % o.ValidationSteps == 0) Validate();
        }

        // 7. Output.
        WritePlot();
        if (o.ValidationPrompt is not null && lastValidation != step) Validate();
        Report(new TrainingProgress(TrainingPhase.Saving, 0, 1));
        string modelPath;
        if (o.Lora)
        {
            modelPath = Path.Combine(outputDir, LoraWeights.FileName);
            LoraWeights.Save(modelPath, loraLayers, parameters.MasterTensors());
        }
        else
        {
            var trained = new Dictionary<string, IReadOnlyDictionary<string, Tensor>>
            {
                [LoraAdapters.Unet] = FullStateDict(unet, parameters, LoraAdapters.Unet),
            };
            if (o.TrainTextEncoder) trained[LoraAdapters.TextEncoder] = FullStateDict(textEncoder, parameters, LoraAdapters.TextEncoder);
            DiffusersOutput.Write(model, outputDir, trained, o.SaveDType);
            modelPath = outputDir;
        }
        Report(new TrainingProgress(TrainingPhase.Saving, 1, 1));
        return new TrainingResult(step, outputDir, modelPath, TrainingCheckpoint.List(outputDir).Select(c => c.Path).ToList(), sheets, smoothed.Value);
    }

    private void Report(TrainingProgress p) => _progress?.Report(p);

    // diffusers' pipeline default: unet sample_size × VAE scale factor.
    /// <summary>
    /// Refuses, before any work, a LoRA rank above what any adapted layer can use and a resolution whose activations
    /// cannot fit in memory (<see cref="MemoryCheck"/>: the VAE encoding a --sample-batch-size batch, the UNet's first
    /// stage on a training batch).
    /// </summary>
    private static void CheckSizes(DreamBoothTrainingOptions o, ModelFolder model, UNet2DConditionConfig unetConfig, AutoencoderKLConfig vaeConfig, int resolution, int vaeFactor)
    {
        if (o.Lora)
        {
            // The update B·A of a W [out, in] has rank ≤ min(in, out); the attention projections' widths are the UNet's
            // block widths (and the text encoder's hidden size), so a larger rank only adds parameters and memory.
            int widest = unetConfig.BlockOutChannels.Max();
            if (o.TrainTextEncoder) widest = Math.Max(widest, model["text_encoder"].ReadConfig<CLIPTextConfig>().HiddenSize);
            if (o.LoraRank > widest)
                throw new DreamBoothException($"--lora-rank {o.LoraRank}: above the widest adapted layer of this model ({widest}); an update of a layer W [out, in] has rank at most min(in, out)");
        }
        int batch = o.TrainBatchSize * (o.WithPriorPreservation ? 2 : 1);
        double vae = MemoryCheck.Activations(vaeConfig.BlockOutChannels[0], resolution, resolution, o.SampleBatchSize, 4);
        double unet = MemoryCheck.Activations(unetConfig.BlockOutChannels[0], resolution / vaeFactor, resolution / vaeFactor, batch, 4);
        MemoryCheck.Require(Math.Max(vae, unet),
            vae >= unet ? $"--resolution {resolution} with --sample-batch-size {o.SampleBatchSize} (VAE encoding)" : $"--resolution {resolution} with a training batch of {batch} (UNet)",
            vae >= unet ? "choose a smaller --resolution or --sample-batch-size" : "choose a smaller --resolution or --train-batch-size");
    }

    private static int DefaultResolution(UNet2DConditionConfig unet, int vaeFactor, string modelPath)
    {
        var size = unet.SampleSize ?? throw new DreamBoothException($"{modelPath}: the UNet config has no sample_size; pass --resolution");
        var sides = size.Single is int single ? [single] : size.List!.Distinct().ToArray();
        if (sides.Length != 1) throw new DreamBoothException($"{modelPath}: the UNet sample_size {size} is not square; pass --resolution");
        return sides[0] * vaeFactor;
    }

    private static List<(string Name, TorchSharp.Modules.Parameter Param)> Group(TrainingParameters parameters, string component) =>
        parameters.Parameters.Where(p => p.Component == component).Select(p => (p.Name, p.Master)).ToList();

    // Uniform over the image's cached variants; one draw per row, as the data pipeline's PickVariant.
    private static int PickVariant(LatentCache cache, int image, Generator generator)
    {
        using var t = randint(0L, cache.VariantCount(image), [1L], ScalarType.Int64, generator: generator);
        return (int)t.item<long>();
    }

    // The module's state dict with every trained tensor replaced by its float32 master.
    private static IReadOnlyDictionary<string, Tensor> FullStateDict(nn.Module module, TrainingParameters parameters, string component)
    {
        var masters = parameters.MasterTensors(component);
        return module.state_dict().ToDictionary(kv => kv.Key, kv => masters.TryGetValue(kv.Key, out var m) ? m : kv.Value, StringComparer.Ordinal);
    }

    /// <summary>
    /// Checks the output folder: missing or empty → fresh run; holding this run → resume (when asked) or an error saying
    /// how; holding anything else → error. Returns the checkpoint to resume from, or null.
    /// </summary>
    private string? PrepareOutputFolder(string outputDir, RunIdentity? saved, RunIdentity identity)
    {
        var o = _options;
        if (File.Exists(outputDir)) throw new DreamBoothException($"--output-dir {o.OutputDir}: is a file");
        AtomicFile.CheckWritableFolder(outputDir, "--output-dir", o.OutputDir);
        if (o.WithPriorPreservation) ClassImageGenerator.CheckFolder(o.EffectiveClassDataDir, o.NumClassImages);
        // The class image folder may live inside the output folder (the default), filled before the first run.
        var classDir = o.WithPriorPreservation ? Path.GetFullPath(o.EffectiveClassDataDir) : null;
        bool hasFiles = Directory.Exists(outputDir) && Directory.EnumerateFileSystemEntries(outputDir).Any(e => Path.GetFullPath(e) != classDir);
        if (hasFiles && saved is null)
            throw new DreamBoothException($"--output-dir {o.OutputDir}: is not empty and holds no training run of this tool; choose a new or empty folder (nothing was changed)");
        bool finished = File.Exists(Path.Combine(outputDir, ModelIndex.FileName)) || File.Exists(Path.Combine(outputDir, LoraWeights.FileName));
        bool saidSomething = finished || TrainingCheckpoint.List(outputDir).Count > 0;
        if (saved is not null && !saidSomething)
        {
            // A run that saved nothing (it failed or was stopped before its first checkpoint): there is nothing to keep or
            // continue, so this run takes the folder over, whatever its settings (a failed first try must not block the retry).
            // Its class images are kept for reuse, so they must have been made for the same class prompt, model and size.
            var classKeys = new[] { "model", "--class-prompt", "--resolution" };
            bool defaultClassDir = o.WithPriorPreservation && o.ClassDataDir is null;
            if (defaultClassDir && ClassImageGenerator.CountImages(o.EffectiveClassDataDir) > 0
                && classKeys.Any(k => identity.Values.GetValueOrDefault(k) != saved.Values.GetValueOrDefault(k)))
                throw new DreamBoothException($"--output-dir {o.OutputDir}: holds class images of an earlier run with another class prompt, model or resolution " +
                                              $"({o.EffectiveClassDataDir}); delete that folder, or pass --class-data-dir");
            if (identity.Differences(WithoutData(saved), "output folder").Count > 0)
                _info($"--output-dir {o.OutputDir}: the run there saved no checkpoint and no model; this run, with other settings, takes the folder over");
        }
        else if (saved is not null) identity.RequireSameAs(WithoutData(saved), $"--output-dir {o.OutputDir}", "output folder");
        string? resume = o.ResumeFromCheckpoint is null ? null : TrainingCheckpoint.Resolve(o.ResumeFromCheckpoint, outputDir);
        if (o.ResumeFromCheckpoint == "latest" && resume is null) _info($"no checkpoint in {o.OutputDir}; starting a new run");
        // A finished model first: the checkpoint advice below would continue the run and rewrite that model.
        if (saved is not null && resume is null && finished)
            throw new DreamBoothException($"--output-dir {o.OutputDir}: already holds the trained model of this run, which a new run would replace; choose a new folder " +
                                          "(or delete this one; --resume-from-checkpoint latest with a higher --max-train-steps continues it and rewrites the model)");
        if (saved is not null && resume is null && TrainingCheckpoint.List(outputDir).Count > 0)
            throw new DreamBoothException($"--output-dir {o.OutputDir}: already holds checkpoints of this run; continue it with --resume-from-checkpoint latest, or choose a new folder");
        Directory.CreateDirectory(outputDir);
        if (TrainingCheckpoint.RemoveDebris(outputDir) is var debris and > 0) _info($"removed {debris} unfinished checkpoint folder(s) of an interrupted run");
        if (AtomicFile.RemoveStaleTemps(outputDir) is var temps and > 0) _info($"removed {temps} temporary file(s) of an interrupted write");
        return resume;
    }

    private int Restore(string path, RunIdentity identity, TrainingParameters parameters, AdamW optimizer, DataOrder data, Generator dataGenerator, Generator noiseGenerator)
    {
        var c = TrainingCheckpoint.Load(path);
        try
        {
            identity.RequireSameAs(c.Identity, path, "checkpoint");
            var masters = parameters.MasterTensors();
            var missing = masters.Keys.Where(k => !c.Parameters.ContainsKey(k)).ToList();
            var extra = c.Parameters.Keys.Where(k => !masters.ContainsKey(k)).ToList();
            if (missing.Count + extra.Count > 0)
                throw new DreamBoothException($"{path}: trained parameters do not match this run ({missing.Count} missing, e.g. '{missing.FirstOrDefault()}'; {extra.Count} unexpected, e.g. '{extra.FirstOrDefault()}')");
            using (no_grad())
                foreach (var (key, master) in masters)
                {
                    var value = c.Parameters[key];
                    if (!value.shape.SequenceEqual(master.shape) || value.dtype != master.dtype)
                        throw new DreamBoothException($"{path}: '{key}' is {value.dtype} [{string.Join(", ", value.shape)}], the model has {master.dtype} [{string.Join(", ", master.shape)}]");
                    master.copy_(value);
                }
            parameters.CopyMastersToWorking();
            optimizer.LoadState(c.Optimizer, c.OptimizerSteps, path);
            if (!c.Generators.TryGetValue("data", out var d) || !c.Generators.TryGetValue("noise", out var n))
                throw new DreamBoothException($"{path}: random_states.safetensors lacks the data or noise generator state");
            dataGenerator.set_state(d);
            noiseGenerator.set_state(n);
            data.Restore(c.Data, path);
            return c.Step;
        }
        finally
        {
            foreach (var t in c.Parameters.Values.Concat(c.Optimizer.Values).Concat(c.Generators.Values)) t.Dispose();
        }
    }

    private DreamBoothException NonFinite(string what, double value, int step, int epoch, int lastCheckpoint, string outputDir, Action writePlot)
    {
        writePlot();
        var keep = lastCheckpoint > 0 ? $"the last good checkpoint is {Path.Combine(outputDir, TrainingCheckpoint.Prefix + lastCheckpoint)}" : "no checkpoint was written yet";
        return new DreamBoothException($"{what} became {value} at step {step} (epoch {epoch}); stopped without saving, {keep}; try a lower --learning-rate or --mixed-precision no");
    }

    /// <summary>The options and base model that a checkpoint of this run depends on (see <see cref="RunIdentity"/>).</summary>
    private RunIdentity Identity(ModelFolder model, int resolution, long seed)
    {
        var o = _options;
        string B(bool b) => b ? "true" : "false";
        string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        var v = new Dictionary<string, string>
        {
            ["model"] = ModelFingerprint.Compute(model),
            ["--seed"] = I(seed),
            ["--instance-data-dir"] = Path.GetFullPath(o.InstanceDataDir),
            ["--instance-prompt"] = o.InstancePrompt,
            ["--with-prior-preservation"] = B(o.WithPriorPreservation),
            ["--resolution"] = I(resolution),
            ["--center-crop"] = B(o.CenterCrop),
            ["--random-flip"] = B(o.RandomFlip),
            ["--train-text-encoder"] = B(o.TrainTextEncoder),
            ["--lora"] = B(o.Lora),
            ["--train-batch-size"] = I(o.TrainBatchSize),
            ["--gradient-accumulation-steps"] = I(o.GradientAccumulationSteps),
        };
        if (!o.CenterCrop) v["--random-crops-per-image"] = I(o.RandomCropsPerImage);
        if (o.WithPriorPreservation)
        {
            v["--class-prompt"] = o.ClassPrompt!;
            v["--class-data-dir"] = Path.GetFullPath(o.EffectiveClassDataDir);
            v["--num-class-images"] = I(o.NumClassImages);
        }
        if (o.Lora)
        {
            var settings = LoraSettings.Create(o.LoraRank, o.LoraAlpha, o.LoraInit);
            v["--lora-rank"] = I(settings.Rank);
            v["--lora-alpha"] = settings.Alpha.ToString("R", CultureInfo.InvariantCulture);
            v["--lora-init"] = settings.Init == LoraInit.Gaussian ? "gaussian" : "kaiming";
        }
        return new RunIdentity(v);
    }

    private const string DataKeyPrefix = "data:";

    // The image files actually used (names and sizes), so that a resume with changed photos is refused.
    private static RunIdentity WithData(RunIdentity identity, ITrainingImageSet instances, ITrainingImageSet? classes)
    {
        static string Files(ITrainingImageSet set) => string.Join("|", Enumerable.Range(0, set.Count).Select(i =>
        {
            var path = set.PathOf(i);
            return $"{Path.GetFileName(path)}:{(File.Exists(path) ? new FileInfo(path).Length : -1)}";
        }));
        var v = identity.Values.ToDictionary(kv => kv.Key, kv => kv.Value);
        v[DataKeyPrefix + "instance images"] = Files(instances);
        if (classes is not null) v[DataKeyPrefix + "class images"] = Files(classes);
        return new RunIdentity(v);
    }

    private static RunIdentity WithoutData(RunIdentity identity) =>
        new(identity.Values.Where(kv => !kv.Key.StartsWith(DataKeyPrefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value));
}
