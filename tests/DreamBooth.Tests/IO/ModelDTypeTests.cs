using DreamBooth.IO;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.IO;

public class ModelDTypeTests
{
    [Theory]
    [InlineData("fp32", ScalarType.Float32)]
    [InlineData("float32", ScalarType.Float32)]
    [InlineData("FP32", ScalarType.Float32)]
    [InlineData("bf16", ScalarType.BFloat16)]
    [InlineData("bfloat16", ScalarType.BFloat16)]
    [InlineData(" BF16 ", ScalarType.BFloat16)]
    [InlineData("fp16", ScalarType.Float16)]
    [InlineData("float16", ScalarType.Float16)]
    public void Parses_the_cli_spellings(string text, ScalarType expected)
    {
        ModelDType.Parse(text).Should().Be(expected);
        ModelDType.Parse(ModelDType.Name(expected)).Should().Be(expected);
    }

    [Theory]
    [InlineData("fp8")]
    [InlineData("float")]
    [InlineData("half")]
    [InlineData("int8")]
    [InlineData("")]
    [InlineData(null)]
    public void Other_values_are_one_line_naming_the_option_and_the_choices(string? text)
    {
        var act = () => ModelDType.Parse(text, "--mixed-precision");
        act.Should().Throw<DreamBoothException>()
            .WithMessage($"--mixed-precision: unknown dtype '{text}' (use fp32|float32, bf16|bfloat16, fp16|float16)");
        ModelDType.TryParse(text, out _).Should().BeFalse();
    }

    [Fact]
    public void Name_rejects_non_model_types() =>
        ((Action)(() => ModelDType.Name(ScalarType.Int64))).Should().Throw<ArgumentException>();
}
