using DreamBooth.Models.Blocks;
using DreamBooth.Models.Clip;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Benchmarks;

/// <summary>
/// Counts the floating-point operations of the convolutions, linear layers and attention a forward pass runs, from
/// forward hooks on those modules (the shapes they actually see), and the work its backward pass implies.
/// <para>
/// Forward: a convolution 2·|out|·(C_in/groups)·k_h·k_w, a linear layer 2·|out|·in, attention 4·B·L_q·L_k·inner
/// (QKᵀ and the weighted sum over V; softmax, norms and elementwise work are not counted). Backward: every
/// convolution/linear computes its input gradient (1× its forward) and, when its weight is trained, its weight gradient
/// (another 1×); attention's backward is 2× its forward. So a fully trained model costs 3× its forward, a LoRA model
/// about 2×. Recomputation by gradient checkpointing is not counted (the figure is the model's work, not the
/// machine's). PyTorch's flop counter (torch.utils.flop_counter) counts the same way; it is not available in TorchSharp.
/// </para>
/// </summary>
public sealed class FlopCounter : IDisposable
{
    private readonly List<Action> _removers = [];

    /// <summary>Whether calls are counted now (e.g. on during the forward pass, off while backward recomputes).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Count every layer's backward as in training (input gradient, plus the weight gradient when the weight is trained),
    /// also where the forward runs without grad (a gradient-checkpointed block's first pass). Off: only where autograd records.
    /// </summary>
    public bool Training { get; set; }

    /// <summary>FLOPs of the forward passes counted so far.</summary>
    public double ForwardFlops { get; private set; }

    /// <summary>FLOPs the backward passes of the counted forwards imply (see the class description).</summary>
    public double BackwardFlops { get; private set; }

    /// <summary>Bytes of the convolution and linear outputs seen (a proxy for activation memory).</summary>
    public double OutputBytes { get; private set; }

    /// <summary>Forward + backward FLOPs.</summary>
    public double TotalFlops => ForwardFlops + BackwardFlops;

    /// <summary>Clears the counts.</summary>
    public void Reset()
    {
        ForwardFlops = BackwardFlops = OutputBytes = 0;
    }

    /// <summary>Hooks every convolution, linear layer and attention module of <paramref name="models"/>.</summary>
    public static FlopCounter Attach(params nn.Module[] models)
    {
        var counter = new FlopCounter();
        foreach (var model in models)
            foreach (var m in model.modules().Prepend(model).Distinct())
            {
                switch (m)
                {
                    case Conv2d conv:
                        counter.Keep(conv.register_forward_hook((module, input, output) =>
                        {
                            var w = conv.weight!;
                            counter.AddLayer(Conv2dFlops(output.shape, w.shape[1], w.shape[2], w.shape[3]), w.requires_grad, input.requires_grad, output);
                            return output;
                        }));
                        break;
                    case Linear linear:
                        counter.Keep(linear.register_forward_hook((module, input, output) =>
                        {
                            var w = linear.weight!;
                            counter.AddLayer(LinearFlops(output.shape, w.shape[1]), w.requires_grad, input.requires_grad, output);
                            return output;
                        }));
                        break;
                    case Attention attention:
                        counter.Keep(attention.register_forward_hook((module, hidden, context, output) =>
                        {
                            long queries = hidden.dim() == 4 ? hidden.shape[2] * hidden.shape[3] : hidden.shape[1];
                            long keys = context?.shape[1] ?? queries;
                            counter.AddAttention(AttentionFlops(hidden.shape[0], queries, keys, (long)attention.Heads * attention.HeadDim), output);
                            return output;
                        }));
                        break;
                    case CLIPAttention clip:
                        counter.Keep(clip.register_forward_hook((module, hidden, mask, output) =>
                        {
                            counter.AddAttention(AttentionFlops(hidden.shape[0], hidden.shape[1], hidden.shape[1], hidden.shape[2]), output);
                            return output;
                        }));
                        break;
                }
            }
        return counter;
    }

    /// <summary>Forward FLOPs of a convolution with output shape <paramref name="outputShape"/>, (C_in/groups)·k_h·k_w MACs per output.</summary>
    public static double Conv2dFlops(long[] outputShape, long inChannelsPerGroup, long kernelH, long kernelW) =>
        2.0 * Numel(outputShape) * inChannelsPerGroup * kernelH * kernelW;

    /// <summary>Forward FLOPs of a linear layer with <paramref name="inFeatures"/> inputs and output shape <paramref name="outputShape"/>.</summary>
    public static double LinearFlops(long[] outputShape, long inFeatures) => 2.0 * Numel(outputShape) * inFeatures;

    /// <summary>Forward FLOPs of softmax(QKᵀ)V: QKᵀ and PV, each 2·B·L_q·L_k·inner (inner = heads·head_dim).</summary>
    public static double AttentionFlops(long batch, long queries, long keys, long inner) => 4.0 * batch * queries * keys * inner;

    private static double Numel(long[] shape) => shape.Aggregate(1.0, (a, b) => a * b);

    private void Keep<T1, T2>(nn.HookableModule<T1, T2>.HookRemover handle) where T1 : Delegate where T2 : Delegate => _removers.Add(handle.remove);

    private void AddLayer(double flops, bool weightTrained, bool inputNeedsGrad, Tensor output)
    {
        if (!Enabled) return;
        ForwardFlops += flops;
        // The input gradient is needed unless nothing before this layer trains (e.g. conv_in); count it whenever a
        // gradient flows at all, as the first layer's share is negligible.
        if (Training || (is_grad_enabled() && (output.requires_grad || inputNeedsGrad || weightTrained))) BackwardFlops += flops + (weightTrained ? flops : 0);
        OutputBytes += output.NumberOfElements * output.ElementSize;
    }

    private void AddAttention(double flops, Tensor output)
    {
        if (!Enabled) return;
        ForwardFlops += flops;
        if (Training || (is_grad_enabled() && output.requires_grad)) BackwardFlops += 2 * flops;
    }

    /// <summary>Removes the hooks.</summary>
    public void Dispose()
    {
        foreach (var remove in _removers) remove();
        _removers.Clear();
    }
}
