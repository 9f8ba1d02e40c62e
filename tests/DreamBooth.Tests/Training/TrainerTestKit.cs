using DreamBooth.Tests.Infrastructure;
using DreamBooth.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

/// <summary>Helpers for trainer tests on tiny-sd1: synthetic image sets, a deterministic fake sampler, option presets.</summary>
internal static class TrainerTestKit
{
    public static string TinySd1 => Golden.PathOf("tiny-sd1");

    /// <summary>
    /// Procedural images instead of decoded files: image i of a folder is a smooth colour pattern seeded by its file name,
    /// with a mirrored variant under --random-flip (so variant picking is exercised). Instance folders list their image
    /// files; class folders use the files the class-image generator wrote.
    /// </summary>
    public sealed class SyntheticImages(IReadOnlyList<string> paths, string prompt, int resolution, bool flip) : ITrainingImageSet
    {
        public int Count => paths.Count;
        public string PathOf(int image) => paths[image];
        public string PromptOf(int image) => prompt;
        public int VariantCount(int image) => flip ? 2 : 1;

        public Tensor PixelValues(int image, int variant)
        {
            using var scope = NewDisposeScope();
            using var g = new Generator((ulong)StableHash(Path.GetFileName(paths[image])));
            var coarse = rand([1, 3, 4, 4], generator: g);
            var img = nn.functional.interpolate(coarse, [resolution, resolution], mode: InterpolationMode.Bilinear, align_corners: false)[0] * 2 - 1;
            if (variant == 1) img = img.flip(2);
            return img.MoveToOuterDisposeScope();
        }

        private static long StableHash(string s) => s.Aggregate(17L, (h, c) => (h * 31 + c) & 0x7fffffff);
    }

    public static TrainingImageLoader Loader => (request, generator, warn) =>
    {
        if (!Directory.Exists(request.Directory)) throw new DreamBoothException($"{request.Directory}: folder not found");
        var files = Directory.EnumerateFiles(request.Directory).Where(f => !Path.GetFileName(f).StartsWith('.'))
            .Order(StringComparer.Ordinal).Take(request.MaxImages ?? int.MaxValue).ToList();
        if (files.Count == 0) throw new DreamBoothException($"{request.Directory}: no images");
        return new SyntheticImages(files, request.Prompt!, request.Resolution, request.RandomFlip);
    };

    /// <summary>Images from seeds: uniform noise blurred to 4×4 blocks, [N, 3, R, R] in [0, 1].</summary>
    public sealed class FakeSampler(int resolution) : IImageSampler
    {
        public int Calls { get; private set; }

        public Tensor Generate(string prompt, IReadOnlyList<long> seeds, CancellationToken cancellationToken = default)
        {
            Calls++;
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

    /// <summary>An instance folder with <paramref name="count"/> (empty) image files; the synthetic loader makes their pixels.</summary>
    public static string InstanceFolder(string root, int count = 2)
    {
        var dir = Path.Combine(root, "instance");
        Directory.CreateDirectory(dir);
        for (int i = 0; i < count; i++) File.WriteAllBytes(Path.Combine(dir, $"photo{i}.png"), [(byte)i]);
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
