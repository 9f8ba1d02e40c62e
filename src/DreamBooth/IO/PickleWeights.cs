namespace DreamBooth.IO;

/// <summary>
/// PyTorch pickle checkpoints (<c>.bin</c>, <c>.ckpt</c>, <c>.pt</c>, <c>.pth</c>). Unpickling runs whatever code the file
/// names, so these files are refused and the user is told how to convert them.
/// <para>Extension point for a future <c>--allow-pickle</c>: add <c>AllowPickle</c> to <see cref="ModelFolderOptions"/>;
/// where <see cref="ComponentWeights"/> calls <see cref="Refuse"/>, return weights backed by a restricted unpickler that
/// accepts only the torch storage/rebuild globals and reads tensor data from the zip archive; give
/// <see cref="SafetensorsReader"/>'s role (entries + one-tensor-at-a-time load) to that reader so that
/// <see cref="WeightLoader"/> stays unchanged.</para>
/// </summary>
internal static class PickleWeights
{
    /// <summary>File name endings of pickle-based checkpoints.</summary>
    public static readonly string[] Extensions = [".bin", ".ckpt", ".pt", ".pth"];

    /// <summary>True for a file name with a pickle checkpoint ending.</summary>
    public static bool IsPickle(string fileName) => Extensions.Any(e => fileName.EndsWith(e, StringComparison.OrdinalIgnoreCase));

    /// <summary>The one-line refusal for <paramref name="path"/>.</summary>
    public static DreamBoothException Refuse(string path) => new(
        $"{path}: refusing to load a pickle checkpoint, because unpickling can execute arbitrary code; convert it to .safetensors " +
        "first, e.g. in Python DiffusionPipeline.from_pretrained(dir).save_pretrained(out, safe_serialization=True), " +
        "or with `dreambooth convert` (planned)");
}
