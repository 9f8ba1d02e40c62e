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

    public enum Prediction { Epsilon, VPrediction, Sample }

    private sealed record Nested
    {
        public int Size { get; init; }
    }

    /// <summary>One property of every kind a config record uses.</summary>
    private sealed record Kinds
    {
        public required int InChannels { get; init; }
        public int LayersPerBlock { get; init; } = 2;
        public double NormEps { get; init; } = 1e-5;
        public float ScalingFactor { get; init; } = 0.18215f;
        public bool UseLinearProjection { get; init; }
        public string ActFn { get; init; } = "silu";
        public int[] BlockOutChannels { get; init; } = [32];
        public IReadOnlyList<string> DownBlockTypes { get; init; } = [];
        public IntOrList AttentionHeadDim { get; init; } = 8;
        public int? CrossAttentionDim { get; init; }
        public string? ClassEmbedType { get; init; }
        public Prediction PredictionType { get; init; }
        public Nested? Sub { get; init; }
    }

    private static Sample Parse(string json) => ConfigJson.Parse<Sample>(Encoding.UTF8.GetBytes(json), "unet/config.json");

    private static string Error<T>(string json, string source = "unet/config.json")
    {
        var act = () => ConfigJson.Parse<T>(Encoding.UTF8.GetBytes(json), source);
        var message = act.Should().Throw<DreamBoothException>().Which.Message;
        message.Should().StartWith(source + ": ").And.NotContain("\n");
        return message[(source.Length + 2)..];
    }

    [Fact]
    public void Reads_snake_case_keys_int_or_list_and_ignores_unknown_keys()
    {
        var s = Parse("""{"block_out_channels":[32,64],"attention_head_dim":[2,4],"act_fn":"silu","_class_name":"X","extra":{"a":1}}""");
        s.BlockOutChannels.Should().Equal(32, 64);
        s.AttentionHeadDim.Expand(2, "attention_head_dim").Should().Equal(2, 4);
        s.NormEps.Should().Be(1e-5);
        Parse("""{"block_out_channels":[1],"attention_head_dim":8}""").AttentionHeadDim.Expand(3, "x").Should().Equal(8, 8, 8);
    }

    [Fact]
    public void Reads_every_kind_of_field_comments_trailing_commas_nulls_and_enums()
    {
        var k = ConfigJson.Parse<Kinds>(Encoding.UTF8.GetBytes("""
            // diffusers never writes comments, but hand-edited configs have them
            {
              "in_channels": 4, /* required */
              "layers_per_block": 1,
              "norm_eps": 1e-06,
              "scaling_factor": 0.13025,
              "use_linear_projection": true,
              "act_fn": "gelu",
              "block_out_channels": [32, 64,],
              "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
              "attention_head_dim": [2, 4],
              "cross_attention_dim": null,
              "class_embed_type": null,
              "prediction_type": "v_prediction",
              "sub": {"size": 3},
              "unknown_future_key": {"deep": [1, {"x": null}]},
            }
            """), "unet/config.json");
        k.InChannels.Should().Be(4);
        k.LayersPerBlock.Should().Be(1);
        k.NormEps.Should().Be(1e-6);
        k.ScalingFactor.Should().Be(0.13025f);
        k.UseLinearProjection.Should().BeTrue();
        k.ActFn.Should().Be("gelu");
        k.BlockOutChannels.Should().Equal(32, 64);
        k.DownBlockTypes.Should().Equal("CrossAttnDownBlock2D", "DownBlock2D");
        k.AttentionHeadDim.Expand(2, "attention_head_dim").Should().Equal(2, 4);
        k.CrossAttentionDim.Should().BeNull();
        k.ClassEmbedType.Should().BeNull();
        k.PredictionType.Should().Be(Prediction.VPrediction);
        k.Sub!.Size.Should().Be(3);
    }

    [Fact]
    public void Utf8_bom_and_quoted_named_floats_are_accepted_bare_nan_is_a_syntax_error()
    {
        var bom = new byte[] { 0xEF, 0xBB, 0xBF }.Concat(Encoding.UTF8.GetBytes("""{"in_channels":4,"norm_eps":"NaN"}""")).ToArray();
        var k = ConfigJson.Parse<Kinds>(bom, "x.json");
        k.InChannels.Should().Be(4);
        double.IsNaN(k.NormEps).Should().BeTrue();
        Error<Kinds>("""{"in_channels":4,"norm_eps":NaN}""").Should().StartWith("not valid JSON at line 1, byte 29");
    }

    [Theory]
    // int
    [InlineData("""{"in_channels":"4"}""", "key 'in_channels' has the wrong type (integer expected, found \"4\")")]
    [InlineData("""{"in_channels":4.5}""", "key 'in_channels' has the wrong type (integer expected, found 4.5)")]
    [InlineData("""{"in_channels":1e12}""", "key 'in_channels' has the wrong type (integer expected, found 1e12)")]
    [InlineData("""{"in_channels":[4]}""", "key 'in_channels' has the wrong type (integer expected, found [4])")]
    // float / double
    [InlineData("""{"in_channels":4,"norm_eps":"1e-5"}""", "key 'norm_eps' has the wrong type (number expected, found \"1e-5\")")]
    [InlineData("""{"in_channels":4,"scaling_factor":true}""", "key 'scaling_factor' has the wrong type (number expected, found true)")]
    // bool
    [InlineData("""{"in_channels":4,"use_linear_projection":1}""", "key 'use_linear_projection' has the wrong type (true/false expected, found 1)")]
    [InlineData("""{"in_channels":4,"use_linear_projection":"true"}""", "key 'use_linear_projection' has the wrong type (true/false expected, found \"true\")")]
    // string
    [InlineData("""{"in_channels":4,"act_fn":5}""", "key 'act_fn' has the wrong type (string expected, found 5)")]
    [InlineData("""{"in_channels":4,"act_fn":{"a":1}}""", "key 'act_fn' has the wrong type (string expected, found an object)")]
    // lists
    [InlineData("""{"in_channels":4,"block_out_channels":"32"}""", "key 'block_out_channels' has the wrong type (list of integers expected, found \"32\")")]
    [InlineData("""{"in_channels":4,"block_out_channels":32}""", "key 'block_out_channels' has the wrong type (list of integers expected, found 32)")]
    [InlineData("""{"in_channels":4,"block_out_channels":[32,"64"]}""", "key 'block_out_channels' has the wrong type (list of integers expected; entry 1 is \"64\")")]
    [InlineData("""{"in_channels":4,"block_out_channels":[32,64.5]}""", "key 'block_out_channels' has the wrong type (list of integers expected; entry 1 is 64.5)")]
    [InlineData("""{"in_channels":4,"down_block_types":[1]}""", "key 'down_block_types' has the wrong type (list of strings expected; entry 0 is 1)")]
    // int-or-list
    [InlineData("""{"in_channels":4,"attention_head_dim":"8"}""", "key 'attention_head_dim' has the wrong type (integer or list of integers expected, found \"8\")")]
    [InlineData("""{"in_channels":4,"attention_head_dim":[2,"4"]}""", "key 'attention_head_dim' has the wrong type (integer or list of integers expected, found [2,\"4\"])")]
    [InlineData("""{"in_channels":4,"attention_head_dim":[2,4.5]}""", "key 'attention_head_dim' has the wrong type (integer or list of integers expected, found [2,4.5])")]
    // nullable, enum, nested object
    [InlineData("""{"in_channels":4,"cross_attention_dim":"768"}""", "key 'cross_attention_dim' has the wrong type (integer expected, found \"768\")")]
    [InlineData("""{"in_channels":4,"prediction_type":"x0"}""", "key 'prediction_type' has the wrong type (one of 'epsilon', 'v_prediction', 'sample' expected, found \"x0\")")]
    [InlineData("""{"in_channels":4,"prediction_type":1}""", "key 'prediction_type' has the wrong type (one of 'epsilon', 'v_prediction', 'sample' expected, found 1)")]
    [InlineData("""{"in_channels":4,"sub":5}""", "key 'sub' has the wrong type (object expected, found 5)")]
    [InlineData("""{"in_channels":4,"sub":{"size":"3"}}""", "key 'sub.size' has the wrong type (integer expected, found \"3\")")]
    public void Wrong_types_name_the_key_the_expected_type_and_the_value(string json, string expected) =>
        Error<Kinds>(json).Should().Be(expected);

    [Theory]
    [InlineData("""{"in_channels":null}""", "key 'in_channels' must not be null (integer expected)")]
    [InlineData("""{"in_channels":4,"norm_eps":null}""", "key 'norm_eps' must not be null (number expected)")]
    [InlineData("""{"in_channels":4,"use_linear_projection":null}""", "key 'use_linear_projection' must not be null (true/false expected)")]
    [InlineData("""{"in_channels":4,"act_fn":null}""", "key 'act_fn' must not be null (string expected)")]
    [InlineData("""{"in_channels":4,"block_out_channels":null}""", "key 'block_out_channels' must not be null (list of integers expected)")]
    [InlineData("""{"in_channels":4,"block_out_channels":[1,null]}""", "key 'block_out_channels' has the wrong type (list of integers expected; entry 1 is null)")]
    [InlineData("""{"in_channels":4,"attention_head_dim":null}""", "key 'attention_head_dim' must not be null (integer or list of integers expected)")]
    [InlineData("""{"in_channels":4,"prediction_type":null}""", "key 'prediction_type' must not be null (one of 'epsilon', 'v_prediction', 'sample' expected)")]
    public void Null_where_not_allowed(string json, string expected) => Error<Kinds>(json).Should().Be(expected);

    [Fact]
    public void Missing_required_keys_are_named()
    {
        Error<Kinds>("""{"layers_per_block":2}""").Should().Be("missing required key(s) 'in_channels'");
        Error<Sample>("""{"act_fn":"silu"}""").Should().Contain("missing required key(s)").And.Contain("block_out_channels");
    }

    private sealed record Positional(int InChannels, string ActFn, int LayersPerBlock = 2);

    [Fact]
    public void Positional_records_are_checked_the_same_way()
    {
        ConfigJson.Parse<Positional>("""{"in_channels":4,"act_fn":"silu"}"""u8, "c.json").LayersPerBlock.Should().Be(2);
        Error<Positional>("""{"in_channels":4}""", "c.json").Should().Be("missing required key(s) 'act_fn'");
        Error<Positional>("""{"in_channels":4,"act_fn":null}""", "c.json").Should().Be("key 'act_fn' must not be null (string expected)");
        Error<Positional>("""{"in_channels":"4","act_fn":"x"}""", "c.json").Should().Be("key 'in_channels' has the wrong type (integer expected, found \"4\")");
    }

    [Theory]
    [InlineData("""[1, 2]""", "expected a JSON object at the top level, found [1, 2]")]
    [InlineData("""5""", "expected a JSON object at the top level, found 5")]
    [InlineData("""null""", "config is null, expected a JSON object")]
    [InlineData("{\"in_channels\":4,\"act_fn\":\"x\"", "not valid JSON (it ends inside an object or list)")]
    [InlineData("""{"in_channels":4""", "not valid JSON at line 1, byte 17")]
    [InlineData("{\"in_channels\":4,\n\"act_fn\":\"silu\" \"x\":1}", "not valid JSON at line 2, byte 17")]
    [InlineData("""{"in_channels":4,}x""", "not valid JSON")]
    [InlineData("", "not valid JSON")]
    public void Malformed_json(string json, string expected) => Error<Kinds>(json).Should().StartWith(expected);

    [Fact]
    public void Invalid_utf8_is_rejected()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"in_channels":4,"act_fn":"é"}""");
        bytes[Array.IndexOf(bytes, (byte)0xC3)] = 0xFF;
        var act = () => ConfigJson.Parse<Kinds>(bytes, "c.json");
        act.Should().Throw<DreamBoothException>().WithMessage("c.json: not valid UTF-8 text");
    }

    [Fact]
    public void Deeply_nested_config_is_rejected_even_under_an_unknown_key()
    {
        string Nest(int depth) => new string('[', depth) + new string(']', depth);
        ConfigJson.Parse<Kinds>(Encoding.UTF8.GetBytes($$"""{"in_channels":4,"x":{{Nest(ConfigJson.MaxDepth - 1)}}}"""), "c.json").InChannels.Should().Be(4);
        Error<Kinds>($$"""{"in_channels":4,"x":{{Nest(ConfigJson.MaxDepth)}}}""").Should().Be($"nested deeper than {ConfigJson.MaxDepth} levels");
        Error<Kinds>($$"""{"in_channels":4,"x":{{Nest(10_000)}}}""").Should().Be($"nested deeper than {ConfigJson.MaxDepth} levels");
    }

    [Fact]
    public void Files_missing_folders_and_oversized_files()
    {
        using var dir = new TempDir();
        var missing = Path.Combine(dir.Path, "config.json");
        ((Action)(() => ConfigJson.Read<Kinds>(missing))).Should().Throw<DreamBoothException>().WithMessage($"{missing}: file not found");
        ((Action)(() => ConfigJson.Read<Kinds>(dir.Path))).Should().Throw<DreamBoothException>().WithMessage($"{dir.Path}: is a folder, expected a JSON file");

        var huge = dir.File("huge.json");
        using (var fs = File.Create(huge)) fs.SetLength(ConfigJson.MaxConfigBytes + 1);
        ((Action)(() => ConfigJson.Read<Kinds>(huge))).Should().Throw<DreamBoothException>()
            .WithMessage($"{huge}: {ConfigJson.MaxConfigBytes + 1} bytes is too large for a config file (limit {ConfigJson.MaxConfigBytes})");
        ((Action)(() => ConfigJson.ReadDocument(huge).Dispose())).Should().Throw<DreamBoothException>().WithMessage("*too large*");

        var path = dir.Text("unet/config.json", """{"in_channels":4,"block_out_channels":"32"}""");
        ((Action)(() => ConfigJson.Read<Kinds>(path))).Should().Throw<DreamBoothException>()
            .WithMessage($"{path}: key 'block_out_channels' has the wrong type (list of integers expected, found \"32\")");
    }

    [Fact]
    public void Write_then_read_round_trips_in_snake_case()
    {
        using var dir = new TempDir();
        var path = dir.File("config.json");
        var k = new Kinds { InChannels = 4, AttentionHeadDim = new IntOrList(null, [2, 4]), PredictionType = Prediction.VPrediction, CrossAttentionDim = 768 };
        ConfigJson.Write(path, k);
        var text = File.ReadAllText(path);
        text.Should().Contain("\"in_channels\": 4").And.Contain("\"prediction_type\": \"v_prediction\"");
        var back = ConfigJson.Read<Kinds>(path);
        back.InChannels.Should().Be(4);
        back.AttentionHeadDim.Expand(2, "attention_head_dim").Should().Equal(2, 4);
        back.PredictionType.Should().Be(Prediction.VPrediction);
        back.CrossAttentionDim.Should().Be(768);
    }

    [Fact]
    public void IntOrList_with_the_wrong_number_of_entries_names_the_key()
    {
        var v = new IntOrList(null, [2, 4]);
        var act = () => v.Expand(3, "attention_head_dim");
        act.Should().Throw<DreamBoothException>().WithMessage("config key 'attention_head_dim' has 2 entries but the model has 3 blocks");
    }
}
