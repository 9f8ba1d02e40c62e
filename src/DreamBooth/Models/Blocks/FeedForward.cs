using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Blocks;

/// <summary>
/// diffusers' <c>FeedForward</c> with the GEGLU activation used by every Stable Diffusion transformer block:
/// <c>net</c> = [GEGLU(dim → mult·dim), Dropout, Linear(mult·dim → dim)], so the keys are <c>net.0.proj</c> and <c>net.2</c>.
/// </summary>
public sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<nn.Module<Tensor, Tensor>> net;

    /// <param name="dim">Input channels.</param>
    /// <param name="dimOut">Output channels (default: <paramref name="dim"/>).</param>
    /// <param name="mult">Inner width multiplier.</param>
    /// <param name="dropout">Dropout probability after the activation.</param>
    public FeedForward(long dim, long? dimOut = null, int mult = 4, double dropout = 0.0) : base(nameof(FeedForward))
    {
        long inner = dim * mult;
        net = nn.ModuleList<nn.Module<Tensor, Tensor>>(new GEGLU(dim, inner), nn.Dropout(dropout), nn.Linear(inner, dimOut ?? dim));
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input;
        foreach (var layer in net) x = layer.call(x);
        return x.MoveToOuterDisposeScope();
    }
}
