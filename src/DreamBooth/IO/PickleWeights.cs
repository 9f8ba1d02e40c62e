namespace DreamBooth.IO;

/// <summary>
/// PyTorch pickle checkpoints (<c>.bin</c>, <c>.ckpt</c>, <c>.pt</c>, <c>.pth</c>). Python's unpickling runs whatever code
/// the file names, so by default these files are refused and the user is told how to convert them. With
/// <see cref="ModelFolderOptions.AllowPickle"/> (<c>--allow-pickle</c>) <see cref="ComponentWeights"/> reads
/// <c>diffusion_pytorch_model.bin</c> / <c>pytorch_model.bin</c> through <see cref="PickleCheckpoint"/> instead, whose
/// restricted unpickler only rebuilds tensors.
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
        "or with `dreambooth convert` (planned); or allow pickle files (--allow-pickle, ModelFolderOptions.AllowPickle) to read " +
        "diffusion_pytorch_model.bin/pytorch_model.bin with a restricted unpickler that only rebuilds tensors");
}
