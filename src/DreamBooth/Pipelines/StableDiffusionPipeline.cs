using System.Globalization;
using DreamBooth.Data;
using DreamBooth.Runtime;
using DreamBooth.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Pipelines;

/// <summary>
/// Text-to-image with Stable Diffusion 1.x/2.x, as diffusers' <c>StableDiffusionPipeline</c>:
/// prompts → CLIP tokenizer → text encoder (optional CLIP skip) → denoising loop with classifier-free guidance (the UNet
/// sees cat([uncond, cond]) in one batch; off at scale ≤ 1) → scheduler step → VAE decode of latents / scaling_factor
/// (+ shift_factor) → images in [0, 1].
/// <para>
/// Work done once per run: the text embeddings of every distinct prompt and negative prompt (one text-encoder batch);
/// once per batch: the UNet's conditioning tensor. Each step runs one UNet call inside its own dispose scope, so no tensor
/// outlives its step except the new latents. Inference runs under no_grad. The networks are used as they are (mode,
/// dtype, device); the sampler's arithmetic runs in float32 whatever the model dtype. Seeds: see <see cref="GenerationRequest"/>.
/// </para>
/// </summary>
public sealed class StableDiffusionPipeline
{
    private readonly Action<string>? _warn;

    /// <summary>A pipeline over <paramref name="model"/>; <paramref name="warn"/> receives warnings such as prompt truncation (once per distinct prompt).</summary>
    public StableDiffusionPipeline(StableDiffusionModel model, Action<string>? warn = null)
    {
        Model = model;
        _warn = warn;
    }

    /// <summary>The model it runs.</summary>
    public StableDiffusionModel Model { get; }

    /// <summary>
    /// Generates all images of <paramref name="request"/> and returns them together. For many images prefer
    /// <see cref="GenerateBatches"/>, which hands out each batch as soon as it is decoded.
    /// </summary>
    /// <exception cref="DreamBoothException">Bad settings (checked before any work).</exception>
    /// <exception cref="OperationCanceledException">Cancelled; checked before every step.</exception>
    public GenerationResult Generate(GenerationRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        request = request.WithSeed();
        var batches = new List<GeneratedBatch>();
        try
        {
            foreach (var batch in GenerateBatches(request, progress, cancellationToken)) batches.Add(batch);
            var images = cat(batches.Select(b => b.Images).ToList(), 0).DetachFromDisposeScope();
            var latents = request.ReturnLatents ? cat(batches.Select(b => b.Latents!).ToList(), 0).DetachFromDisposeScope() : null;
            return new GenerationResult(images, batches.SelectMany(b => b.Seeds).ToList(), batches.SelectMany(b => b.Prompts).ToList(),
                request.UsesGuidance ? batches.SelectMany(b => b.NegativePrompts!).ToList() : null, latents);
        }
        finally
        {
            foreach (var b in batches) b.Dispose();
        }
    }

