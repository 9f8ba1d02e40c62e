using DreamBooth.Models.Clip;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Models.Clip;

public class CLIPTextModelTests
{
    private static readonly long[] EosAt = [4, 7];
    private const long Length = 10;

    [Fact]
    public void State_dict_keys_are_the_transformers_keys_without_position_ids()
    {
        using var plain = new CLIPTextModel(TinyClip.Config());
        using var projected = new CLIPTextModelWithProjection(TinyClip.Config());
        var keys = plain.state_dict().Keys.ToList();

        keys.Should().Contain([
            "text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_embedding.weight",
            "text_model.encoder.layers.2.self_attn.q_proj.weight", "text_model.encoder.layers.2.self_attn.out_proj.bias",
            "text_model.encoder.layers.0.layer_norm1.weight", "text_model.encoder.layers.0.layer_norm2.bias",
            "text_model.encoder.layers.1.mlp.fc1.weight", "text_model.encoder.layers.1.mlp.fc2.bias",
            "text_model.final_layer_norm.weight"]);
        keys.Should().HaveCount(2 + 3 * 16 + 2).And.NotContain(k => k.Contains("position_ids"));
        projected.state_dict().Keys.Should().BeEquivalentTo(keys.Append("text_projection.weight"));
        projected.text_projection.weight!.shape.Should().Equal(8, 16);
        plain.text_model.encoder.layers[0].self_attn.q_proj.Should().BeAssignableTo<nn.Module<Tensor, Tensor>>();
    }

    [Fact]
    public void Backward_gives_gradients_that_match_finite_differences()
    {
        var config = TinyClip.Config();
        using var model = TinyClip.Randomize(new CLIPTextModelWithProjection(config), seed: 1);
        model.to(ScalarType.Float64).train();
        using var scope = NewDisposeScope();
        var ids = TinyClip.Ids(config, Length, EosAt, seed: 2);
        var mask = TinyClip.Mask(Length, EosAt);
        using var generator = new Generator(3, CPU);
        var wHidden = randn([2, Length, 16], ScalarType.Float64, generator: generator);
        var wEmbeds = randn([2, 8], ScalarType.Float64, generator: generator);
        Tensor Loss()
        {
            var output = model.forward(ids, mask);
            return (output.LastHiddenState * wHidden).sum() + (output.TextEmbeds! * wEmbeds).sum();
        }

        Loss().backward();

        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in parameters)
        {
            p.grad.Should().NotBeNull(name);
            isfinite(p.grad!).all().item<bool>().Should().BeTrue(name);
            if (name != "text_model.embeddings.position_embedding.weight")
                p.grad!.abs().sum().item<double>().Should().BeGreaterThan(0, name);
        }
        // Positions past the input length get no gradient; used ones do.
        parameters["text_model.embeddings.position_embedding.weight"].grad![TensorIndex.Slice(Length)].abs().sum().item<double>().Should().Be(0);

