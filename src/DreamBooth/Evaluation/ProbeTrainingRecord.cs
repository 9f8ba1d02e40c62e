namespace DreamBooth.Evaluation;

/// <summary>How a probe was made and how well it reads fresh renders (<c>training.json</c> in the probe folder).</summary>
public sealed record ProbeTrainingRecord
{
    public required string Command { get; init; }
    public required long Seed { get; init; }
    public required int Steps { get; init; }
    public required int InstancesPerBatch { get; init; }
    public required double LearningRate { get; init; }
    public required int TorchThreads { get; init; }
    public required double TrainingSeconds { get; init; }
    public required long Parameters { get; init; }
    /// <summary>Per-head accuracy on clean fresh renders (full world, all contexts and styles).</summary>
    public required IReadOnlyDictionary<string, double> Accuracy { get; init; }
    /// <summary>Per-head accuracy on the same renders after the training degradations (blur, noise, colour shifts).</summary>
    public required IReadOnlyDictionary<string, double> AccuracyAugmented { get; init; }
    /// <summary>Identity cosine: same instance in different contexts, and different instances of one class.</summary>
    public required double SameInstanceSimilarity { get; init; }
    public required double OtherInstanceSimilarity { get; init; }
    public required double InstanceRetrieval { get; init; }
    public required DemoSeparation Demo { get; init; }
}
