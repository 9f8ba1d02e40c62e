namespace DreamBooth.Models;

/// <summary>
/// A block container (UNet down/mid/up block, CLIP encoder) whose inner resnet / transformer / encoder-layer calls can run
/// under <see cref="GradientCheckpoint"/>, like diffusers' <c>enable_gradient_checkpointing()</c> and transformers'
/// <c>gradient_checkpointing_enable()</c>. Switch a whole model with <see cref="GradientCheckpoint.Enable"/>.
/// </summary>
public interface ISupportsGradientCheckpointing
{
    /// <summary>When true (and grad mode is on), each inner block recomputes its activations during backward instead of keeping them.</summary>
    bool GradientCheckpointing { get; set; }
}
