using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using DreamBooth.Models;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Pipelines;
using DreamBooth.Runtime;
using DreamBooth.Schedulers;
using DreamBooth.TinyWorld;
using DreamBooth.TinyWorld.Pretraining;
using DreamBooth.Tokenization;
using DreamBooth.Training;
using DreamBooth.Training.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Benchmarks;

/// <summary>
/// <c>dreambooth bench</c>: builds Stable Diffusion-shaped models with random weights and times, in this process and
/// after warm-up, the trainer's real step (<see cref="DreamBoothStep"/>, <see cref="TrainingParameters"/>,
/// <see cref="AdamW"/>, <see cref="GradientCheckpoint"/>, <see cref="LoraAdapters"/>), the guided UNet step and the
/// <see cref="StableDiffusionPipeline"/>'s image. Each case builds its own models and frees them, and is skipped with
/// a stated reason when its memory estimate exceeds what the machine has available.
/// </summary>
public sealed class BenchRunner
{
    private const string InstancePrompt = "a photo of sks dog";
    private const string ClassPrompt = "a photo of dog";

    private readonly BenchOptions _o;
    private readonly IProgress<BenchProgress>? _progress;
    private readonly Func<long?> _available;
    private readonly Dictionary<string, BenchCaseResult> _done = new(StringComparer.Ordinal);
    private double? _peakFp32, _peakBf16;
    private int _caseIndex;

    /// <param name="options">What to run.</param>
    /// <param name="progress">Receives progress.</param>
    /// <param name="availableMemory">Bytes the machine can still give (default /proc/meminfo MemAvailable); tests pass less.</param>
    public BenchRunner(BenchOptions options, IProgress<BenchProgress>? progress = null, Func<long?>? availableMemory = null)
    {
        options.Validate();
        _o = options;
        _progress = progress;
        _available = availableMemory ?? ProcessMemory.Available;
    }

    /// <summary>Runs the cases in <see cref="BenchCases.All"/> order; a case that throws is recorded as failed (cancellation stops the run).</summary>
    public BenchReport Run(CancellationToken cancellationToken = default)
    {
        var cases = BenchCases.All.Where(_o.Cases.Contains).ToList();
        var results = new List<BenchCaseResult>();
        for (_caseIndex = 0; _caseIndex < cases.Count; _caseIndex++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var name = cases[_caseIndex];
            Report(name, "building", 0, 1);
            BenchCaseResult result;
            try
            {
                // Each case starts from the memory it needs: earlier cases' freed tensors go back to the system first,
                // so MemAvailable (the skip check) and the per-case peak RSS are not inflated by them.
                GC.Collect();
                GC.WaitForPendingFinalizers();
                ProcessMemory.ReleaseFreedMemory();
                ProcessMemory.ResetPeak();
                result = RunCase(name, cancellationToken);
                if (result.Status == BenchCaseResult.Ok) result = result with { PeakRssBytes = ProcessMemory.PeakRss() };
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                result = new BenchCaseResult(name, Describe(name), BenchCaseResult.Failed, e.GetType().Name + ": " + e.Message.Split('\n')[0]);
            }
            finally
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
            _done[name] = result;
            results.Add(result);
        }
        return new BenchReport(_o.Models.Name, _o.Resolution, _o.Quick, _o.Reduced, get_num_threads(), _o.Warmup, _o.Iterations,
            AllocatorSetup.EffectiveAllocator(), _peakFp32, _peakBf16, results, BenchTargets.Evaluate(results, _o));
    }