    /// <summary>
    /// Generates the images of <paramref name="request"/> and writes each to <paramref name="folder"/> as a PNG with its
    /// A1111 parameters (<see cref="GenerationMetadata.For"/>), named <c>PREFIXpp-kk-seedS.png</c> (prompt pp, image kk of
    /// that prompt, its seed); returns the images [3, H, W] in [0, 1] in request order (the caller disposes them).
    /// <paramref name="imagesDone"/> receives the number of images written so far after each batch.
    /// </summary>
    public List<Tensor> GenerateToFolder(GenerationRequest request, string folder, string prefix, IProgress<int>? imagesDone = null,
        CancellationToken cancellationToken = default)
    {
        request = request.WithSeed();
        string sampler;
        using (var scheduler = CreateScheduler(request)) sampler = SamplerName.Of(scheduler);
        var batches = GenerateBatches(request, null, cancellationToken);
        Directory.CreateDirectory(folder);
        var images = new List<Tensor>();
        try
        {
            foreach (var batch in batches)
                using (batch)
                {
                    for (int k = 0; k < batch.Count; k++)
                    {
                        int index = batch.FirstIndex + k;
                        var image = batch.CopyImage(k);
                        images.Add(image);
                        var parameters = GenerationMetadata.For(request, index, sampler, Model.Name, (int)image.shape[2], (int)image.shape[1]);
                        string name = string.Create(CultureInfo.InvariantCulture,
                            $"{prefix}{index / request.ImagesPerPrompt:D2}-{index % request.ImagesPerPrompt:D2}-seed{batch.Seeds[k]}.png");
                        ImageIO.SavePng(Path.Combine(folder, name), image, [new(GenerationParameters.PngKey, parameters.Format())]);
                    }
                    imagesDone?.Report(batch.FirstIndex + batch.Count);
                }
            return images;
        }
        catch
        {
            foreach (var t in images) t.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Generates the images of <paramref name="request"/> batch by batch (<see cref="GenerationRequest.BatchSize"/>
    /// images each), yielding each batch once decoded; the caller disposes every batch. Settings are checked (and a
    /// missing seed is drawn) when this method is called, before any work; the work happens while enumerating. Enumerate it once.
    /// </summary>
    /// <exception cref="DreamBoothException">Bad settings.</exception>
    public IEnumerable<GeneratedBatch> GenerateBatches(GenerationRequest request, IProgress<GenerationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        request = request.WithSeed();
        request.Validate();
        var (height, width) = ImageSize(request);
        CheckMemory(width, height, request.BatchSize);
        // The sampler name and the step count are checked now; the run builds its own instance when enumerated.
        CreateScheduler(request).Dispose();
        return Run(request, height, width, progress, cancellationToken);
    }

    /// <summary>
    /// Encodes prompts like diffusers' <c>encode_prompt</c>: each prompt padded/truncated to the tokenizer's length
    /// (truncation is reported to the warning callback), the text encoder's last hidden state (or, with
    /// <paramref name="clipSkip"/> = k &gt; 0, the output of layer n − k after the final layer norm). With
    /// <paramref name="guidance"/> also the negative prompts' embeddings (null → ""), with the same clip skip: A1111 and
    /// ComfyUI skip layers for both sides of guidance, diffusers only for the prompt, so guided images with clip skip
    /// differ from diffusers' (without clip skip they match). Each distinct string is encoded once,
    /// all in one text-encoder batch.
    /// </summary>
    public PromptEmbeddings EncodePrompts(IReadOnlyList<string> prompts, IReadOnlyList<string>? negativePrompts, bool guidance, int clipSkip = 0)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count == 0) throw new DreamBoothException("prompts: at least one prompt is needed");
        string[]? negatives = null;
        if (guidance)
        {
            if (negativePrompts is not null && negativePrompts.Count != 1 && negativePrompts.Count != prompts.Count)
                throw new DreamBoothException($"negative prompts: give one, or one per prompt ({prompts.Count}); got {negativePrompts.Count}");
            negatives = prompts.Select((_, i) => negativePrompts is null ? "" : negativePrompts[negativePrompts.Count == 1 ? 0 : i]).ToArray();
        }

        var distinct = prompts.Concat(negatives ?? []).Distinct(StringComparer.Ordinal).ToList();
        var row = distinct.Select((p, i) => (p, i)).ToDictionary(x => x.p, x => (long)x.i, StringComparer.Ordinal);
        var device = Model.TextEncoder.parameters().First().device;

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var ids = Model.Tokenizer.EncodeBatch(distinct, _warn).to(device);
        var hidden = Model.TextEncoder.HiddenStateWithClipSkip(ids, clipSkip);
        Tensor Rows(IEnumerable<string> texts) => hidden.index_select(0, tensor(texts.Select(t => row[t]).ToArray(), device: device));
        var cond = Rows(prompts).MoveToOuterDisposeScope();
        var uncond = negatives is null ? null : Rows(negatives).MoveToOuterDisposeScope();
        return new PromptEmbeddings(cond, uncond);
    }

    /// <summary>
    /// Decodes latents [B, C, h, w] with the VAE after undoing the latent scaling (latents / scaling_factor, + shift_factor
    /// when the VAE has one): [B, 3, H, W] float32 on the CPU, not clamped (diffusers' <c>vae.decode(...).sample</c>).
    /// Images are decoded one at a time, which bounds the VAE's activation memory.
    /// </summary>
    public Tensor DecodeLatents(Tensor latents)
    {
        var vae = Model.Vae;
        var device = Model.Device;
        var dtype = vae.parameters().First().dtype;
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var z = latents.to(ScalarType.Float32) / vae.ScalingFactor;
        if (vae.ShiftFactor is double shift) z = z + shift;
        var images = new List<Tensor>();
        for (long i = 0; i < z.shape[0]; i++)
        {
            using var imageScope = NewDisposeScope();
            var one = vae.Decode(z.narrow(0, i, 1).to(dtype, device));
            images.Add(one.to(ScalarType.Float32).cpu().MoveToOuterDisposeScope());
        }
        return cat(images, 0).MoveToOuterDisposeScope();
    }

    /// <summary>Maps decoded images from [−1, 1] to [0, 1]: clamp(x / 2 + 0.5, 0, 1).</summary>
    public static Tensor ToImages(Tensor decoded)
    {
        using var scope = NewDisposeScope();
        return (decoded / 2 + 0.5).clamp(0, 1).MoveToOuterDisposeScope();
    }

    /// <summary>Refuses a size and batch whose activations cannot fit in memory (<see cref="MemoryCheck"/>): the UNet's
    /// first stage on the batch with its guidance copy, and the VAE decoder's last stage on one image.</summary>
    private void CheckMemory(int width, int height, int batchSize)
    {
        int f = Model.VaeScaleFactor, bytes = (int)Model.Unet.parameters().First().ElementSize;
        double unet = MemoryCheck.Activations(Model.Unet.Config.BlockOutChannels[0], width / f, height / f, 2L * batchSize, bytes);
        double vae = MemoryCheck.Activations(Model.Vae.Config.BlockOutChannels[0], width, height, 1, bytes);
        MemoryCheck.Require(Math.Max(unet, vae), $"a {width}x{height} image (batch size {batchSize})", "choose a smaller size or batch size");
    }

    private (int Height, int Width) ImageSize(GenerationRequest request)
    {
        int f = Model.VaeScaleFactor;
        var (height, width) = Model.DefaultSize;
        if (request.Latents is { } given)
        {
            // Without an explicit size, the given latents define it.
            height = request.Height ?? (int)given.shape[2] * f;
            width = request.Width ?? (int)given.shape[3] * f;
            if (given.shape[1] != Model.LatentChannels || given.shape[2] * f != height || given.shape[3] * f != width)
                throw new DreamBoothException($"initial latents have shape [{string.Join(", ", given.shape)}] but {width}x{height} images need " +
                                              $"[{request.ImageCount}, {Model.LatentChannels}, {height / f}, {width / f}]");
        }
        else
        {
            height = request.Height ?? height;
            width = request.Width ?? width;
        }
        if (height % f != 0 || width % f != 0)
            throw new DreamBoothException($"size {width}x{height} is not a multiple of the VAE's scale factor {f}");
        int layers = Model.TextEncoder.Config.NumHiddenLayers;
        if (request.ClipSkip > layers)
            throw new DreamBoothException($"clip skip {request.ClipSkip} is out of range: the text encoder has {layers} layers, so it must be 0..{layers}");
        return (height, width);
    }

    private Scheduler CreateScheduler(GenerationRequest request)
    {
        var scheduler = Model.CreateScheduler(request.Scheduler);
        try
        {
            scheduler.SetTimesteps(request.Steps);
            if (scheduler is DDIMScheduler ddim) ddim.Eta = request.Eta;
            return scheduler;
        }
        catch
        {
            scheduler.Dispose();
            throw;
        }
    }

    private IEnumerable<GeneratedBatch> Run(GenerationRequest request, int height, int width,
        IProgress<GenerationProgress>? progress, CancellationToken cancellationToken)
    {
        PromptEmbeddings? embeddings = null;
        Scheduler? scheduler = null;
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            scheduler = CreateScheduler(request);
            embeddings = EncodePrompts(request.Prompts, request.NegativePrompts, request.UsesGuidance, request.ClipSkip);
            int total = request.ImageCount;
            int batchCount = (total + request.BatchSize - 1) / request.BatchSize;
            int modelCalls = scheduler.TimestepValues.Count; // the steps, or one more for PNDM (its timestep list repeats the second entry)
            for (int b = 0; b < batchCount; b++)
            {
                int first = b * request.BatchSize;
                int count = Math.Min(request.BatchSize, total - first);
                // Built fully before the yield: no dispose scope or no_grad state may stay open across it.
                var batch = GenerateBatch(request, scheduler, embeddings, first, count, height, width,
                    step => progress?.Report(new GenerationProgress(b, batchCount, step, modelCalls, first, total)), cancellationToken);
                yield return batch;
            }
        }
        finally
        {
            embeddings?.Dispose();
            scheduler?.Dispose();
        }
    }

