namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>The stages of <see cref="TinyWorldPretrainer"/>, in order.</summary>
public enum PretrainingStage
{
    /// <summary>Stage 1: the VAE learns to reconstruct world images.</summary>
    Vae,

    /// <summary>World images are encoded once to cached latents.</summary>
    Latents,

    /// <summary>Stage 2: the text encoder and the UNet learn the diffusion loss together.</summary>
    Diffusion,

    /// <summary>Writing the model folder.</summary>
    Saving,
}

/// <summary>A progress report of <see cref="TinyWorldPretrainer"/>.</summary>
/// <param name="Stage">The stage.</param>
/// <param name="Done">Units done in the stage (optimizer steps, or images for <see cref="PretrainingStage.Latents"/>).</param>
/// <param name="Total">Units in the stage.</param>
/// <param name="Loss">Training stages: the smoothed (debiased exponential moving average) loss.</param>
/// <param name="LearningRate">Training stages: the learning rate of the last step.</param>
/// <param name="UnitsPerSecond">Units per second over the recent past.</param>
/// <param name="Eta">Estimated time to the end of the stage.</param>
/// <param name="Message">A line worth printing (a checkpoint written, a stage reused), else null.</param>
public sealed record PretrainingProgress(PretrainingStage Stage, int Done, int Total, double? Loss = null, double? LearningRate = null,
    double? UnitsPerSecond = null, TimeSpan? Eta = null, string? Message = null);
