using DreamBooth.Models;
using System.Text.Json.Serialization;

namespace DreamBooth.Models.Clip;

/// <summary>
/// transformers' <c>CLIPTextConfig</c> (the <c>config.json</c> of a <c>text_encoder/</c> or <c>text_encoder_2/</c> folder).
/// Every key has transformers' default, so any config that transformers loads loads here; <see cref="Validate"/> rejects
/// values the model cannot be built from.
/// </summary>
public sealed record CLIPTextConfig : IModelConfig
{
    /// <summary>The activations <c>hidden_act</c> may name (transformers' ACT2FN keys that CLIP checkpoints use).</summary>
    public static IReadOnlyList<string> SupportedActivations { get; } =
        ["quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish"];

    public int VocabSize { get; init; } = 49408;
    public int HiddenSize { get; init; } = 512;
    public int IntermediateSize { get; init; } = 2048;

    /// <summary>Width of <c>text_projection</c> (used only by <see cref="CLIPTextModelWithProjection"/>).</summary>
    public int ProjectionDim { get; init; } = 512;

    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 8;
    public int MaxPositionEmbeddings { get; init; } = 77;

    /// <summary>MLP activation: <c>quick_gelu</c> (x·σ(1.702x), SD1.x), <c>gelu</c> (exact erf, SD2.x/SDXL), or a tanh variant.</summary>
    public string HiddenAct { get; init; } = "quick_gelu";

    public double LayerNormEps { get; init; } = 1e-5;

    /// <summary>Attention-probability dropout; only 0 is supported (every published CLIP text config uses 0).</summary>
    public double AttentionDropout { get; init; }

    /// <summary>Unused by the CLIP text model (as in transformers); kept so configs round-trip.</summary>
    public double Dropout { get; init; }

    public int PadTokenId { get; init; } = 1;
    public int BosTokenId { get; init; } = 49406;

    /// <summary>
    /// End-of-text id used for pooling. The legacy value 2 (found in the real SD1.x/SD2.x configs) selects transformers'
    /// old rule, pooling at argmax(input_ids); any other value pools at the first position holding this id.
    /// </summary>
    public int EosTokenId { get; init; } = 49407;

    public double InitializerRange { get; init; } = 0.02;
    public double InitializerFactor { get; init; } = 1.0;
    public string[]? Architectures { get; init; }
    public string? ModelType { get; init; }
    public string? TorchDtype { get; init; }

    /// <summary>Head width, hidden_size / num_attention_heads.</summary>
    [JsonIgnore]
    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>True when pooling uses transformers' legacy argmax(input_ids) rule (eos_token_id == 2).</summary>
    [JsonIgnore]
    public bool UsesLegacyPooling => EosTokenId == 2;

    /// <summary>Throws one <see cref="DreamBoothException"/> naming <paramref name="source"/> and the key when the model cannot be built.</summary>
    public void Validate(string source)
    {
        void Positive(int value, string key)
        {
            if (value <= 0) throw new DreamBoothException($"{source}: key '{key}' must be a positive integer, got {value}");
        }
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(ProjectionDim, "projection_dim");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new DreamBoothException($"{source}: hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        if (!SupportedActivations.Contains(HiddenAct))
            throw new DreamBoothException($"{source}: key 'hidden_act' is '{HiddenAct}', expected one of {string.Join(", ", SupportedActivations)}");
        if (!(LayerNormEps > 0) || double.IsInfinity(LayerNormEps))
            throw new DreamBoothException($"{source}: key 'layer_norm_eps' must be a positive number, got {LayerNormEps}");
        if (AttentionDropout != 0)
            throw new DreamBoothException($"{source}: key 'attention_dropout' is {AttentionDropout}; only 0 is supported");
    }
}
