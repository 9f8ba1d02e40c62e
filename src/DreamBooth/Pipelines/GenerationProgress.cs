namespace DreamBooth.Pipelines;

/// <summary>Progress of a generation run, reported after every denoising step.</summary>
/// <param name="Batch">0-based index of the current batch.</param>
/// <param name="BatchCount">Number of batches in the run.</param>
/// <param name="Step">Steps done in the current batch (1 … <paramref name="StepCount"/>).</param>
/// <param name="StepCount">Denoising steps (UNet calls) per batch: the requested steps, or one more for PNDM, whose first PLMS step takes two model calls (its timestep list repeats the second entry).</param>
/// <param name="ImagesDone">Images finished (decoded) before the current batch.</param>
/// <param name="ImageCount">Images in the run.</param>
public sealed record GenerationProgress(int Batch, int BatchCount, int Step, int StepCount, int ImagesDone, int ImageCount)
{
    /// <summary>Denoising steps done in the whole run.</summary>
    public int CompletedSteps => Batch * StepCount + Step;

    /// <summary>Denoising steps in the whole run (batches × steps).</summary>
    public int TotalSteps => BatchCount * StepCount;
}