    /// <summary>What one step of case <paramref name="name"/> is.</summary>
    public string Describe(string name)
    {
        int r = _o.Resolution;
        return name switch
        {
            BenchCases.MatmulFp32 or BenchCases.MatmulBf16 => $"{_o.MatmulSize}x{_o.MatmulSize} matmul",
            BenchCases.FullFp32 => $"full UNet, fp32, {r} px, 1+1 latents",
            BenchCases.FullFp32Ckpt => $"full UNet, fp32, gradient checkpointing, {r} px",
            BenchCases.FullBf16 => $"full UNet, bf16 mixed precision, {r} px",
            BenchCases.FullBf16Ckpt => $"full UNet, bf16 mixed, checkpointing, {r} px",
            BenchCases.LoraFp32 => $"LoRA rank 4, fp32, {r} px",
            BenchCases.LoraBf16 => $"LoRA rank 4, bf16 mixed, {r} px",
            BenchCases.TextEncoder => $"full UNet + text encoder, bf16 mixed, checkpointing, {r} px",
            BenchCases.GuidedFp32 => $"guided UNet step (CFG batch 2), fp32, {r} px",
            BenchCases.GuidedBf16 => $"guided UNet step (CFG batch 2), bf16, {r} px",
            BenchCases.ImageFp32 => $"{_o.ImageSteps}-step image (text, UNet, VAE), fp32, {r} px",
            BenchCases.ImageBf16 => $"{_o.ImageSteps}-step image (text, UNet, VAE), bf16, {r} px",
            BenchCases.TinyWorld => "tiny-world UNet full step, fp32, 64 px, 1+1 latents",
            BenchCases.RssDrift => $"RSS over {_o.RssDriftSteps} LoRA bf16 steps, {r} px",
            _ => name,
        };
    }

    private BenchCaseResult RunCase(string name, CancellationToken ct) => name switch
    {
        BenchCases.MatmulFp32 => Matmul(name, ScalarType.Float32),
        BenchCases.MatmulBf16 => Matmul(name, ScalarType.BFloat16),
        BenchCases.FullFp32 => Train(name, new TrainSetup(false, ScalarType.Float32, false, false), _o.Models, _o.Resolution, ct),
        BenchCases.FullFp32Ckpt => Train(name, new TrainSetup(false, ScalarType.Float32, true, false), _o.Models, _o.Resolution, ct),
        BenchCases.FullBf16 => Train(name, new TrainSetup(false, ScalarType.BFloat16, false, false), _o.Models, _o.Resolution, ct),
        BenchCases.FullBf16Ckpt => Train(name, new TrainSetup(false, ScalarType.BFloat16, true, false), _o.Models, _o.Resolution, ct),
        BenchCases.LoraFp32 => Train(name, new TrainSetup(true, ScalarType.Float32, false, false), _o.Models, _o.Resolution, ct),
        BenchCases.LoraBf16 => Train(name, new TrainSetup(true, ScalarType.BFloat16, false, false), _o.Models, _o.Resolution, ct),
        BenchCases.TextEncoder => Train(name, new TrainSetup(false, ScalarType.BFloat16, true, true), _o.Models, _o.Resolution, ct),
        BenchCases.RssDrift => Train(name, new TrainSetup(true, ScalarType.BFloat16, false, false), _o.Models, _o.Resolution, ct, _o.RssDriftSteps),
        BenchCases.TinyWorld => Train(name, new TrainSetup(false, ScalarType.Float32, false, false), TinyWorldModels(), 64, ct),
        BenchCases.GuidedFp32 => Guided(name, ScalarType.Float32, ct),
        BenchCases.GuidedBf16 => Guided(name, ScalarType.BFloat16, ct),
        BenchCases.ImageFp32 => Image(name, ScalarType.Float32, ct),
        BenchCases.ImageBf16 => Image(name, ScalarType.BFloat16, ct),
        _ => throw new ArgumentException($"unknown case {name}"),
    };

    private void Report(string name, string phase, int step, int steps) =>
        _progress?.Report(new BenchProgress(_caseIndex, _o.Cases.Count, name, phase, step, steps));

    private static BenchModels TinyWorldModels()
    {
        var arch = TinyWorldArchitecture.Default(TinyWorldVocabulary.Build());
        return new BenchModels("tiny-world", arch.Unet, arch.TextEncoder, arch.Vae, arch.Scheduler);
    }

    // ---- matmul peak ----

