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

    /// <summary>
    /// Calls <paramref name="module"/>(<paramref name="x"/>, <paramref name="context"/>), checkpointed when
    /// <paramref name="checkpoint"/> is true and something needs a gradient. When no input needs a gradient but the
    /// module has trainable parameters (e.g. LoRA adapters after frozen layers), a dummy input that requires grad is
    /// added: with a reentrant checkpoint an output whose inputs need no gradient would otherwise cut the parameters
    /// off the graph (torch.utils.checkpoint's "None of the inputs have requires_grad=True" trap).
    /// </summary>
    public static Tensor Call(nn.Module<Tensor, Tensor?, Tensor> module, Tensor x, Tensor? context, bool checkpoint)
    {
        if (!checkpoint || !is_grad_enabled()) return module.call(x, context);
        bool inputsNeedGrad = x.requires_grad || context is { requires_grad: true };
        if (inputsNeedGrad) return Run(a => module.call(a[0]!, a[1]), x, context);
        if (!module.parameters().Any(p => p.requires_grad)) return module.call(x, context);
        var anchor = zeros(1, dtype: x.dtype, device: x.device).requires_grad_(true);
        return Run(a => module.call(a[0]!, a[1]), x, context, anchor);
    }

    /// <summary>Turns checkpointing on or off in every block of <paramref name="model"/> that supports it (UNet and CLIP blocks).</summary>
    /// <returns>The number of blocks switched.</returns>
    public static int Enable(nn.Module model, bool enabled = true)
    {
        int n = 0;
        foreach (var m in model.modules().OfType<ISupportsGradientCheckpointing>())
        {
            m.GradientCheckpointing = enabled;
            n++;
        }
        return n;
    }

    private sealed class CheckpointFunction : autograd.MultiTensorFunction<CheckpointFunction>
    {

        public override string Name => "GradientCheckpoint";

        public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var block = (Func<Tensor?[], Tensor>)vars[0];
            var inputs = vars.Skip(1).Select(v => v as Tensor).ToArray();
            ctx.save_data("block", block);
            // Kept beyond the caller's dispose scope (blocks run inside one) until backward has used them.
            ctx.save_data("inputs", inputs.Select(t => t?.detach().DetachFromDisposeScope()).ToArray());
            using var _ = no_grad();
            return new List<Tensor> { block(inputs) };
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
        {
            var block = (Func<Tensor?[], Tensor>)ctx.get_data("block");
            var saved = (Tensor?[])ctx.get_data("inputs");
            var grads = new List<Tensor> { null! }; // none for the block delegate
            using (var scope = NewDisposeScope())
            {
                var inputs = saved.Select(t => t is null ? null : t.is_floating_point() ? t.detach().requires_grad_(true) : t).ToArray();
                using (enable_grad())
                {
                    var output = block(inputs);
                    // Accumulates into the block's parameters' .grad, as torch.utils.checkpoint (reentrant) does.
                    autograd.backward(new List<Tensor> { output }, new List<Tensor> { gradOutputs[0] });
                }
                // One gradient per input (null = no gradient); they leave this scope for autograd to consume.
                grads.AddRange(inputs.Select(t => t is null || !t.requires_grad ? null! : t.grad?.DetachFromDisposeScope()!));
            }
            foreach (var t in saved) t?.Dispose();
            return grads;
        }
    }
}
