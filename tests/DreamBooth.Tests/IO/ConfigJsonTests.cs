using System.Text;
using DreamBooth.IO;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.IO;

public class ConfigJsonTests
{
    private sealed record Sample
    {
        public required int[] BlockOutChannels { get; init; }
        public IntOrList AttentionHeadDim { get; init; } = 8;
        public string? ActFn { get; init; }
        public double NormEps { get; init; } = 1e-5;
    }

    private static Sample Parse(string json) => ConfigJson.Parse<Sample>(Encoding.UTF8.GetBytes(json), "unet/config.json");

    [Fact]
    public void Reads_snake_case_keys_int_or_list_and_ignores_unknown_keys()
    {
        var s = Parse("""{"block_out_channels":[32,64],"attention_head_dim":[2,4],"act_fn":"silu","_class_name":"X","extra":{"a":1}}""");
        s.BlockOutChannels.Should().Equal(32, 64);
        s.AttentionHeadDim.Expand(2, "attention_head_dim").Should().Equal(2, 4);
        s.NormEps.Should().Be(1e-5);
        Parse("""{"block_out_channels":[1],"attention_head_dim":8}""").AttentionHeadDim.Expand(3, "x").Should().Equal(8, 8, 8);
    }

    [Theory]
    [InlineData("""{"block_out_channels":"32"}""", "block_out_channels")]
    [InlineData("""{"block_out_channels":[32],"attention_head_dim":"x"}""", "attention_head_dim")]
    [InlineData("""{"block_out_channels":[32],"norm_eps":"small"}""", "norm_eps")]
    [InlineData("""{"act_fn":"silu"}""", "block_out_channels")]
    [InlineData("""{"block_out_channels":[32]""", "unet/config.json")]
    [InlineData("""[1,2]""", "unet/config.json")]
    public void Bad_configs_give_one_line_naming_file_and_key(string json, string mentioned)
    {
        var act = () => Parse(json);
        var ex = act.Should().Throw<DreamBoothException>().Which;
        ex.Message.Should().StartWith("unet/config.json: ").And.Contain(mentioned).And.NotContain("\n");
    }
}
