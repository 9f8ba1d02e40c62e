using static TorchSharp.torch;

namespace DreamBooth.Schedulers;

/// <summary>
/// The result of one <see cref="Scheduler.Step"/>: the sample at the previous (less noisy) timestep, and the predicted
/// clean sample x₀ where the scheduler computes one (DDPM, DDIM, Euler, Euler ancestral, DPM-Solver++; not PNDM).
/// Both tensors belong to the caller's dispose scope.
/// </summary>
public sealed record SchedulerStepOutput(Tensor PrevSample, Tensor? PredOriginalSample = null);
