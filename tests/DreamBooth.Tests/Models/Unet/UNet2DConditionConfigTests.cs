using System.Text;
using System.Text.Json.Nodes;
using DreamBooth.IO;
using DreamBooth.Models.Unet;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Models.Unet;

public class UNet2DConditionConfigTests
{
    private const string Source = "unet/config.json";

    private const string Base = """
        {"block_out_channels":[32,64],"layers_per_block":2,"norm_num_groups":32,"attention_head_dim":8,"cross_attention_dim":32,
         "down_block_types":["DownBlock2D","CrossAttnDownBlock2D"],"up_block_types":["CrossAttnUpBlock2D","UpBlock2D"]}
        """;

    private static UNet2DConditionConfig With(string key, string jsonValue)
    {
        var node = JsonNode.Parse(Base)!.AsObject();
        node[key] = JsonNode.Parse(jsonValue);
        return ConfigJson.Parse<UNet2DConditionConfig>(Encoding.UTF8.GetBytes(node.ToJsonString()), Source);
    }

    [Fact]
    public void The_base_config_and_diffusers_defaults_are_accepted()
    {
        var config = ConfigJson.Parse<UNet2DConditionConfig>(Encoding.UTF8.GetBytes(Base), Source);
        config.Validate(Source);
        var defaults = ConfigJson.Parse<UNet2DConditionConfig>("{}"u8, Source);
        defaults.Validate(Source);
        defaults.BlockOutChannels.Should().Equal(320, 640, 1280, 1280);
        defaults.TimeEmbedDim.Should().Be(1280);
        defaults.AttentionHeads.Should().Equal(8, 8, 8, 8);
    }

    [Theory]
    [InlineData("class_embed_type", "\"timestep\"")]
    [InlineData("num_class_embeds", "10")]
    [InlineData("addition_embed_type", "\"text\"")]
    [InlineData("time_embedding_type", "\"fourier\"")]
    [InlineData("time_embedding_act_fn", "\"silu\"")]
    [InlineData("timestep_post_act", "\"silu\"")]
    [InlineData("time_cond_proj_dim", "256")]
    [InlineData("resnet_time_scale_shift", "\"scale_shift\"")]
    [InlineData("resnet_skip_time_act", "true")]
    [InlineData("mid_block_type", "\"UNetMidBlock2DSimpleCrossAttn\"")]
    [InlineData("mid_block_type", "null")]
    [InlineData("down_block_types", "[\"DownBlock2D\",\"AttnDownBlock2D\"]")]
    [InlineData("up_block_types", "[\"CrossAttnUpBlock2D\",\"AttnUpBlock2D\"]")]
    [InlineData("down_block_types", "[\"DownBlock2D\"]")]
    [InlineData("num_attention_heads", "8")]
    [InlineData("only_cross_attention", "true")]
    [InlineData("only_cross_attention", "[false,true]")]
    [InlineData("dual_cross_attention", "true")]
    [InlineData("encoder_hid_dim", "32")]
    [InlineData("encoder_hid_dim_type", "\"text_proj\"")]
    [InlineData("attention_type", "\"gated\"")]
    [InlineData("cross_attention_norm", "\"group_norm\"")]
    [InlineData("class_embeddings_concat", "true")]
    [InlineData("act_fn", "\"tanh\"")]
    [InlineData("norm_num_groups", "null")]
    [InlineData("norm_num_groups", "24")]
    [InlineData("attention_head_dim", "[2,4,8]")]
    [InlineData("attention_head_dim", "5")]
    [InlineData("transformer_layers_per_block", "[1]")]
    [InlineData("layers_per_block", "0")]
    [InlineData("conv_in_kernel", "4")]
    [InlineData("addition_embed_type", "\"text_time\"")]
    [InlineData("sample_size", "0")]
    [InlineData("sample_size", "-8")]
    [InlineData("sample_size", "[64, 0]")]
    [InlineData("sample_size", "[]")]
    public void Unsupported_or_inconsistent_values_are_one_line_errors_naming_the_key(string key, string jsonValue)
    {
        var config = With(key, jsonValue);
        var act = () => config.Validate(Source);
        var message = act.Should().Throw<DreamBoothException>().Which.Message;
        message.Should().StartWith(Source + ": ").And.NotContain("\n");
        // addition_embed_type "text_time" without its dims names the missing dim key instead.
        if (key == "addition_embed_type" && jsonValue.Contains("text_time")) message.Should().Contain("addition_time_embed_dim");
        else message.Should().Contain($"'{key}'");
    }

    [Fact]
    public void Per_block_lists_resolve_like_diffusers()
    {
        var config = With("transformer_layers_per_block", "[1,2]") with { AttentionHeadDim = new IntOrList(null, [2, 4]) };
        config.Validate(Source);
        config.AttentionHeads.Should().Equal(2, 4);
        config.TransformerLayers.Should().Equal(1, 2);
        config.UpTransformerLayers.Should().Equal(2, 1);
        (config with { ReverseTransformerLayersPerBlock = new IntOrList(null, [3, 1]) }).UpTransformerLayers.Should().Equal(3, 1);
    }
}
