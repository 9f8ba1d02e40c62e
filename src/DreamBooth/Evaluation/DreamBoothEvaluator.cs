using DreamBooth.Data;
using DreamBooth.TinyWorld;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Evaluation;

/// <summary>
/// Computes the <see cref="EvaluationReport"/> from probe results: real subject photos, generated images of the
/// subject with their prompts, and optionally images generated from the class prompt alone (for PRES).
/// Subject and class metrics need real photos; without them only the prompt/attribute metrics and DIV are filled in
/// (the base model's evaluation on held-out prompts).
/// </summary>
public static class DreamBoothEvaluator
{
    /// <summary>Evaluates folders: <paramref name="realDir"/> (optional), <paramref name="generatedDir"/> (prompts required, see <see cref="PromptedImages"/>), <paramref name="classDir"/> (optional).</summary>
    public static EvaluationReport EvaluateFolders(Probe probe, string? realDir, string generatedDir, string? classDir, IProgress<int>? imagesDone = null, CancellationToken ct = default)
    {
        var real = realDir is null ? Array.Empty<PromptedImage>() : PromptedImages.Read(realDir, requirePrompts: false);
        var generated = PromptedImages.Read(generatedDir, requirePrompts: true);
        var cls = classDir is null ? Array.Empty<PromptedImage>() : PromptedImages.Read(classDir, requirePrompts: false);
        int done = 0;
        IReadOnlyList<ProbeResult> Run(IReadOnlyList<PromptedImage> items)
        {
            var results = new List<ProbeResult>(items.Count);
            foreach (var chunk in items.Chunk(32))
            {
                ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var batch = stack(chunk.Select(i => Resize(ImageIO.Load(i.Path), probe.Config.ImageSize)).ToArray());
                results.AddRange(probe.Analyze(batch));
                imagesDone?.Report(done += chunk.Length);
            }
            return results;
        }
        var realResults = Run(real);
        var genResults = Run(generated);
        var clsResults = Run(cls);
        return Evaluate(realResults,
            genResults.Zip(generated, (r, g) => (r, g.Prompt!)).ToList(),
            clsResults.Zip(cls, (r, c) => (r, c.Prompt)).ToList()) with { Probe = probe.Source ?? "" };
    }

    /// <summary>Evaluates in-memory images [3, H, W] in [0, 1] (e.g. straight from the pipeline).</summary>
    public static EvaluationReport Evaluate(Probe probe, IReadOnlyList<Tensor> real, IReadOnlyList<(Tensor Image, string Prompt)> generated, IReadOnlyList<(Tensor Image, string? Prompt)>? classImages = null)
    {
        IReadOnlyList<ProbeResult> Run(IEnumerable<Tensor> images)
        {
            var list = images.ToList();
            if (list.Count == 0) return Array.Empty<ProbeResult>();
            using var scope = NewDisposeScope();
            return probe.Analyze(stack(list.Select(t => Resize(t, probe.Config.ImageSize)).ToArray()));
        }
        var cls = classImages ?? Array.Empty<(Tensor, string?)>();
        return Evaluate(Run(real), Run(generated.Select(g => g.Image)).Zip(generated, (r, g) => (r, g.Prompt)).ToList(),
            Run(cls.Select(c => c.Image)).Zip(cls, (r, c) => (r, c.Prompt)).ToList()) with { Probe = probe.Source ?? "" };
    }

