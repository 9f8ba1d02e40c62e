using TorchSharp;
using DreamBooth.IO;
using static TorchSharp.torch;

namespace DreamBooth.Models.Clip;

/// <summary>Loads a transformers text-encoder folder (<c>config.json</c> + <c>model.safetensors</c>) into a CLIP model.</summary>
internal static class CLIPPretrained
{
    /// <summary>The non-persistent buffer that transformers before 4.31 still wrote to checkpoints; skipped when present.</summary>
    public const string LegacyPositionIdsKey = "text_model.embeddings.position_ids";

    public const string WeightsFile = "model.safetensors";

    public static T Load<T>(string componentDir, ScalarType? dtype, Func<CLIPTextConfig, T> create) where T : nn.Module
    {
        if (dtype is { } dt && dt is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
            throw new ArgumentException($"dtype must be a floating-point type, got {dt}", nameof(dtype));
        var configPath = Path.Combine(componentDir, "config.json");
        var config = ConfigJson.Read<CLIPTextConfig>(configPath);
        config.Validate(configPath);
        var weightsPath = Path.Combine(componentDir, WeightsFile);
        if (!File.Exists(weightsPath))
            throw new DreamBoothException($"{componentDir}: no {WeightsFile} (text encoder weights are read from safetensors only)");

        var model = create(config);
        try
        {
            if (dtype is { } type) model.to(type);
            WeightLoader.Load(model, weightsPath, ignoreUnexpected: [LegacyPositionIdsKey]);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
