using DreamBooth.IO;
using static TorchSharp.torch;

namespace DreamBooth.Models.Clip;

/// <summary>
/// transformers' <c>CLIPTextModel</c>: the SD1.x/SD2.x text encoder (<c>text_encoder/</c>). State-dict keys are
/// <c>text_model.*</c>, exactly as in the published checkpoints.
/// </summary>
public sealed class CLIPTextModel : nn.Module<Tensor, CLIPTextOutput>
{
    public readonly CLIPTextTransformer text_model;

    /// <summary>Builds a randomly initialized model; use <see cref="FromPretrained(string, ScalarType?)"/> to load a checkpoint.</summary>
    public CLIPTextModel(CLIPTextConfig config) : base(nameof(CLIPTextModel))
    {
        text_model = new CLIPTextTransformer(config);
        RegisterComponents();
    }

    /// <summary>The config this model was built from.</summary>
    public CLIPTextConfig Config => text_model.Config;

    /// <summary>Encodes input_ids [B, L] with the causal mask only (what SD pipelines do).</summary>
    public override CLIPTextOutput forward(Tensor inputIds) => text_model.forward(inputIds, null);

    /// <inheritdoc cref="CLIPTextTransformer.forward(Tensor, Tensor?, bool)"/>
    public CLIPTextOutput forward(Tensor inputIds, Tensor? attentionMask, bool outputHiddenStates = false) =>
        text_model.forward(inputIds, attentionMask, outputHiddenStates);

    /// <inheritdoc cref="CLIPTextTransformer.HiddenStateWithClipSkip"/>
    public Tensor HiddenStateWithClipSkip(Tensor inputIds, int clipSkip, Tensor? attentionMask = null) =>
        text_model.HiddenStateWithClipSkip(inputIds, clipSkip, attentionMask);

    /// <summary>
    /// Loads <c>config.json</c> and <c>model.safetensors</c> from a diffusers <c>text_encoder/</c> folder, strictly (a stray
    /// <c>text_model.embeddings.position_ids</c> written by older transformers is ignored), optionally converting to
    /// <paramref name="dtype"/>. The model is returned in eval mode, on the CPU.
    /// </summary>
    public static CLIPTextModel FromPretrained(string componentDir, ScalarType? dtype = null) =>
        FromPretrained(ModelComponent.Open(componentDir), dtype);

    /// <summary>Loads a resolved component (weights variant or shards as the folder provides them).</summary>
    public static CLIPTextModel FromPretrained(ModelComponent component, ScalarType? dtype = null) =>
        CLIPPretrained.Load(component, dtype, config => new CLIPTextModel(config));
}