    private GeneratedBatch GenerateBatch(GenerationRequest request, Scheduler scheduler, PromptEmbeddings embeddings, int first, int count,
        int height, int width, Action<int> reportStep, CancellationToken cancellationToken)
    {
        var unet = Model.Unet;
        var dtype = Model.DType;
        var device = Model.Device;
        bool guidance = request.UsesGuidance;
        var seeds = Enumerable.Range(first, count).Select(request.SeedOf).ToArray();
        var generators = seeds.Select(s => new Generator(unchecked((ulong)s), CPU)).ToArray();
        Tensor? context = null, latents = null;
        using var noGrad = no_grad();
        try
        {
            scheduler.SetTimesteps(request.Steps);
            long[] latentShape = [1, Model.LatentChannels, height / Model.VaeScaleFactor, width / Model.VaeScaleFactor];
            using (var setup = NewDisposeScope())
            {
                // The UNet's text conditioning for this batch, built once: rows cat([uncond, cond]) under guidance.
                var promptRows = tensor(Enumerable.Range(first, count).Select(i => (long)(i / request.ImagesPerPrompt)).ToArray(),
                    device: embeddings.PromptEmbeds.device);
                var cond = embeddings.PromptEmbeds.index_select(0, promptRows);
                var text = guidance ? cat([embeddings.NegativePromptEmbeds!.index_select(0, promptRows), cond], 0) : cond;
                context = text.to(dtype, device).DetachFromDisposeScope();

                var initial = request.Latents is { } given
                    ? given.narrow(0, first, count).to(ScalarType.Float32)
                    : cat(generators.Select(g => randn(latentShape, ScalarType.Float32, CPU, generator: g)).ToList(), 0);
                latents = (initial.to(device) * scheduler.InitNoiseSigma).DetachFromDisposeScope();
            }

            var timesteps = scheduler.TimestepValues;
            for (int i = 0; i < timesteps.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                double t = timesteps[i];
                using (var stepScope = NewDisposeScope())
                {
                    var input = guidance ? cat([latents, latents], 0) : latents;
                    input = scheduler.ScaleModelInput(input, t).to(dtype);
                    var prediction = unet.forward(input, scheduler.Timesteps[i], context).to(ScalarType.Float32);
                    if (guidance) prediction = ClassifierFreeGuidance.Combine(prediction, request.GuidanceScale, request.GuidanceRescale);
                    // Each image's step noise comes from its own generator (used only by stochastic samplers).
                    var noise = cat(generators.Select(g => randn(latentShape, ScalarType.Float32, CPU, generator: g)).ToList(), 0).to(device);
                    var next = scheduler.Step(prediction, t, latents, generator: null, noise: noise).PrevSample.DetachFromDisposeScope();
                    latents.Dispose();
                    latents = next;
                }
                request.OnStepEnd?.Invoke(new DenoisingStep(first, i, timesteps.Count, t, latents));
                reportStep(i + 1);
            }

            using var decodeScope = NewDisposeScope();
            var decoded = DecodeLatents(latents);
            // An overflow anywhere in sampling or decoding would otherwise become black pixels in a PNG, silently.
            if (!decoded.isfinite().all().item<bool>())
                throw new DreamBoothException($"images {first}–{first + count - 1}: sampling produced non-finite values (NaN or infinity); " +
                                              $"the guidance scale ({request.GuidanceScale.ToString(CultureInfo.InvariantCulture)}) or the model's weights are out of range");
            var images = ToImages(decoded).DetachFromDisposeScope();
            var finalLatents = request.ReturnLatents ? latents.cpu().clone().DetachFromDisposeScope() : null;
            return new GeneratedBatch(first, images, seeds,
                Enumerable.Range(first, count).Select(request.PromptOf).ToList(),
                guidance ? Enumerable.Range(first, count).Select(i => request.NegativePromptOf(i)!).ToList() : null,
                finalLatents);
        }
        finally
        {
            context?.Dispose();
            latents?.Dispose();
            foreach (var g in generators) g.Dispose();
        }
    }
}
