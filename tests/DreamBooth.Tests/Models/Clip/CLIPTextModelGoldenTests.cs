using DreamBooth.Models.Clip;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Models.Clip;

/// <summary>CLIPTextModel / CLIPTextModelWithProjection against transformers' outputs (golden README §2, items 7–8).</summary>
public class CLIPTextModelGoldenTests
{
    private const double Atol = 1e-5;

    [Fact, Trait("Category", Golden.Category)]
    public void Sd1_text_encoder_reproduces_every_hidden_state_pooling_and_clip_skip()
    {
        using var scope = NewDisposeScope();
        using var model = CLIPTextModel.FromPretrained(Golden.PathOf("tiny-sd1", "text_encoder"));
        using var _ = no_grad();
        var expected = Golden.Outputs("text_encoder_sd1");
        var ids = expected["input_ids"];

        AssertEncoderOutputs(model.text_model, model.forward(ids, null, outputHiddenStates: true), ids, expected);
        AssertPlainForwardMatches(model.forward(ids), expected);
        Golden.AssertClose(model.HiddenStateWithClipSkip(ids, 1), expected["penultimate_after_final_ln"], Atol, 0, "clip skip 1");
    }

    [Fact, Trait("Category", Golden.Category)]
    public void Sd1_text_encoder_with_padding_mask_reproduces_transformers()
    {
        using var scope = NewDisposeScope();
        using var model = CLIPTextModel.FromPretrained(Golden.PathOf("tiny-sd1", "text_encoder"));
        using var _ = no_grad();
        var expected = Golden.Outputs("text_encoder_sd1_masked");

        var output = model.forward(expected["input_ids"], expected["attention_mask"]);

        output.HiddenStates.Should().BeNull();
        Golden.AssertClose(output.LastHiddenState, expected["last_hidden_state"], Atol, 0, "last_hidden_state (masked)");
        Golden.AssertClose(output.PoolerOutput, expected["pooler_output"], Atol, 0, "pooler_output (masked)");
    }

    [Fact, Trait("Category", Golden.Category)]
    public void Projection_gelu_encoder_reproduces_legacy_pooling_and_text_embeds()
    {
        using var scope = NewDisposeScope();
        using var model = CLIPTextModelWithProjection.FromPretrained(Golden.PathOf("clip-text-proj-gelu"));
        using var _ = no_grad();
        var expected = Golden.Outputs("text_encoder_proj_gelu");
        var ids = expected["input_ids"];

        var output = model.forward(ids, null, outputHiddenStates: true);

        AssertEncoderOutputs(model.text_model, output, ids, expected);
        Golden.AssertClose(output.TextEmbeds!, expected["text_embeds"], Atol, 0, "text_embeds");
        var plain = model.forward(ids);
        AssertPlainForwardMatches(plain, expected);
        Golden.AssertClose(plain.TextEmbeds!, expected["text_embeds"], Atol, 0, "text_embeds (plain forward)");
        Golden.AssertClose(model.HiddenStateWithClipSkip(ids, 1), expected["penultimate_after_final_ln"], Atol, 0, "clip skip 1");
    }

    private static void AssertEncoderOutputs(CLIPTextTransformer textModel, CLIPTextOutput output, Tensor ids, Dictionary<string, Tensor> expected)
    {
        Golden.AssertClose(textModel.embeddings.token_embedding.call(ids), expected["embeddings_token"], Atol, 0, "embeddings_token");
        output.HiddenStates.Should().NotBeNull();
        Golden.AssertClose(stack(output.HiddenStates!.ToArray()), expected["hidden_states"], Atol, 0, "hidden_states");
        Golden.AssertClose(output.LastHiddenState, expected["last_hidden_state"], Atol, 0, "last_hidden_state");
        Golden.AssertClose(output.PoolerOutput, expected["pooler_output"], Atol, 0, "pooler_output");
        Golden.AssertClose(output.HiddenStates![^2], expected["penultimate_hidden_state"], Atol, 0, "penultimate_hidden_state");
        Golden.AssertClose(textModel.final_layer_norm.call(output.HiddenStates![^2]), expected["penultimate_after_final_ln"], Atol, 0, "penultimate_after_final_ln");
    }

    private static void AssertPlainForwardMatches(CLIPTextOutput output, Dictionary<string, Tensor> expected)
    {
        output.HiddenStates.Should().BeNull();
        Golden.AssertClose(output.LastHiddenState, expected["last_hidden_state"], Atol, 0, "last_hidden_state (plain forward)");
        Golden.AssertClose(output.PoolerOutput, expected["pooler_output"], Atol, 0, "pooler_output (plain forward)");
    }
}
