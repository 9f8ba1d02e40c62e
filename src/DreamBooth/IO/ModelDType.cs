using static TorchSharp.torch;

namespace DreamBooth.IO;

/// <summary>
/// The floating-point types a model can be loaded in, named as on the command line: <c>fp32</c>|<c>float32</c>,
/// <c>bf16</c>|<c>bfloat16</c>, <c>fp16</c>|<c>float16</c> (case-insensitive).
/// </summary>
public static class ModelDType
{
    /// <summary>The accepted spellings, for help texts.</summary>
    public const string Choices = "fp32|float32, bf16|bfloat16, fp16|float16";

    /// <summary>Parses a dtype name; <paramref name="source"/> (e.g. <c>--dtype</c>) names the option in the error.</summary>
    /// <exception cref="DreamBoothException">Any other value: one line naming the option, the value and the choices.</exception>
    public static ScalarType Parse(string? value, string source = "--dtype") =>
        TryParse(value, out var type) ? type : throw new DreamBoothException($"{source}: unknown dtype '{value}' (use {Choices})");

    /// <summary>Parses a dtype name; false for anything else.</summary>
    public static bool TryParse(string? value, out ScalarType type)
    {
        ScalarType? parsed = value?.Trim().ToLowerInvariant() switch
        {
            "fp32" or "float32" => ScalarType.Float32,
            "bf16" or "bfloat16" => ScalarType.BFloat16,
            "fp16" or "float16" => ScalarType.Float16,
            _ => null,
        };
        type = parsed ?? default;
        return parsed is not null;
    }

    /// <summary>The short name (<c>fp32</c>, <c>bf16</c>, <c>fp16</c>) of a supported type.</summary>
    /// <exception cref="ArgumentException">A type that is not one of the three.</exception>
    public static string Name(ScalarType type) => type switch
    {
        ScalarType.Float32 => "fp32",
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float16 => "fp16",
        _ => throw new ArgumentException($"{type} is not a model dtype ({Choices})", nameof(type)),
    };
}
