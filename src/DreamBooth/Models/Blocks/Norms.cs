using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Blocks;

/// <summary>Normalization layers initialized as PyTorch initializes them.</summary>
public static class Norms
{
    /// <summary>
    /// An affine <c>GroupNorm</c> with weight 1 and bias 0. TorchSharp 0.107's <c>nn.GroupNorm</c> leaves its affine
    /// parameters uninitialized (arbitrary memory, often NaN), which matters whenever a model is trained from scratch
    /// or only partly loaded.
    /// </summary>
    public static GroupNorm GroupNorm(int numGroups, long numChannels, double eps)
    {
        var norm = nn.GroupNorm(numGroups, numChannels, eps, affine: true);
        using (no_grad())
        {
            norm.weight!.fill_(1.0);
            norm.bias!.zero_();
        }
        return norm;
    }
}
