using DreamBooth.Runtime;
using DreamBooth.TinyWorld;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Evaluation;

/// <summary>How well a probe reads the world, measured on fresh renders.</summary>
/// <param name="HeadAccuracy">Top-1 accuracy per head (over images where the head applies).</param>
/// <param name="SameInstance">Mean identity cosine between two renders of one instance in different contexts/styles/placements.</param>
/// <param name="OtherInstance">Mean identity cosine between renders of different instances of the same class.</param>
/// <param name="Retrieval">Share of first renders whose most similar second render (among all instances) is their own instance's.</param>
/// <param name="Images">Number of renders measured (two per instance).</param>
/// <param name="Augmented">Whether the renders went through <see cref="ProbeAugment"/> before the probe saw them.</param>
public sealed record ProbeAccuracy(IReadOnlyDictionary<string, double> HeadAccuracy, double SameInstance, double OtherInstance, double Retrieval, int Images, bool Augmented);

/// <summary>The demo subject's separation under the probe's identity embedding.</summary>
/// <param name="PhotoCeiling">Mean pairwise cosine among the subject photos (the real-images ceiling).</param>
/// <param name="SubjectElsewhere">Mean cosine of the subject rendered in every context and style to the photos.</param>
/// <param name="OtherDogs">Mean cosine of random other dogs (all contexts) to the photos.</param>
public sealed record DemoSeparation(double PhotoCeiling, double SubjectElsewhere, double OtherDogs);

/// <summary>Measures a probe on renders it has not seen (the seeds are disjoint from training's streams).</summary>
public static class ProbeEvaluator
{
    /// <summary>Head accuracies and identity statistics on <paramref name="instances"/> instance pairs from <paramref name="seed"/>.</summary>
    public static ProbeAccuracy Measure(Probe probe, long seed, int instances = 160, bool augmented = false)
    {
        long evalSeed = (long)WorldRandom.Mix(0xE7A1u ^ (ulong)seed);   // a stream training never uses
        var scenes = new List<SceneSpec>();
        for (int b = 0; scenes.Count < 2 * instances; b++)
            scenes.AddRange(ProbeTrainer.BatchScenes(evalSeed, b, 32, 0.5));
        scenes = scenes.Take(2 * instances).ToList();
        var results = Analyze(probe, scenes, augmented ? seed : null);

        var accuracy = new Dictionary<string, double>();
        foreach (var task in ProbeTasks.All)
        {
            int n = 0, ok = 0;
            for (int i = 0; i < scenes.Count; i++)
            {
                int t = task.Target(scenes[i]);
                if (t < 0) continue;
                n++;
                if (results[i].Labels[task.Name] == t) ok++;
            }
            accuracy[task.Name] = n == 0 ? double.NaN : (double)ok / n;
        }
        double same = 0, other = 0;
        int otherCount = 0, retrieved = 0;
        for (int i = 0; i < instances; i++)
        {
            var a = results[2 * i];
            same += ProbeResult.IdentitySimilarity(a, results[2 * i + 1]);
            int best = -1;
            double bestSim = double.NegativeInfinity;
            for (int j = 0; j < instances; j++)
            {
                double sim = ProbeResult.IdentitySimilarity(a, results[2 * j + 1]);
                if (sim > bestSim) { bestSim = sim; best = j; }
                if (j != i && scenes[2 * i].Subject.Class == scenes[2 * j].Subject.Class) { other += sim; otherCount++; }
            }
            if (best == i) retrieved++;
        }
        return new ProbeAccuracy(accuracy, same / instances, otherCount == 0 ? double.NaN : other / otherCount, (double)retrieved / instances, scenes.Count, augmented);
    }

    /// <summary>Subject photos vs. the subject elsewhere vs. other dogs (ground-truth renders, 2 per context and style).</summary>
    public static DemoSeparation Demo(Probe probe, long seed = 7)
    {
        var photos = Analyze(probe, DemoSubject.Photos(), null);
        var rng = new WorldRandom((ulong)seed);
        var elsewhere = new List<SceneSpec>();
        var others = new List<SceneSpec>();
        foreach (var style in Enum.GetValues<RenderStyle>())
            foreach (var ctx in Enum.GetValues<WorldContext>())
                for (int k = 0; k < 2; k++)
                {
                    elsewhere.Add(DemoSubject.In(ctx, style, ref rng));
                    others.Add(SceneSampler.SampleSceneOf(ref rng, SceneSampler.SampleAppearance(ref rng, DemoSubject.Appearance.Class), ctx, style));
                }
        var e = Analyze(probe, elsewhere, null);
        var o = Analyze(probe, others, null);
        return new DemoSeparation(SubjectMetrics.MeanPairwise(photos, ProbeResult.IdentitySimilarity),
            SubjectMetrics.MeanCross(e, photos, ProbeResult.IdentitySimilarity), SubjectMetrics.MeanCross(o, photos, ProbeResult.IdentitySimilarity));
    }

    /// <summary>Renders and analyses scenes, optionally with the training augmentation (seeded).</summary>
    internal static IReadOnlyList<ProbeResult> Analyze(Probe probe, IReadOnlyList<SceneSpec> scenes, long? augmentSeed)
    {
        using var scope = NewDisposeScope();
        var images = stack(scenes.Select(SceneRenderer.RenderTensor).ToArray());
        if (augmentSeed is { } s)
        {
            using var noGc = NoGcScope.Enter();
            using var g = new Generator(WorldRandom.Mix((ulong)s ^ 0xA0u));
            images = ProbeAugment.Apply(images.mul(2).sub(1), g, cleanProbability: 0).add(1).div(2);
        }
        return probe.Analyze(images);
    }
}
