using DreamBooth.Data;
using DreamBooth.Tests.Infrastructure;
using DreamBooth.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

/// <summary>Helpers for trainer tests on tiny-sd1: generated photo folders, a deterministic fake sampler, option presets.</summary>
internal static class TrainerTestKit
{
    public static string TinySd1 => Golden.PathOf("tiny-sd1");

    /// <summary>The real data pipeline (decode, resize, crop/flip variants).</summary>
    public static TrainingImageLoader Loader => ImageSetImages.Loader;

    /// <summary>Images from seeds: uniform noise blurred to 4×4 blocks, [N, 3, R, R] in [0, 1].</summary>
    public sealed class FakeSampler(int resolution) : IImageSampler
    {
        public int Calls { get; private set; }

        public Tensor Generate(string prompt, IReadOnlyList<long> seeds, CancellationToken cancellationToken = default)
        {
            Calls++;
            cancellationToken.ThrowIfCancellationRequested(); // as the pipeline does between denoising steps
            using var scope = NewDisposeScope();
            var images = seeds.Select(s =>
            {
                using var g = new Generator((ulong)s);
                return nn.functional.interpolate(rand([1, 3, 4, 4], generator: g), [resolution, resolution], mode: InterpolationMode.Nearest)[0];
            }).ToArray();
            return stack(images).MoveToOuterDisposeScope();
        }
    }

    public static ImageSamplerFactory Sampler => models => new FakeSampler(models.Resolution);

    /// <summary>An instance folder with <paramref name="count"/> PNG photos (smooth colour patterns, 80×72 so random crops differ).</summary>
    public static string InstanceFolder(string root, int count = 2)
    {
        var dir = Path.Combine(root, "instance");
        Directory.CreateDirectory(dir);
        for (int i = 0; i < count; i++)
        {
            using var g = new Generator((ulong)(100 + i));
            using var coarse = rand([1, 3, 3, 3], generator: g);
            using var image = nn.functional.interpolate(coarse, [72, 80], mode: InterpolationMode.Bilinear, align_corners: false)[0];
            File.WriteAllBytes(Path.Combine(dir, $"photo{i}.png"), ImageIO.EncodePng(image));
        }
        return dir;
    }

    /// <summary>A small, fast run: resolution 32, batch 1, prior preservation with 3 class images.</summary>
    public static DreamBoothTrainingOptions Options(string root, string output) => new()
    {
        ModelPath = TinySd1,
        InstanceDataDir = InstanceFolder(root),
        InstancePrompt = "a photo of sks dog",
        OutputDir = output,
        WithPriorPreservation = true,
        ClassPrompt = "a photo of dog",
        ClassDataDir = Path.Combine(root, "class"),
        NumClassImages = 3,
        SampleBatchSize = 2,
        Seed = 1234,
        Resolution = 32,
        TrainBatchSize = 1,
        MaxTrainSteps = 4,
        CheckpointingSteps = 2,
        LearningRate = 1e-4,
        LrWarmupSteps = 0,
    };

    public static TrainingResult Train(DreamBoothTrainingOptions options, CancellationToken ct = default, List<string>? warnings = null,
        IProgress<TrainingProgress>? progress = null) =>
        new DreamBoothTrainer(options, Loader, Sampler, progress, w => warnings?.Add(w)).Run(ct);

    /// <summary>Reports synchronously (System.Progress posts to the thread pool).</summary>
    public sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
