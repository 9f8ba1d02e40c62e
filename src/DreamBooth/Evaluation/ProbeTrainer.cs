using System.Diagnostics;
using DreamBooth.Runtime;
using DreamBooth.TinyWorld;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Evaluation;

/// <summary>Settings of <see cref="ProbeTrainer.Train"/>; the defaults made the shipped probe.</summary>
public sealed record ProbeTrainingOptions
{
    public long Seed { get; init; } = 1;
    public int Steps { get; init; } = 1500;
    /// <summary>Subject instances per batch; each is rendered twice (two contexts/styles/placements), so the batch has twice as many images.</summary>
    public int InstancesPerBatch { get; init; } = 32;
    public double LearningRate { get; init; } = 2e-3;
    public double WeightDecay { get; init; } = 1e-4;
    public int WarmupSteps { get; init; } = 50;
    /// <summary>Weight of the identity (contrastive) loss against the sum of the head losses.</summary>
    public double IdentityWeight { get; init; } = 1.0;
    /// <summary>Temperature of the contrastive softmax.</summary>
    public double Temperature { get; init; } = 0.1;
    /// <summary>Probability that an instance is a near-copy of the previous one with exactly one identity attribute changed (a hard negative).</summary>
    public double HardNegativeProbability { get; init; } = 0.5;
    /// <summary>Share of training images left without degradations.</summary>
    public double CleanProbability { get; init; } = 0.2;
    public ProbeConfig Config { get; init; } = new();
}

/// <summary>Progress of probe training.</summary>
public sealed record ProbeTrainingProgress(int Step, int Steps, double Loss, double HeadLoss, double IdentityLoss, TimeSpan Elapsed);

/// <summary>
/// Trains the probe on freshly rendered world scenes (the full world: held-out combinations and the demo subject's
/// features included, since the probe is the measuring instrument, not the model under test). Each batch holds
/// instance pairs: two renders of one subject in different contexts, styles and placements; half of the odd instances
/// are hard negatives differing from their neighbour in one identity attribute (class, colour, pattern, pattern
/// colour, marking, marking colour or build). Loss = subject-mask BCE + Σ heads cross-entropy + λ · InfoNCE over the
/// identity embeddings (positive: the other render of the same instance; negatives: every other image in the batch).
/// <see cref="ProbeAugment"/> degrades a growing share of the images (none at first, 1 − CleanProbability from 40 % of
/// the steps on). Subject crops follow the true mask with jitter, and from 30 % of the steps on half of them follow
/// the predicted mask, as at inference.
/// Deterministic from the seed: batches depend on (seed, step) only and every random tensor comes from a seeded
/// generator (bit-identical reruns need the same thread count and CPU).
/// </summary>
public static class ProbeTrainer
{
    public static ProbeNetwork Train(ProbeTrainingOptions o, IProgress<ProbeTrainingProgress>? progress = null, CancellationToken ct = default)
    {
        var net = new ProbeNetwork(o.Config);
        using (var init = new Generator((ulong)o.Seed)) net.Initialize(init);
        net.train();
        using var optimizer = optim.AdamW(net.parameters(), o.LearningRate, weight_decay: o.WeightDecay);
        var clock = Stopwatch.StartNew();
        var next = Task.Run(() => RenderBatch(o, 0));          // rendering of batch s+1 overlaps training on batch s
        for (int step = 0; step < o.Steps; step++)
        {
            ct.ThrowIfCancellationRequested();
            var batch = next.Result;
            if (step + 1 < o.Steps) { int s = step + 1; next = Task.Run(() => RenderBatch(o, s)); }
            using var noGc = NoGcScope.Enter();             // see NoGcScope: TorchSharp's Scalar race
            using var scope = NewDisposeScope();
            var (headLoss, idLoss) = Loss(net, batch, step, o);
            var loss = headLoss + idLoss * o.IdentityWeight;
            optimizer.zero_grad();
            loss.backward();
            double lr = o.LearningRate * Schedule(step, o.Steps, o.WarmupSteps);
            foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
            optimizer.step();
            progress?.Report(new ProbeTrainingProgress(step + 1, o.Steps, loss.item<float>(), headLoss.item<float>(), idLoss.item<float>(), clock.Elapsed));
        }
        net.eval();
        return net;
    }

