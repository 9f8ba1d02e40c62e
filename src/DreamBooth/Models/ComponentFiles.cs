using DreamBooth.IO;
using static TorchSharp.torch;

namespace DreamBooth.Models;

/// <summary>The files of one diffusers component folder (<c>unet/</c>, <c>vae/</c>): config.json and the safetensors weights.</summary>
internal static class ComponentFiles
{
    /// <summary>The weights file name diffusers writes for models.</summary>
    public const string DiffusersWeights = "diffusion_pytorch_model.safetensors";

    /// <summary>Reads and returns <c>config.json</c> of <paramref name="componentDir"/> with its path (for error messages).</summary>
    public static (T Config, string Path) ReadConfig<T>(string componentDir)
    {
        if (!Directory.Exists(componentDir)) throw new DreamBoothException($"{componentDir}: model folder not found");
        var path = System.IO.Path.Combine(componentDir, "config.json");
        return (ConfigJson.Read<T>(path), path);
    }

    /// <summary>The safetensors weights path; a clear error when missing or when only a pickle (.bin) file is present.</summary>
    public static string Weights(string componentDir, string fileName = DiffusersWeights)
    {
        var path = System.IO.Path.Combine(componentDir, fileName);
        if (File.Exists(path)) return path;
        var pickle = System.IO.Path.ChangeExtension(path, ".bin");
        if (File.Exists(pickle))
            throw new DreamBoothException($"{pickle}: PyTorch pickle weights are not loaded (a pickle can run code); convert them to {fileName}");
        throw new DreamBoothException($"{path}: weights file not found");
    }

    /// <summary>Checks that a requested model dtype is a floating-point type.</summary>
    public static void CheckDType(ScalarType? dtype)
    {
        if (dtype is ScalarType t && t is not (ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16))
            throw new ArgumentException($"model dtype must be a floating-point type, got {t}", nameof(dtype));
    }
}
