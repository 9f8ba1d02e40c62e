using static TorchSharp.torch;

namespace DreamBooth.Pipelines;

/// <summary>The state after one scheduler step, passed to <see cref="GenerationRequest.OnStepEnd"/>.</summary>
/// <param name="FirstImage">Index of the batch's first image in the run.</param>
/// <param name="Step">0-based step index.</param>
/// <param name="StepCount">Steps per image.</param>
/// <param name="Timestep">The timestep the UNet was evaluated at.</param>
/// <param name="Latents">The latents after the step [B, C, h, w], float32; valid only during the callback.</param>
public sealed record DenoisingStep(int FirstImage, int Step, int StepCount, double Timestep, Tensor Latents);
