using TorchSharp;
using DreamBooth.IO;
using static TorchSharp.torch;

namespace DreamBooth.Models;

/// <summary>A model config record that can check itself against what we implement.</summary>
public interface IModelConfig
{
    /// <summary>Throws a one-line <see cref="DreamBoothException"/> naming <paramref name="source"/> and the key when unsupported.</summary>
    void Validate(string source);
}

/// <summary>
/// The one loading path of every network (UNet, VAE, CLIP): read and validate the component's config, build the model,
/// convert it to the requested dtype, load the weights strictly (single file, variant or shards, as
/// <see cref="ModelComponent"/> resolved them), and return it in eval mode. A failure disposes the half-built model.
/// </summary>
public static class Pretrained
{
    /// <summary>Loads a model component.</summary>
    /// <param name="component">The resolved component folder.</param>
    /// <param name="dtype">Floating-point dtype for the parameters (default float32).</param>
    /// <param name="create">Builds the module from its config.</param>
    /// <param name="modelKeyOf">Maps legacy file keys to module keys (identity when null).</param>
    /// <param name="ignoreUnexpected">File keys skipped when the module has no such key.</param>
    public static TModel Load<TConfig, TModel>(ModelComponent component, ScalarType? dtype, Func<TConfig, TModel> create,
        Func<string, string>? modelKeyOf = null, IReadOnlyCollection<string>? ignoreUnexpected = null)
        where TConfig : IModelConfig
        where TModel : nn.Module
    {
        RequireFloating(dtype);
        var config = component.ReadConfig<TConfig>();
        config.Validate(component.ConfigPath!);
        var model = create(config);
        try
        {
            if (dtype is ScalarType t && t != ScalarType.Float32) model.to(t);
            using var reader = component.OpenWeights();
            WeightLoader.Load(model, reader, modelKeyOf ?? (static k => k), checkFinite: true, ignoreUnexpected);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Checks that a requested model dtype is a floating-point type.</summary>
    public static void RequireFloating(ScalarType? dtype)
    {
        if (dtype is ScalarType t && t is not (ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16))
            throw new ArgumentException($"model dtype must be a floating-point type, got {t}", nameof(dtype));
    }
}