    /// <summary>The metrics from probe results (see <see cref="EvaluationReport"/> for the definitions).</summary>
    public static EvaluationReport Evaluate(IReadOnlyList<ProbeResult> real, IReadOnlyList<(ProbeResult Result, string Prompt)> generated, IReadOnlyList<(ProbeResult Result, string? Prompt)> classImages)
    {
        if (generated.Count == 0) throw new DreamBoothException("evaluation needs at least one generated image");
        var gen = generated.Select(g => g.Result).ToList();
        bool haveReal = real.Count > 0;

        var attributeHits = new Dictionary<string, (int Ok, int N)>();
        void Count(string name, bool ok)
        {
            var (o, n) = attributeHits.GetValueOrDefault(name);
            attributeHits[name] = (o + (ok ? 1 : 0), n + 1);
        }
        int promptOk = 0, classOk = 0, classN = 0, bothOk = 0, bothN = 0;
        var promptMatch = new bool[generated.Count];
        for (int i = 0; i < generated.Count; i++)
        {
            var (r, prompt) = generated[i];
            var want = PromptLabels.Parse(prompt);
            bool contextOk = want.Context is null || r.Context == want.Context;
            bool styleOk = r.Style == PromptLabels.ExpectedStyle(want);
            promptMatch[i] = contextOk && styleOk;
            if (promptMatch[i]) promptOk++;
            Count(ProbeTasks.Style, styleOk);
            if (want.Context is { } ctx) Count(ProbeTasks.Context, r.Context == ctx);
            if (want.Class is { } noun) { Count(ProbeTasks.Class, r.Class == noun); classN++; if (r.Class == noun) classOk++; }
            if (want.Color is { } color) Count(ProbeTasks.Color, r.Color == color);
            if (want.Pattern is { } pattern) Count(ProbeTasks.Pattern, r.Pattern == pattern);
            if (want.Marking is { } marking) Count(ProbeTasks.Marking, r.Marking == marking);
            if (want.Class is { } c2 && want.Context is { } x2) { bothN++; if (r.Class == c2 && r.Context == x2) bothOk++; }
        }

        var groups = generated.Select((g, i) => (g, i)).GroupBy(x => Normalize(x.g.Prompt)).ToList();
        var scores = new List<PromptScore>();
        foreach (var group in groups)
        {
            var idx = group.Select(x => x.i).ToList();
            var items = idx.Select(i => gen[i]).ToList();
            var want = PromptLabels.Parse(group.First().g.Prompt);
            scores.Add(new PromptScore(
                group.First().g.Prompt,
                items.Count,
                haveReal ? SubjectMetrics.MeanCross(items, real, ProbeResult.IdentitySimilarity) : null,
                idx.Count(i => promptMatch[i]) / (double)idx.Count,
                want.Class is { } c ? items.Count(r => r.Class == c) / (double)items.Count : null,
                items.Count > 1 ? Diversity(items) : null,
                Histogram(items.Select(r => WorldLabels.Name(r.Context))),
                Histogram(items.Select(r => WorldLabels.Name(r.Style)))));
        }

        var cls = classImages.Select(c => c.Result).ToList();
        return new EvaluationReport
        {
            RealImages = real.Count,
            GeneratedImages = generated.Count,
            ClassImages = classImages.Count,
            RealCeiling = real.Count > 1 ? SubjectMetrics.MeanPairwise(real, ProbeResult.IdentitySimilarity) : null,
            SubjectFidelity = haveReal ? SubjectMetrics.MeanCross(gen, real, ProbeResult.IdentitySimilarity) : null,
            PromptFidelity = promptOk / (double)generated.Count,
            ClassAccuracy = classN > 0 ? classOk / (double)classN : null,
            ClassAndContextAccuracy = bothN > 0 ? bothOk / (double)bothN : null,
            AttributeAccuracy = attributeHits.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => kv.Value.Ok / (double)kv.Value.N),
            Pres = haveReal && cls.Count > 0 ? SubjectMetrics.MeanCross(cls, real, ProbeResult.IdentitySimilarity) : null,
            Diversity = MeanOrNull(scores.Select(s => s.Diversity)),
            ClassDiversity = MeanOrNull(classImages.GroupBy(c => Normalize(c.Prompt ?? "")).Where(g => g.Count() > 1).Select(g => (double?)Diversity(g.Select(x => x.Result).ToList()))),
            Prompts = scores,
        };
    }

    /// <summary>
    /// Subject fidelity of the real photos' own reconstructions through <paramref name="vae"/> (encode to the posterior
    /// mean, decode): every image a latent diffusion model generates passes the decoder, so this is about the highest
    /// subject fidelity any fine-tuning of the UNet and text encoder can reach. Photos [3, H, W] in [0, 1].
    /// </summary>
    public static double AutoencoderBound(Probe probe, Models.Vae.AutoencoderKL vae, IReadOnlyList<Tensor> real)
    {
        if (real.Count == 0) throw new DreamBoothException("the autoencoder bound needs at least one real photo");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var photos = Batch(probe, real);
        return SubjectMetrics.MeanCross(probe.Analyze(Reconstruct(vae, photos)), probe.Analyze(photos), ProbeResult.IdentitySimilarity);
    }

    /// <summary>
    /// Subject fidelity of a perfect generator of the demo subject (<see cref="DemoSubject"/>; <paramref name="real"/> must be
    /// its photos, see <see cref="DemoSubject.AreItsPhotos"/>): the world's own renders of the subject for each prompt
    /// (<paramref name="perPrompt"/> each, in the prompt's context, or the photos' when it names none, and its rendition;
    /// poses, sizes and positions drawn from <paramref name="seed"/>), as they are and through <paramref name="vae"/>.
    /// The first is the most the probe grants a model that renders the subject exactly; it is below the real-images
    /// ceiling because the photos share one context and the identity embedding is not fully invariant to context and style.
    /// </summary>
    public static (double Renders, double ThroughVae) WorldRenderBound(Probe probe, Models.Vae.AutoencoderKL vae, IReadOnlyList<Tensor> real,
        IReadOnlyList<string> prompts, int perPrompt, long seed)
    {
        if (real.Count == 0) throw new DreamBoothException("the world-render bound needs at least one real photo");
        if (prompts.Count == 0 || perPrompt < 1) throw new DreamBoothException("the world-render bound needs at least one prompt and image");
        var scenes = new List<SceneSpec>();
        for (int p = 0; p < prompts.Count; p++)
        {
            var want = PromptLabels.Parse(prompts[p]);
            for (int k = 0; k < perPrompt; k++)
            {
                var rng = WorldRandom.For(seed, (long)p * perPrompt + k, stream: 0xB0D);
                scenes.Add(DemoSubject.In(want.Context ?? DemoSubject.Context, PromptLabels.ExpectedStyle(want), ref rng));
            }
        }
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var photos = probe.Analyze(Batch(probe, real));
        var renders = Batch(probe, scenes.Select(SceneRenderer.RenderTensor).ToList());
        return (SubjectMetrics.MeanCross(probe.Analyze(renders), photos, ProbeResult.IdentitySimilarity),
                SubjectMetrics.MeanCross(probe.Analyze(Reconstruct(vae, renders)), photos, ProbeResult.IdentitySimilarity));
    }

    /// <summary>Images [N, 3, H, W] in [0, 1] after a round trip through <paramref name="vae"/> (posterior mean), in [0, 1].</summary>
    public static Tensor Reconstruct(Models.Vae.AutoencoderKL vae, Tensor images)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var dtype = vae.parameters().First().dtype;
        return vae.Decode(vae.Encode(images.mul(2).sub(1).to(dtype)).Mode()).to(float32).clamp(-1, 1).add(1).div(2).MoveToOuterDisposeScope();
    }

    private static Tensor Batch(Probe probe, IReadOnlyList<Tensor> images) =>
        stack(images.Select(t => Resize(t, probe.Config.ImageSize)).ToArray()).to(float32);

    /// <summary>DIV of one prompt's images: mean pairwise perceptual distance.</summary>
    public static double Diversity(IReadOnlyList<ProbeResult> items) =>
        SubjectMetrics.MeanPairwise(items, (a, b) => ProbeResult.PerceptualDistance(a, b, Probe.PerceptualStages));

    /// <summary>The probe's view of an image: its centre square (torchvision's centre-crop origin, as training's
    /// <c>--center-crop</c>; stretching a 2:1 photo would change the subject's shape), resized to <paramref name="size"/>.</summary>
    private static Tensor Resize(Tensor image, int size)
    {
        int h = (int)image.shape[1], w = (int)image.shape[2], side = Math.Min(h, w);
        if (h != w)
        {
            var (left, top) = Data.ImageTransforms.CenterCropOrigin(w, h, side);
            image = image.narrow(1, top, side).narrow(2, left, side);
        }
        if (side == size) return image;
        return nn.functional.interpolate(image.unsqueeze(0), new long[] { size, size }, mode: InterpolationMode.Bilinear, align_corners: false, antialias: true).squeeze(0);
    }

    private static string Normalize(string prompt) => string.Join(' ', prompt.Trim().ToLowerInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries));

    private static double? MeanOrNull(IEnumerable<double?> values)
    {
        var v = values.Where(x => x is not null && !double.IsNaN(x.Value)).Select(x => x!.Value).ToList();
        return v.Count == 0 ? null : v.Average();
    }

    private static string Histogram(IEnumerable<string> labels) =>
        string.Join(", ", labels.GroupBy(l => l).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}"));
}
