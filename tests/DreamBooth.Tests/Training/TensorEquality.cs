using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

internal static class TensorEquality
{
    /// <summary>torch.equal semantics: same shape, same dtype, every element equal (NaN never equals).</summary>
    public static bool Equal(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape) || a.dtype != b.dtype) return false;
        using var scope = NewDisposeScope();
        return a.eq(b).all().item<bool>();
    }
}
