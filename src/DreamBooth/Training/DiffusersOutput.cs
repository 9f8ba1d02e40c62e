using DreamBooth.IO;
using static TorchSharp.torch;

namespace DreamBooth.Training;

/// <summary>
/// Writes the trained model as a complete diffusers pipeline folder, like train_dreambooth.py's final
/// <c>pipeline.save_pretrained(output_dir)</c>: <c>model_index.json</c> and every component folder of the base model
/// are copied unchanged, except the weights of the trained components, which are written as one safetensors file
/// (<c>unet/diffusion_pytorch_model.safetensors</c>, <c>text_encoder/model.safetensors</c>) beside their original,
/// unchanged <c>config.json</c>. Every file is written atomically.
/// </summary>
public static class DiffusersOutput
{
    private static readonly Dictionary<string, string> WeightsFileOf = new(StringComparer.Ordinal)
    {
        ["unet"] = "diffusion_pytorch_model.safetensors",
        ["vae"] = "diffusion_pytorch_model.safetensors",
        ["text_encoder"] = "model.safetensors",
        ["text_encoder_2"] = "model.safetensors",
    };

    /// <summary>Writes the folder.</summary>
    /// <param name="baseModel">The model training started from (a pipeline folder with model_index.json).</param>
    /// <param name="outputDir">Destination (may already hold the run's checkpoints and logs).</param>
    /// <param name="trained">Full state dicts of the trained components by component name.</param>
    /// <param name="dtype">dtype to store floating-point weights in (null keeps float32).</param>
    public static void Write(ModelFolder baseModel, string outputDir, IReadOnlyDictionary<string, IReadOnlyDictionary<string, Tensor>> trained, ScalarType? dtype = null)
    {
        if (baseModel.Index is null)
            throw new DreamBoothException($"{baseModel.Root}: not a pipeline folder (no {ModelIndex.FileName}); cannot write a complete model");
        Directory.CreateDirectory(outputDir);
        foreach (var name in trained.Keys)
            if (!baseModel.Has(name) || !WeightsFileOf.ContainsKey(name))
                throw new ArgumentException($"'{name}' is not a model component of {baseModel.Root}", nameof(trained));

        // model_index.json makes the folder a pipeline to every loader: an earlier one goes first and the new one is
        // written last, so a run killed while writing the components never leaves a folder that looks complete (or one
        // that mixes new and old components).
        var index = Path.Combine(outputDir, ModelIndex.FileName);
        File.Delete(index);
        foreach (var (name, spec) in baseModel.Index.Components)
        {
            var source = Path.Combine(baseModel.Root, name);
            if (!spec.IsPresent || !Directory.Exists(source)) continue;
            bool isTrained = trained.ContainsKey(name);
            foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(source, file);
                if (Path.GetFileName(file).StartsWith('.')) continue;
                if (isTrained && IsWeightsFile(relative)) continue;
                Copy(file, Path.Combine(outputDir, name, relative));
            }
            if (!isTrained) continue;
            using var scope = NewDisposeScope();
            var tensors = trained[name].ToDictionary(kv => kv.Key,
                kv => dtype is ScalarType t && kv.Value.is_floating_point() ? kv.Value.detach().to(t) : kv.Value.detach());
            Safetensors.Save(Path.Combine(outputDir, name, WeightsFileOf[name]), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        }
        Copy(Path.Combine(baseModel.Root, ModelIndex.FileName), index);
    }

    // Weights in any of the layouts a component folder may have (single, variant, sharded, pickle); the config stays.
    private static bool IsWeightsFile(string relative)
    {
        var file = Path.GetFileName(relative);
        return !relative.Contains(Path.DirectorySeparatorChar)
               && (file.EndsWith(".safetensors", StringComparison.Ordinal) || file.EndsWith(".bin", StringComparison.Ordinal)
                   || file.EndsWith(".ckpt", StringComparison.Ordinal) || file.EndsWith(".pt", StringComparison.Ordinal) || file.EndsWith(".pth", StringComparison.Ordinal)
                   || (file.Contains(".index", StringComparison.Ordinal) && file.EndsWith(".json", StringComparison.Ordinal)));
    }

    private static void Copy(string from, string to) => AtomicFile.Write(to, s =>
    {
        using var src = new FileStream(from, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        src.CopyTo(s);
    });
}
