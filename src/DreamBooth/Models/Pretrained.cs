using TorchSharp;
using DreamBooth.IO;
using static TorchSharp.torch;

namespace DreamBooth.Models;

/// <summary>A model config record that can check itself against what we implement.</summary>
public interface IModelConfig
{
    /// <summary>Throws a one-line <see cref="DreamBoothException"/> naming <paramref name="source"/> and the key when unsupported.</summary>
    void Validate(string source);

    /// <summary>
    /// A lower bound on the parameter count of the model this config builds (its largest weight matrices), computable
    /// without building it; 0 when unknown. <see cref="Pretrained.Load"/> refuses a config whose bound exceeds the
    /// weights it comes with, so a config claiming an enormous model is rejected before anything is allocated.
    /// </summary>
    double MinimumParameterCount() => 0;
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
        var model = create(ReadConfig<TConfig>(component));
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

    /// <summary>
    /// Reads and validates a component's config, and checks it against the parameter count of its weights (headers only):
    /// everything that can be known about loading it without building it.
    /// </summary>
    /// <exception cref="DreamBoothException">An unsupported or inconsistent config, or one the weights cannot fill.</exception>
    public static TConfig ReadConfig<TConfig>(ModelComponent component) where TConfig : IModelConfig
    {
        var config = component.ReadConfig<TConfig>();
        config.Validate(component.ConfigPath!);
        // Weights must hold every parameter, so a config describing more than they hold cannot load; building it first
        // could allocate far more than the files (a hostile config.json with 100,000 channels), so it is refused here.
        long available = component.Weights?.ParameterCount ?? 0;
        double minimum = config.MinimumParameterCount();
        if (minimum > available)
            throw new DreamBoothException($"{component.ConfigPath}: the config describes a model of at least {minimum:N0} parameters but the weights " +
                                          $"hold {available:N0}; refusing to build it (config and weights do not belong together)");
        return config;
    }

    /// <summary>Checks that a requested model dtype is a floating-point type.</summary>
    public static void RequireFloating(ScalarType? dtype)
    {
        if (dtype is ScalarType t && t is not (ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16))
            throw new ArgumentException($"model dtype must be a floating-point type, got {t}", nameof(dtype));
    }
}
