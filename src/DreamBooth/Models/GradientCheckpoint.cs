using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Models;

/// <summary>
/// Activation (gradient) checkpointing: runs a block's forward without keeping its intermediate activations, and
/// recomputes them during backward. TorchSharp has no torch.utils.checkpoint, so this is the reentrant variant built
/// on <see cref="autograd.MultiTensorFunction{T}"/>: forward under no_grad; backward re-runs the block with grad enabled
/// on detached inputs and back-propagates into the block's parameters and the inputs. Gradients are identical to the
/// plain forward when the block has no randomness (dropout is 0 in our training), which is the case here.
/// </summary>
public static class GradientCheckpoint
{
    /// <summary>
    /// Computes <paramref name="block"/>(<paramref name="inputs"/>) with checkpointing when grad mode is on and some input
    /// or parameter needs a gradient; otherwise just calls it. Inputs may be null (passed through to the block as null).
    /// </summary>
    public static Tensor Run(Func<Tensor?[], Tensor> block, params Tensor?[] inputs)
    {
        if (!is_grad_enabled()) return block(inputs);
        return CheckpointFunction.apply(new object[] { block }.Concat(inputs.Select(t => (object)t!)).ToArray())[0];
    }

    private sealed class CheckpointFunction : autograd.MultiTensorFunction<CheckpointFunction>
    {

        public override string Name => "GradientCheckpoint";

        public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var block = (Func<Tensor?[], Tensor>)vars[0];
            var inputs = vars.Skip(1).Select(v => v as Tensor).ToArray();
            ctx.save_data("block", block);
            ctx.save_data("inputs", inputs.Select(t => t?.detach()).ToArray());
            using var _ = no_grad();
            return new List<Tensor> { block(inputs) };
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
        {
            var block = (Func<Tensor?[], Tensor>)ctx.get_data("block");
            var saved = (Tensor?[])ctx.get_data("inputs");
            var inputs = saved.Select(t => t is null ? null : t.is_floating_point() ? t.detach().requires_grad_(true) : t).ToArray();
            using (enable_grad())
            {
                var output = block(inputs);
                // Accumulates into the block's parameters' .grad, as torch.utils.checkpoint (reentrant) does.
                autograd.backward(new List<Tensor> { output }, new List<Tensor> { gradOutputs[0] });
            }
            // One gradient per forward argument: none for the block delegate, then one per input (null = no gradient).
            var grads = new List<Tensor> { null! };
            grads.AddRange(inputs.Select(t => t?.grad!));
            return grads;
        }
    }
}
