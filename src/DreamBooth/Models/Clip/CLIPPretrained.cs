using TorchSharp;
using DreamBooth.IO;
using static TorchSharp.torch;

namespace DreamBooth.Models.Clip;

/// <summary>Loads a transformers text-encoder folder (<c>config.json</c> + safetensors weights) into a CLIP model.</summary>
internal static class CLIPPretrained
{
    /// <summary>The non-persistent buffer that transformers before 4.31 still wrote to checkpoints; skipped when present.</summary>
    public const string LegacyPositionIdsKey = "text_model.embeddings.position_ids";

    public static T Load<T>(ModelComponent component, ScalarType? dtype, Func<CLIPTextConfig, T> create) where T : nn.Module =>
        Pretrained.Load(component, dtype, create, ignoreUnexpected: [LegacyPositionIdsKey]);
}