    private BenchCaseResult Matmul(string name, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(0);
        long n = _o.MatmulSize;
        var a = randn([n, n], generator: g).to(dtype);
        var b = randn([n, n], generator: g).to(dtype);
        int warmup = Math.Max(2, _o.Warmup), iterations = Math.Max(5, _o.Iterations);
        var samples = new List<double>();
        for (int i = 0; i < warmup + iterations; i++)
        {
            Report(name, i < warmup ? "warm-up" : "measuring", i + 1, warmup + iterations);
            var clock = Stopwatch.StartNew();
            using (var c = a.matmul(b)) { }
            if (i >= warmup) samples.Add(clock.Elapsed.TotalSeconds);
        }
        double median = Median(samples), flops = 2.0 * n * n * n;
        double gflops = flops / median / 1e9;
        if (dtype == ScalarType.Float32) _peakFp32 = gflops; else _peakBf16 = gflops;
        return new BenchCaseResult(name, Describe(name), BenchCaseResult.Ok, null, median, samples, flops / 1e9, gflops, 1.0);
    }

    // ---- training steps ----

    private sealed record TrainSetup(bool Lora, ScalarType DType, bool Checkpointing, bool TrainTextEncoder);

    /// <summary>
    /// Estimated bytes of a training case: weights, gradients and AdamW moments per trained parameter (fp32: 4 + 4 + 8;
    /// bf16 mixed: 2 + 2 working, 4 + 4 master, 8 moments), frozen weights in the compute dtype, and activations ≈ 3× the
    /// conv/linear outputs of one forward (÷ 2 in bf16; ≈ a fifth with checkpointing, which keeps block inputs only).
    /// </summary>
    public static double EstimateTrainingBytes(double unetParams, double textParams, double activationBytesFp32, bool lora, bool bf16, bool checkpointing, bool trainTextEncoder)
    {
        double perTrained = bf16 ? 20 : 16, perFrozen = bf16 ? 2 : 4;
        double weights = lora ? 4 * unetParams : perTrained * unetParams; // LoRA: the fp32 build before a bf16 conversion
        weights += trainTextEncoder && !lora ? perTrained * textParams : perFrozen * textParams;
        double activations = 3 * activationBytesFp32 * (bf16 ? 0.5 : 1) * (checkpointing ? 0.2 : 1);
        return weights + activations;
    }

