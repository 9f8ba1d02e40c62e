using System.Globalization;
using System.Text;
using DreamBooth.IO;

namespace DreamBooth.Evaluation;

/// <summary>Measures a freshly trained probe and writes its record and README.</summary>
public static class ProbeReport
{
    /// <summary>Seed of the evaluation renders (disjoint from training streams).</summary>
    public const long EvaluationSeed = 12345;

    /// <summary>Measures <paramref name="probe"/> on fresh renders and returns its training record.</summary>
    public static ProbeTrainingRecord Measure(Probe probe, ProbeTrainingOptions options, string command, TimeSpan trainTime, int threads)
    {
        var clean = ProbeEvaluator.Measure(probe, EvaluationSeed, augmented: false);
        var augmented = ProbeEvaluator.Measure(probe, EvaluationSeed, augmented: true);
        var demo = ProbeEvaluator.Demo(probe);
        var record = new ProbeTrainingRecord
        {
            Command = command,
            Seed = options.Seed,
            Steps = options.Steps,
            InstancesPerBatch = options.InstancesPerBatch,
            LearningRate = options.LearningRate,
            TorchThreads = threads,
            TrainingSeconds = Math.Round(trainTime.TotalSeconds, 1),
            Parameters = probe.Network.parameters().Sum(p => p.numel()),
            Accuracy = Round(clean.HeadAccuracy),
            AccuracyAugmented = Round(augmented.HeadAccuracy),
            SameInstanceSimilarity = Math.Round(clean.SameInstance, 4),
            OtherInstanceSimilarity = Math.Round(clean.OtherInstance, 4),
            InstanceRetrieval = Math.Round(clean.Retrieval, 4),
            Demo = new DemoSeparation(Math.Round(demo.PhotoCeiling, 4), Math.Round(demo.SubjectElsewhere, 4), Math.Round(demo.OtherDogs, 4)),
        };
        return record;
    }

    /// <summary>Writes README.md describing the probe folder.</summary>
    public static void WriteReadme(string dir, ProbeTrainingRecord r)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Tiny-world probe").AppendLine();
        sb.AppendLine("The measuring instrument of `dreambooth evaluate`: a small CNN (`src/DreamBooth/Evaluation/ProbeNetwork.cs`) trained on");
        sb.AppendLine("fresh tiny-world renders. Its heads predict class, colour, pattern, pattern colour, marking, marking colour, context,");
        sb.AppendLine("rendition and build; its penultimate features are the image embedding; its identity head (trained with a");
        sb.AppendLine("same-instance-different-context contrastive loss) is the subject embedding (the DINO analogue).").AppendLine();
        sb.AppendLine("Made with (deterministic from the seed; bit-identical reruns need the same thread count and CPU):").AppendLine();
        sb.AppendLine("```bash").AppendLine("./" + r.Command).AppendLine("```").AppendLine();
        sb.AppendLine($"seed {r.Seed}, {r.Steps} steps of {r.InstancesPerBatch} instance pairs, {r.Parameters:N0} parameters, {r.TorchThreads} torch threads, {r.TrainingSeconds:0} s.").AppendLine();
        sb.AppendLine("Accuracy on fresh renders of the full world (clean / with the training degradations):").AppendLine();
        sb.AppendLine("| head | clean | degraded |").AppendLine("|---|---:|---:|");
        foreach (var (k, v) in r.Accuracy) sb.AppendLine(CultureInfo.InvariantCulture, $"| {k} | {v:0.000} | {r.AccuracyAugmented[k]:0.000} |");
        sb.AppendLine().AppendLine(CultureInfo.InvariantCulture,
            $"Identity cosine: same instance elsewhere {r.SameInstanceSimilarity:0.000}, other instance of the same class {r.OtherInstanceSimilarity:0.000}, instance retrieval {r.InstanceRetrieval:0.000}.");
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"Demo subject: photos among themselves {r.Demo.PhotoCeiling:0.000}, the subject in every context and style {r.Demo.SubjectElsewhere:0.000}, other dogs {r.Demo.OtherDogs:0.000}.");
        sb.AppendLine().AppendLine("Full record: `training.json`.");
        AtomicFile.WriteAllText(Path.Combine(dir, "README.md"), sb.ToString());
    }

    private static IReadOnlyDictionary<string, double> Round(IReadOnlyDictionary<string, double> d) => d.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 4));
}
