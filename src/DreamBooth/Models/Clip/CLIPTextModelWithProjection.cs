using DreamBooth.IO;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Clip;

/// <summary>
/// transformers' <c>CLIPTextModelWithProjection</c>: <see cref="CLIPTextModel"/> plus a bias-free <c>text_projection</c> of
/// the pooled output (SDXL's <c>text_encoder_2/</c>, OpenCLIP-style). Keys: <c>text_model.*</c> and <c>text_projection.weight</c>.
/// </summary>
public sealed class CLIPTextModelWithProjection : nn.Module<Tensor, CLIPTextOutput>
{
    public readonly CLIPTextTransformer text_model;
    public readonly Linear text_projection;

    /// <summary>Builds a randomly initialized model; use <see cref="FromPretrained(string, ScalarType?)"/> to load a checkpoint.</summary>
    public CLIPTextModelWithProjection(CLIPTextConfig config) : base(nameof(CLIPTextModelWithProjection))
    {
        text_model = new CLIPTextTransformer(config);
        text_projection = nn.Linear(config.HiddenSize, config.ProjectionDim, hasBias: false);
        RegisterComponents();
    }

    /// <summary>The config this model was built from.</summary>
    public CLIPTextConfig Config => text_model.Config;

    /// <summary>Encodes input_ids [B, L] with the causal mask only; the output includes <see cref="CLIPTextOutput.TextEmbeds"/>.</summary>
    public override CLIPTextOutput forward(Tensor inputIds) => forward(inputIds, null);

    /// <summary>
    /// As <see cref="CLIPTextTransformer.forward(Tensor, Tensor?, bool)"/>, plus
    /// <see cref="CLIPTextOutput.TextEmbeds"/> = text_projection(pooler_output), [B, projection_dim].
    /// </summary>
    public CLIPTextOutput forward(Tensor inputIds, Tensor? attentionMask, bool outputHiddenStates = false)
    {
        using var scope = NewDisposeScope();
        var output = text_model.forward(inputIds, attentionMask, outputHiddenStates);
        return (output with { TextEmbeds = text_projection.call(output.PoolerOutput) }).MoveToOuterDisposeScope();
    }

    /// <inheritdoc cref="CLIPTextTransformer.HiddenStateWithClipSkip"/>
    public Tensor HiddenStateWithClipSkip(Tensor inputIds, int clipSkip, Tensor? attentionMask = null) =>
        text_model.HiddenStateWithClipSkip(inputIds, clipSkip, attentionMask);

    /// <summary>
    /// Loads <c>config.json</c> and <c>model.safetensors</c> from a <c>text_encoder_2/</c>-style folder (see
    /// <see cref="CLIPTextModel.FromPretrained(string, ScalarType?)"/>).
    /// </summary>
    public static CLIPTextModelWithProjection FromPretrained(string componentDir, ScalarType? dtype = null) =>
        FromPretrained(ModelComponent.Open(componentDir), dtype);

    /// <summary>Loads a resolved component (weights variant or shards as the folder provides them).</summary>
    public static CLIPTextModelWithProjection FromPretrained(ModelComponent component, ScalarType? dtype = null) =>
        CLIPPretrained.Load(component, dtype, config => new CLIPTextModelWithProjection(config));
}