    private BenchCaseResult Train(string name, TrainSetup s, BenchModels models, int resolution, CancellationToken ct, int? driftSteps = null)
    {
        if (models.IsSdxl)
            return Skip(name, "SDXL's added conditions (text_time) are not supported by the trainer");
        int latent = resolution / models.VaeScaleFactor;
        // Census: parameter counts and one forward's output bytes, from an fp32 build (freed before the case builds its own).
        var census = Census(models, latent, ct);
        if (census.Skip is { } why) return Skip(name, why);
        double estimate = EstimateTrainingBytes(census.UnetParams, census.TextParams, census.ActivationBytes, s.Lora, s.DType == ScalarType.BFloat16, s.Checkpointing, s.TrainTextEncoder);
        if (TooBig(estimate) is { } reason) return Skip(name, reason, estimate);

        using var tokenizerDir = new TokenizerFolder(models.TextEncoder);
        var tokenizer = ClipTokenizer.FromPretrained(tokenizerDir.Path);
        using var unet = new UNet2DConditionModel(models.Unet);
        using var textEncoder = new CLIPTextModel(models.TextEncoder);
        using var scheduler = new DDPMScheduler(models.Scheduler);
        using var initGenerator = new Generator(2);
        using var noiseGenerator = new Generator(1);
        foreach (var p in unet.parameters().Concat(textEncoder.parameters())) p.requires_grad_(false);

        // As DreamBoothTrainer.Run: cached prompts (frozen text encoder), adapters or trainable weights, train mode,
        // checkpointing, fp32 masters for bf16, AdamW.
        using var prompts = new TrainingPrompts(tokenizer, [InstancePrompt, ClassPrompt]);
        if (!s.TrainTextEncoder) prompts.Cache(textEncoder);
        var (_, modules) = TrainingParameters.MakeTrainable(unet, textEncoder, s.Lora ? LoraSettings.Create(4) : null,
            s.TrainTextEncoder, s.Checkpointing, initGenerator);
        using var parameters = TrainingParameters.Prepare(modules, s.DType);
        var groups = modules.Select(m => new OptimizerGroup(m.Item1,
            parameters.Parameters.Where(p => p.Component == m.Item1).Select(p => (p.Name, p.Master)).ToList(), 5e-6, 1e-2)).ToList();
        using var optimizer = new AdamW(groups);
        using var latents = randn([2, models.Unet.InChannels, latent, latent], generator: noiseGenerator);
        var lossOptions = new DreamBoothLossOptions();
        string[] rowPrompts = [InstancePrompt, ClassPrompt];

        FlopCounter? counter = FlopCounter.Attach(unet, textEncoder);
        counter.Training = true;
        var phases = new Dictionary<string, List<double>> { ["data"] = [], ["forward"] = [], ["backward"] = [], ["optimizer"] = [] };
        var samples = new List<double>();
        double? gflop = null, rssStart = null, rssEnd = null;
        int warmup = _o.Warmup, measured = driftSteps ?? _o.Iterations, total = warmup + measured;
        if (name == BenchCases.TinyWorld) measured = Math.Max(measured, 10);
        total = warmup + measured;
        try
        {
            for (int step = 0; step < total; step++)
            {
                ct.ThrowIfCancellationRequested();
                Report(name, step < warmup ? "warm-up" : "measuring", step + 1, total);
                counter?.Reset();
                if (counter is not null) counter.Enabled = true;
                using var scope = NewDisposeScope();
                var clock = Stopwatch.StartNew();
                var (noise, timesteps) = DreamBoothStep.SampleNoise(latents, scheduler.NumTrainTimesteps, noiseGenerator, lossOptions.OffsetNoise);
                double tData = clock.Elapsed.TotalSeconds;
                var encoderHiddenStates = prompts.ForBatch(rowPrompts, s.TrainTextEncoder ? textEncoder : null);
                var result = DreamBoothStep.Compute(unet, scheduler, latents, noise, timesteps, encoderHiddenStates, 1, lossOptions, s.DType);
                double loss = result.Loss.item<float>();
                double tForward = clock.Elapsed.TotalSeconds;
                if (counter is not null) counter.Enabled = false; // backward's recomputation is not model work
                DreamBoothStep.Backward(result, parameters);
                double tBackward = clock.Elapsed.TotalSeconds;
                DreamBoothStep.ApplyGradients(parameters, optimizer, 1.0, 1.0);
                double tEnd = clock.Elapsed.TotalSeconds;
                if (!double.IsFinite(loss)) throw new DreamBoothException($"{name}: the loss became {loss}");
                if (counter is not null)
                {
                    gflop = counter.TotalFlops / 1e9;
                    counter.Dispose();
                    counter = null;
                }
                if (step < warmup) continue;
                samples.Add(tEnd);
                phases["data"].Add(tData);
                phases["forward"].Add(tForward - tData);
                phases["backward"].Add(tBackward - tForward);
                phases["optimizer"].Add(tEnd - tBackward);
                if (step == warmup) rssStart = ProcessMemory.Rss();
                rssEnd = ProcessMemory.Rss();
            }
        }
        finally
        {
            counter?.Dispose();
        }
        var extra = new Dictionary<string, double>();
        if (name == BenchCases.TinyWorld) extra["steps_per_second"] = 1 / Median(samples);
        if (driftSteps is not null && rssStart is double a && rssEnd is double b)
        {
            extra["rss_start_bytes"] = a;
            extra["rss_end_bytes"] = b;
            extra["rss_drift_percent"] = 100 * (b - a) / a;
        }
        return Measured(name, samples, gflop, s.DType, estimate, phases.ToDictionary(kv => kv.Key, kv => Median(kv.Value)), extra);
    }

    private sealed record CensusResult(double UnetParams, double TextParams, double VaeParams, double ActivationBytes, double UnetForwardGflop, string? Skip);

    private readonly Dictionary<(string, int), CensusResult> _census = [];

