namespace DreamBooth.Training;

/// <summary>What a run is doing.</summary>
public enum TrainingPhase
{
    /// <summary>Generating missing class images with the frozen model.</summary>
    ClassImages,

    /// <summary>Encoding the images with the VAE (and the prompts with the frozen text encoder).</summary>
    Caching,

    /// <summary>Optimizer steps.</summary>
    Training,

    /// <summary>Generating validation images.</summary>
    Validation,

    /// <summary>Writing the trained model.</summary>
    Saving,
}

/// <summary>A progress report of <see cref="DreamBoothTrainer"/>.</summary>
/// <param name="Phase">The phase.</param>
/// <param name="Done">Units done in the phase (steps, images).</param>
/// <param name="Total">Units in the phase.</param>
/// <param name="Loss">Training: the step's loss.</param>
/// <param name="SmoothedLoss">Training: the debiased moving average of the loss.</param>
/// <param name="LearningRate">Training: the step's learning rate.</param>
/// <param name="GradNorm">Training: gradient norm before clipping.</param>
/// <param name="StepsPerSecond">Training: optimizer steps per second (recent average).</param>
/// <param name="Eta">Training: estimated time to the last step.</param>
public sealed record TrainingProgress(TrainingPhase Phase, int Done, int Total, double? Loss = null, double? SmoothedLoss = null,
    double? LearningRate = null, double? GradNorm = null, double? StepsPerSecond = null, TimeSpan? Eta = null);

/// <summary>What a finished run produced.</summary>
/// <param name="Steps">Optimizer steps done.</param>
/// <param name="OutputDir">The output folder.</param>
/// <param name="ModelPath">The diffusers folder (the output folder) or, for LoRA, the LoRA file.</param>
/// <param name="Checkpoints">The checkpoints left in the output folder.</param>
/// <param name="ValidationSheets">The contact sheets written.</param>
/// <param name="FinalLoss">The smoothed loss at the end.</param>
public sealed record TrainingResult(int Steps, string OutputDir, string ModelPath, IReadOnlyList<string> Checkpoints, IReadOnlyList<string> ValidationSheets, double? FinalLoss);