    /// <summary>The supervised loss (mask BCE + Σ heads) and the contrastive identity loss of one batch.</summary>
    private static (Tensor Heads, Tensor Identity) Loss(ProbeNetwork net, RenderedBatch batch, int step, ProbeTrainingOptions o)
    {
        int n = batch.Scenes.Length;
        using var gen = new Generator(WorldRandom.Mix((ulong)o.Seed ^ 0xA06u) + (ulong)step);
        var images = tensor(batch.Pixels, new long[] { n, 3, SceneRenderer.Size, SceneRenderer.Size }).mul(2).sub(1);
        var masks = tensor(batch.Masks, new long[] { n, 1, SceneRenderer.Size, SceneRenderer.Size });
        var (x, shifted) = ProbeAugment.Apply(images, masks, gen, CleanShare(step, o));

        // Crops follow the true mask with jitter; from 30 % of the steps on, half of them follow the predicted mask.
        var jitter = stack(new[] { rand(n, generator: gen).mul(0.25).add(0.9), rand(n, generator: gen).sub(0.5).mul(4), rand(n, generator: gen).sub(0.5).mul(4) }, 1);
        var usePredicted = rand(n, generator: gen).lt(step < o.Steps * 3 / 10 ? 0.0 : 0.5);
        var cropMask = shifted!;
        if (usePredicted.any().item<bool>())
            using (no_grad())
            {
                var predicted = nn.functional.interpolate(nn.functional.sigmoid(net.PredictMask(x)), new long[] { SceneRenderer.Size, SceneRenderer.Size }, mode: InterpolationMode.Bilinear, align_corners: false);
                cropMask = where(usePredicted.reshape(-1, 1, 1, 1), predicted, shifted!);
            }

        var outputs = net.Run(x, withMaps: false, cropMask, jitter);
        var maskTarget = nn.functional.adaptive_avg_pool2d(shifted!, new long[] { outputs.MaskLogits.shape[2], outputs.MaskLogits.shape[3] });
        var heads = nn.functional.binary_cross_entropy_with_logits(outputs.MaskLogits, maskTarget);
        foreach (var task in ProbeTasks.All)
        {
            var target = tensor(batch.Scenes.Select(s => (long)task.Target(s)).ToArray());
            if (target.ge(0).any().item<bool>())
                heads = heads + nn.functional.cross_entropy(outputs.Logits[task.Name], target, ignore_index: -1);
        }
        return (heads, ContrastiveLoss(outputs.Identity, o.Temperature));
    }

    /// <summary>NT-Xent over views ordered in pairs (2i, 2i+1): each view must pick its partner among all other views.</summary>
    internal static Tensor ContrastiveLoss(Tensor z, double temperature)
    {
        long n = z.shape[0];
        var sim = z.matmul(z.t()).div(temperature);
        sim = sim.masked_fill(eye(n, dtype: ScalarType.Bool), -1e9);
        var partner = arange(n).bitwise_xor(1);
        return nn.functional.cross_entropy(sim, partner);
    }

    /// <summary>Degradation curriculum: clean images only at first, then linearly down to <see cref="ProbeTrainingOptions.CleanProbability"/> at 40 % of training.</summary>
    private static double CleanShare(int step, ProbeTrainingOptions o) => Math.Max(o.CleanProbability, 1 - step / (0.4 * o.Steps));