    // Builds the fp32 models once per (models, latent size) to count parameters and the bytes of one batch-2 forward.
    private CensusResult Census(BenchModels models, int latent, CancellationToken ct)
    {
        if (_census.TryGetValue((models.Name, latent), out var known)) return known;
        double lowerBound = models.Unet.MinimumParameterCount() + models.TextEncoder.MinimumParameterCount() + models.Vae.MinimumParameterCount();
        if (TooBig(4 * lowerBound * 1.1) is { } reason)
            return _census[(models.Name, latent)] = new CensusResult(lowerBound, 0, 0, 0, 0, "building the fp32 models needs " + reason);
        ct.ThrowIfCancellationRequested();
        using var unet = new UNet2DConditionModel(models.Unet);
        using var text = new CLIPTextModel(models.TextEncoder);
        using var vae = new AutoencoderKL(models.Vae);
        static double Count(nn.Module m) => m.parameters().Sum(p => (double)p.numel());
        using var counter = FlopCounter.Attach(unet);
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            using var g = new Generator(0);
            var (sample, t, ehs, textEmbeds, timeIds) = UnetInputs(models, 2, latent, ScalarType.Float32, g);
            unet.forward(sample, t, ehs, textEmbeds, timeIds);
        }
        return _census[(models.Name, latent)] = new CensusResult(Count(unet), Count(text), Count(vae), counter.OutputBytes, counter.ForwardFlops / 1e9, null);
    }

    private static (Tensor Sample, Tensor Timesteps, Tensor Text, Tensor? TextEmbeds, Tensor? TimeIds) UnetInputs(BenchModels models, long batch, int latent, ScalarType dtype, Generator g)
    {
        var sample = randn([batch, models.Unet.InChannels, latent, latent], generator: g).to(dtype);
        var t = full([batch], 500L, ScalarType.Int64);
        var ehs = randn([batch, models.TextEncoder.MaxPositionEmbeddings, models.Unet.CrossAttentionDims[0]], generator: g).to(dtype);
        if (!models.IsSdxl) return (sample, t, ehs, null, null);
        var textEmbeds = randn([batch, models.TextEmbedsDim], generator: g).to(dtype);
        float side = latent * models.VaeScaleFactor;
        var timeIds = tensor(new[] { side, side, 0, 0, side, side }).repeat(batch, 1).to(dtype);
        return (sample, t, ehs, textEmbeds, timeIds);
    }

    // ---- sampling ----

    private BenchCaseResult Guided(string name, ScalarType dtype, CancellationToken ct)
    {
        int latent = _o.Resolution / _o.Models.VaeScaleFactor;
        var census = Census(_o.Models, latent, ct);
        if (census.Skip is { } why) return Skip(name, why);
        double estimate = 4 * census.UnetParams + census.ActivationBytes;
        if (TooBig(estimate) is { } reason) return Skip(name, reason, estimate);
        using var unet = new UNet2DConditionModel(_o.Models.Unet);
        unet.to(dtype);
        unet.eval();
        using var g = new Generator(0);
        using var inputScope = NewDisposeScope();
        var (sample, t, ehs, textEmbeds, timeIds) = UnetInputs(_o.Models, 2, latent, dtype, g);
        FlopCounter? counter = FlopCounter.Attach(unet);
        double? gflop = null;
        var samples = new List<double>();
        int total = _o.Warmup + _o.Iterations;
        try
        {
            for (int i = 0; i < total; i++)
            {
                ct.ThrowIfCancellationRequested();
                Report(name, i < _o.Warmup ? "warm-up" : "measuring", i + 1, total);
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var clock = Stopwatch.StartNew();
                // One step of classifier-free guidance, as the pipeline runs it: [uncond; cond] in one batch.
                var pred = unet.forward(sample, t, ehs, textEmbeds, timeIds).to(ScalarType.Float32);
                var chunks = pred.chunk(2);
                var guided = chunks[0] + 7.5 * (chunks[1] - chunks[0]);
                guided.sum().item<float>();
                if (counter is not null)
                {
                    gflop = counter.TotalFlops / 1e9;
                    counter.Dispose();
                    counter = null;
                }
                if (i >= _o.Warmup) samples.Add(clock.Elapsed.TotalSeconds);
            }
        }
        finally
        {
            counter?.Dispose();
        }
        return Measured(name, samples, gflop, dtype, estimate);
    }

    private BenchCaseResult Image(string name, ScalarType dtype, CancellationToken ct)
    {
        if (_o.Models.IsSdxl) return Skip(name, "the pipeline runs SD 1.x/2.x UNets only (SDXL needs a second text encoder)");
        int latent = _o.Resolution / _o.Models.VaeScaleFactor;
        var census = Census(_o.Models, latent, ct);
        if (census.Skip is { } why) return Skip(name, why);
        // Weights, the UNet's batch-2 activations, and the VAE decoder at full resolution (~4 GB at 512 px in fp32).
        double estimate = 4 * (census.UnetParams + census.TextParams + census.VaeParams) + census.ActivationBytes
                          + 512.0 * _o.Resolution * _o.Resolution * 4 * 8 * (dtype == ScalarType.BFloat16 ? 0.5 : 1);
        if (TooBig(estimate) is { } reason) return Skip(name, reason, estimate);
        using var tokenizerDir = new TokenizerFolder(_o.Models.TextEncoder);
        var tokenizer = ClipTokenizer.FromPretrained(tokenizerDir.Path);
        var textEncoder = new CLIPTextModel(_o.Models.TextEncoder);
        var unet = new UNet2DConditionModel(_o.Models.Unet);
        var vae = new AutoencoderKL(_o.Models.Vae);
        foreach (nn.Module m in new nn.Module[] { textEncoder, unet, vae })
        {
            m.to(dtype);
            m.eval();
        }
        using var model = new StableDiffusionModel(tokenizer, textEncoder, unet, vae, _o.Models.Scheduler, _o.Models.Name);
        var pipeline = new StableDiffusionPipeline(model);
        var request = new GenerationRequest
        {
            Prompts = [InstancePrompt],
            Steps = _o.ImageSteps,
            Width = _o.Resolution,
            Height = _o.Resolution,
            Seed = 0,
        };
        var progress = new SyncProgress<GenerationProgress>(p => Report(name, "denoising", p.Step, p.StepCount));
        using var counter = FlopCounter.Attach(textEncoder, unet, vae);
        var clock = Stopwatch.StartNew();
        using (var scope = NewDisposeScope())
        {
            var result = pipeline.Generate(request, progress, ct);
            result.Images.Dispose();
            result.Latents?.Dispose();
        }
        double seconds = clock.Elapsed.TotalSeconds;
        // One image: a single measured run (its 25 UNet steps are the repetitions the guided case measures).
        return Measured(name, [seconds], counter.TotalFlops / 1e9, dtype, estimate);
    }

    // ---- helpers ----

    private BenchCaseResult Measured(string name, List<double> samples, double? gflop, ScalarType dtype, double estimate,
        IReadOnlyDictionary<string, double>? profile = null, IReadOnlyDictionary<string, double>? extra = null)
    {
        double median = Median(samples);
        double? effective = gflop / median;
        double? peak = dtype == ScalarType.BFloat16 ? _peakBf16 : _peakFp32;
        return new BenchCaseResult(name, Describe(name), BenchCaseResult.Ok, null, median, samples, gflop, effective,
            effective / peak, null, estimate, profile, extra is { Count: > 0 } ? extra : null);
    }

    private BenchCaseResult Skip(string name, string reason, double? estimate = null) =>
        new(name, Describe(name), BenchCaseResult.Skipped, reason, EstimatedBytes: estimate);

    private string? TooBig(double estimate)
    {
        if (_available() is not long available) return null;
        double allowed = available * _o.MemoryHeadroom;
        return estimate <= allowed ? null
            : string.Create(CultureInfo.InvariantCulture, $"needs ~{estimate / 1e9:0.0} GB, {available / 1e9:0.0} GB available (MemAvailable)");
    }

    /// <summary>The median of <paramref name="values"/> (the mean of the middle two for an even count).</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToList();
        int n = sorted.Count;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    // A CLIP tokenizer for the random-weight text encoder: the tiny world's BPE vocabulary (its ids fit any CLIP
    // vocabulary), padded to the text encoder's max_position_embeddings like SD's tokenizer (77). No download.
    private sealed class TokenizerFolder : IDisposable
    {
        public string Path { get; }

        public TokenizerFolder(CLIPTextConfig textEncoder)
        {
            Path = Directory.CreateTempSubdirectory("dreambooth-bench-tokenizer-").FullName;
            TinyWorldVocabulary.Build().Write(Path);
            var configPath = System.IO.Path.Combine(Path, "tokenizer_config.json");
            var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
            config["model_max_length"] = textEncoder.MaxPositionEmbeddings;
            File.WriteAllText(configPath, config.ToJsonString());
        }

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); }
            catch (IOException) { }
        }
    }
}