        var probes = new (string Name, long[] Index)[]
        {
            ("text_model.encoder.layers.0.self_attn.q_proj.weight", [1, 3]),
            ("text_model.encoder.layers.1.self_attn.k_proj.weight", [5, 2]),
            ("text_model.encoder.layers.2.self_attn.v_proj.bias", [7]),
            ("text_model.encoder.layers.0.self_attn.out_proj.weight", [0, 9]),
            ("text_model.encoder.layers.1.mlp.fc1.weight", [20, 4]),
            ("text_model.encoder.layers.2.layer_norm1.weight", [6]),
            ("text_model.embeddings.position_embedding.weight", [3, 2]),
            ("text_model.embeddings.token_embedding.weight", [ids[1, 2].item<long>(), 5]),
            ("text_model.final_layer_norm.bias", [11]),
            ("text_projection.weight", [2, 13]),
        };
        const double h = 1e-6;
        foreach (var (name, index) in probes)
        {
            var p = parameters[name];
            var at = index.Select(i => TensorIndex.Single(i)).ToArray();
            double analytic = p.grad![at].item<double>();
            double numeric;
            using (no_grad())
            {
                double original = p[at].item<double>();
                p[at] = original + h;
                double plus = Loss().item<double>();
                p[at] = original - h;
                double minus = Loss().item<double>();
                p[at] = original;
                numeric = (plus - minus) / (2 * h);
            }
            Math.Abs(numeric).Should().BeGreaterThan(1e-4, $"{name} is a probe the loss depends on");
            analytic.Should().BeApproximately(numeric, 1e-6 + 1e-5 * Math.Abs(numeric), name);
        }
    }

    [Fact]
    public void Bfloat16_forward_runs_and_stays_close_to_float32()
    {
        var config = TinyClip.Config();
        using var source = TinyClip.Randomize(new CLIPTextModelWithProjection(config), seed: 4);
        var dir = TinyClip.WriteFolder(source, config);
        try
        {
            using var f32 = CLIPTextModelWithProjection.FromPretrained(dir);
            using var bf16 = CLIPTextModelWithProjection.FromPretrained(dir, ScalarType.BFloat16);
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var ids = TinyClip.Ids(config, Length, EosAt, seed: 5);

            var expected = f32.forward(ids, TinyClip.Mask(Length, EosAt), outputHiddenStates: true);
            var actual = bf16.forward(ids, TinyClip.Mask(Length, EosAt), outputHiddenStates: true);

            bf16.parameters().Should().OnlyContain(p => p.dtype == ScalarType.BFloat16);
            actual.LastHiddenState.dtype.Should().Be(ScalarType.BFloat16);
            actual.TextEmbeds!.dtype.Should().Be(ScalarType.BFloat16);
            Golden.AssertCloseRelMax(actual.LastHiddenState, expected.LastHiddenState, 0.05, "bf16 last_hidden_state");
            Golden.AssertCloseRelMax(actual.TextEmbeds, expected.TextEmbeds!, 0.05, "bf16 text_embeds");
            Golden.AssertCloseRelMax(bf16.HiddenStateWithClipSkip(ids, 1), f32.HiddenStateWithClipSkip(ids, 1), 0.05, "bf16 clip skip");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Clip_skip_k_is_final_layer_norm_of_hidden_state_minus_one_minus_k()
    {
        var config = TinyClip.Config();
        using var model = TinyClip.Randomize(new CLIPTextModel(config), seed: 6);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = TinyClip.Ids(config, Length, EosAt, seed: 7);
        var mask = TinyClip.Mask(Length, EosAt);
        var output = model.forward(ids, mask, outputHiddenStates: true);

        output.HiddenStates.Should().HaveCount(config.NumHiddenLayers + 1);
        for (int k = 0; k <= config.NumHiddenLayers; k++)
        {
            var expected = model.text_model.final_layer_norm.call(output.HiddenStates![^(1 + k)]);
            Golden.AssertClose(model.HiddenStateWithClipSkip(ids, k, mask), expected, 1e-6, 0, $"clip skip {k}");
        }
        Golden.AssertClose(model.HiddenStateWithClipSkip(ids, 0, mask), output.LastHiddenState, 1e-6, 0, "clip skip 0");
        var tooFar = () => model.HiddenStateWithClipSkip(ids, config.NumHiddenLayers + 1);
        tooFar.Should().Throw<DreamBoothException>().WithMessage("*clip skip 4*0..3*");
        var negative = () => model.HiddenStateWithClipSkip(ids, -1);
        negative.Should().Throw<DreamBoothException>();
    }

    [Fact]
    public void Pooling_uses_the_first_eos_or_legacy_argmax()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // Row 0: eos (99) at 2 and 5, a larger id (~ an added token) nowhere. Row 1: id 99 at 3 then a bigger id 120 at 6.
        var ids = tensor(new long[,] { { 98, 5, 99, 7, 8, 99, 99, 99 }, { 98, 5, 6, 99, 8, 9, 120, 99 } });
        foreach (var (eos, expectedRows) in new[] { (99, new long[] { 2, 3 }), (2, new long[] { 2, 6 }) })
        {
            var config = TinyClip.Config(eosTokenId: eos) with { VocabSize = 128 };
            using var model = TinyClip.Randomize(new CLIPTextModel(config), seed: 8);
            var output = model.forward(ids);
            for (int b = 0; b < 2; b++)
                Golden.AssertClose(output.PoolerOutput[b], output.LastHiddenState[b, expectedRows[b]], 0, 0, $"eos_token_id {eos}, row {b}");
        }
    }

    [Fact]
    public void Padding_mask_changes_only_positions_after_eos_and_stays_finite_when_it_masks_everything()
    {
        var config = TinyClip.Config();
        using var model = TinyClip.Randomize(new CLIPTextModel(config), seed: 9);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = TinyClip.Ids(config, Length, EosAt, seed: 10);

        var unmasked = model.forward(ids).LastHiddenState;
        var masked = model.forward(ids, TinyClip.Mask(Length, EosAt)).LastHiddenState;
        for (int b = 0; b < EosAt.Length; b++)
        {
            var upToEos = TensorIndex.Slice(0, EosAt[b] + 1);
            Golden.AssertClose(masked[b, upToEos], unmasked[b, upToEos], 1e-6, 0, $"row {b} up to eos");
            (masked[b, TensorIndex.Slice(EosAt[b] + 1)] - unmasked[b, TensorIndex.Slice(EosAt[b] + 1)]).abs().max().item<float>()
                .Should().BeGreaterThan(1e-4f, "padding after eos is no longer attended");
        }

        var allPadding = model.forward(ids, zeros_like(ids)).LastHiddenState;
        isfinite(allPadding).all().item<bool>().Should().BeTrue();
    }

    [Theory]
    [InlineData("quick_gelu")]
    [InlineData("gelu")]
    [InlineData("gelu_new")]
    [InlineData("gelu_pytorch_tanh")]
    [InlineData("gelu_fast")]
    [InlineData("relu")]
    [InlineData("silu")]
    public void Activations_follow_their_formulas(string name)
    {
        using var scope = NewDisposeScope();
        var x = linspace(-4, 4, 81, ScalarType.Float64);
        var tanhGelu = 0.5 * x * (1 + tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))));
        var expected = name switch
        {
            "quick_gelu" => x / (1 + exp(-1.702 * x)),
            "gelu" => 0.5 * x * (1 + special.erf(x / Math.Sqrt(2))),
            "relu" => x.clamp_min(0),
            "silu" => x / (1 + exp(-x)),
            _ => tanhGelu,
        };
        Golden.AssertClose(CLIPMLP.Activation(name)(x), expected, 1e-12, 0, name);
    }

    [Fact]
    public void Inputs_that_do_not_fit_the_model_give_clear_errors()
    {
        var config = TinyClip.Config();
        using var model = new CLIPTextModel(config);
        using var scope = NewDisposeScope();
        using var _ = no_grad();

        var outOfVocab = () => model.forward(tensor(new long[,] { { 98, 100, 99 } }));
        outOfVocab.Should().Throw<DreamBoothException>().WithMessage("*token id 100*vocab_size 100*");
        var negative = () => model.forward(tensor(new long[,] { { 98, -1, 99 } }));
        negative.Should().Throw<DreamBoothException>().WithMessage("*token id -1*");
        var tooLong = () => model.forward(zeros(1, 13, ScalarType.Int64));
        tooLong.Should().Throw<DreamBoothException>().WithMessage("*13 tokens*max_position_embeddings 12*");
        var floats = () => model.forward(zeros(1, 3));
        floats.Should().Throw<ArgumentException>().WithMessage("*int64*");
        var badMask = () => model.forward(zeros(1, 3, ScalarType.Int64), ones(1, 4, ScalarType.Int64));
        badMask.Should().Throw<ArgumentException>().WithMessage("*attention_mask*");
    }

    [Fact]
    public void FromPretrained_ignores_legacy_position_ids_but_stays_strict_otherwise()
    {
        var config = TinyClip.Config();
        using var source = TinyClip.Randomize(new CLIPTextModel(config), seed: 11);
        using var positionIds = arange(config.MaxPositionEmbeddings, ScalarType.Int64).unsqueeze(0);
        var withPositionIds = TinyClip.WriteFolder(source, config, new Dictionary<string, Tensor> { ["text_model.embeddings.position_ids"] = positionIds });
        var withStrayKey = TinyClip.WriteFolder(source, config, new Dictionary<string, Tensor> { ["text_model.embeddings.other_ids"] = positionIds });
        try
        {
            using var loaded = CLIPTextModel.FromPretrained(withPositionIds);
            loaded.training.Should().BeFalse();
            foreach (var (name, p) in source.named_parameters())
                Golden.AssertClose(loaded.get_parameter(name)!, p, 0, 0, name);

            var stray = () => CLIPTextModel.FromPretrained(withStrayKey);
            stray.Should().Throw<DreamBoothException>().WithMessage("*unexpected 1 key(s): text_model.embeddings.other_ids*");
            var projection = () => CLIPTextModelWithProjection.FromPretrained(withPositionIds);
            projection.Should().Throw<DreamBoothException>().WithMessage("*missing 1 key(s): text_projection.weight*");
        }
        finally
        {
            Directory.Delete(withPositionIds, recursive: true);
            Directory.Delete(withStrayKey, recursive: true);
        }
    }

    [Theory]
    [InlineData("""{"hidden_size": 30, "num_attention_heads": 4}""", "num_attention_heads")]
    [InlineData("""{"hidden_act": "tanh"}""", "hidden_act")]
    [InlineData("""{"num_hidden_layers": 0}""", "num_hidden_layers")]
    [InlineData("""{"attention_dropout": 0.1}""", "attention_dropout")]
    [InlineData("""{"vocab_size": "big"}""", "vocab_size")]
    public void Bad_configs_name_the_file_and_key(string json, string key)
    {
        var dir = Directory.CreateTempSubdirectory("clip-config-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), json);
            // A valid (empty) weights file, so the folder resolves and the config is what fails.
            DreamBooth.IO.Safetensors.Save(Path.Combine(dir, "model.safetensors"), new Dictionary<string, TorchSharp.torch.Tensor>());
            var load = () => CLIPTextModel.FromPretrained(dir);
            var ex = load.Should().Throw<DreamBoothException>().Which;
            ex.Message.Should().Contain("config.json").And.Contain(key).And.NotContain("\n");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Missing_weights_file_is_a_clear_error()
    {
        var dir = Directory.CreateTempSubdirectory("clip-noweights-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), "{}");
            var load = () => CLIPTextModel.FromPretrained(dir);
            load.Should().Throw<DreamBoothException>().WithMessage("*model.safetensors*");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
