using static TorchSharp.torch;

namespace DreamBooth.Models.Blocks;

/// <summary>The activation names diffusers accepts in configs (<c>act_fn</c>), as tensor functions.</summary>
public static class Activations
{
    /// <summary>Names accepted by <see cref="Get"/> (diffusers' <c>get_activation</c> table).</summary>
    public static IReadOnlyList<string> Supported { get; } = ["silu", "swish", "mish", "gelu", "relu"];

    /// <summary>The function for <paramref name="name"/>; throws <see cref="ArgumentException"/> for an unknown name
    /// (configs are validated before any module is built, so this is a programming error).</summary>
    public static Func<Tensor, Tensor> Get(string name) => name switch
    {
        "silu" or "swish" => x => nn.functional.silu(x),
        "mish" => x => nn.functional.mish(x),
        "gelu" => x => nn.functional.gelu(x),
        "relu" => x => nn.functional.relu(x),
        _ => throw new ArgumentException($"unsupported activation '{name}' (supported: {string.Join(", ", Supported)})", nameof(name)),
    };
}
