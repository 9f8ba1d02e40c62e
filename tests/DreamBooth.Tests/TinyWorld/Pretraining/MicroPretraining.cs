using DreamBooth.IO;
using DreamBooth.TinyWorld.Pretraining;
using static TorchSharp.torch;

namespace DreamBooth.Tests.TinyWorld.Pretraining;

/// <summary>Micro pretraining runs (seconds each) in temporary folders, and one uninterrupted reference run shared by a test class.</summary>
public sealed class MicroPretraining : IDisposable
{
    /// <summary>A micro run: every stage, a few steps, checkpoints every 2 steps.</summary>
    public static PretrainingOptions Options { get; } = new()
    {
        Architecture = "micro",
        Seed = 11,
        VaeSteps = 4,
        VaeBatchSize = 4,
        VaeWarmupSteps = 1,
        LatentImages = 48,
        UnetSteps = 6,
        BatchSize = 4,
        WarmupSteps = 2,
        CheckpointEvery = 2,
        RenderThreads = 1,
    };

    public MicroPretraining()
    {
        Root = Directory.CreateTempSubdirectory("pretrain-").FullName;
        Reference = TinyWorldPretrainer.Run(Options, Path.Combine(Root, "reference"));
    }

    /// <summary>The temporary folder holding every run of this fixture.</summary>
    public string Root { get; }

    /// <summary>The uninterrupted run with <see cref="Options"/>.</summary>
    public PretrainingResult Reference { get; }

    /// <summary>A fresh output path under <see cref="Root"/>.</summary>
    public string NewOutput(string name) => Path.Combine(Root, name + "-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>The weight files of a model folder, relative path → bytes.</summary>
    public static Dictionary<string, byte[]> WeightFiles(string modelDir) =>
        Directory.EnumerateFiles(modelDir, "*.safetensors", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(modelDir, f), File.ReadAllBytes);

    /// <summary>The tensors of one weights file of a model folder.</summary>
    public static Dictionary<string, Tensor> Load(string modelDir, string relative) => Safetensors.LoadAll(Path.Combine(modelDir, relative));

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