    /// <summary>Linear warm-up, then cosine decay to 5 % of the peak.</summary>
    private static double Schedule(int step, int total, int warmup)
    {
        if (step < warmup) return (step + 1.0) / warmup;
        double t = (step - warmup) / Math.Max(1.0, total - warmup);
        return 0.05 + 0.95 * 0.5 * (1 + Math.Cos(Math.PI * t));
    }

    /// <summary>The scenes of training batch <paramref name="step"/>: instance pairs as described on the class.</summary>
    internal static SceneSpec[] BatchScenes(long seed, int step, int instances, double hardNegative)
    {
        var rng = WorldRandom.For(seed, step, stream: 0x9B0BE);
        var scenes = new SceneSpec[2 * instances];
        SubjectAppearance? previous = null;
        for (int j = 0; j < instances; j++)
        {
            var a = previous is not null && j % 2 == 1 && rng.Chance(hardNegative) ? Perturb(previous, ref rng) : SceneSampler.SampleAppearance(ref rng);
            var c0 = rng.PickEnum<WorldContext>();
            var c1 = rng.Chance(0.9) ? (WorldContext)((int)(c0 + 1 + rng.Below(5)) % 6) : c0;
            scenes[2 * j] = SceneSampler.SampleSceneOf(ref rng, a, c0, ProbeStyle(ref rng));
            scenes[2 * j + 1] = SceneSampler.SampleSceneOf(ref rng, a, c1, ProbeStyle(ref rng));
            previous = a;
        }
        return scenes;
    }

    /// <summary>Photos 70 %, paintings 20 %, sketches 10 % (sketches lose colour, so identity relies less on them).</summary>
    private static RenderStyle ProbeStyle(ref WorldRandom rng)
    {
        double u = rng.NextDouble();
        return u < 0.7 ? RenderStyle.Photo : u < 0.9 ? RenderStyle.Painting : RenderStyle.PencilSketch;
    }

    /// <summary>A copy of <paramref name="a"/> with exactly one identity attribute changed (and a new detail seed).</summary>
    internal static SubjectAppearance Perturb(SubjectAppearance a, ref WorldRandom rng)
    {
        while (true)
        {
            var b = rng.Below(7) switch
            {
                0 => a with { Class = rng.PickEnum<SubjectClass>() },
                1 => a with { Color = rng.PickEnum<WorldColor>() },
                2 => a with { Pattern = rng.PickEnum<Pattern>() },
                3 => a with { PatternColor = rng.PickEnum<WorldColor>() },
                4 => a with { Marking = rng.PickEnum<Marking>() },
                5 => a with { MarkingColor = rng.PickEnum<WorldColor>() },
                _ => a with { Variant = 1 - a.Variant },
            };
            b = (b with { Detail = rng.NextUInt32() }).Canonical();
            bool clash = b.Color == b.PatternColor && b.Pattern != Pattern.Plain || b.Marking != Marking.None && (b.MarkingColor == b.Color || b.Pattern != Pattern.Plain && b.MarkingColor == b.PatternColor);
            if (!clash && b with { Detail = a.Detail } != a) return b;
        }
    }

    /// <summary>A rendered training batch: planar pixels, subject masks and the scenes (labels).</summary>
    private sealed record RenderedBatch(float[] Pixels, float[] Masks, SceneSpec[] Scenes);

    private static RenderedBatch RenderBatch(ProbeTrainingOptions o, int step)
    {
        var scenes = BatchScenes(o.Seed, step, o.InstancesPerBatch, o.HardNegativeProbability);
        const int plane = SceneRenderer.Size * SceneRenderer.Size;
        var pixels = new float[scenes.Length * 3 * plane];
        var masks = new float[scenes.Length * plane];
        for (int i = 0; i < scenes.Length; i++)
        {
            var r = SceneRenderer.RenderWithMask(scenes[i]);
            r.Pixels.CopyTo(pixels, i * 3 * plane);
            r.SubjectMask.CopyTo(masks, i * plane);
        }
        return new RenderedBatch(pixels, masks, scenes);
    }
}
