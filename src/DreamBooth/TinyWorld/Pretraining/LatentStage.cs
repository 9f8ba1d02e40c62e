using System.Globalization;
using DreamBooth.IO;
using DreamBooth.Models.Vae;
using DreamBooth.Runtime;
using static TorchSharp.torch;

namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>
/// Encodes dataset items 0 … N−1 once with the finished VAE: latents = posterior mean × scaling_factor, float32
/// [N, 4, 16, 16]. Written in chunks of <see cref="ChunkSize"/> images (each file atomic, tagged with the VAE
/// fingerprint), so an interrupted encoding resumes at the first missing chunk.
/// </summary>
internal static class LatentStage
{
    public const int ChunkSize = 4096;
    private const int EncodeBatch = 128;

    /// <summary>The cached latents [N, 4, 16, 16] (scaled), building missing chunks first.</summary>
    public static Tensor Run(PretrainingRun run, AutoencoderKL vae)
    {
        int n = run.Options.LatentImages;
        int chunks = (n + ChunkSize - 1) / ChunkSize;
        string fingerprint = run.Options.VaeFingerprint + Inv($";latent_chunk={ChunkSize}");
        Directory.CreateDirectory(run.LatentDir);
        var meter = new StepMeter(0);
        int done = 0;
        var parts = new List<Tensor>();
        try
        {
            for (int c = 0; c < chunks; c++)
            {
                int start = c * ChunkSize, count = Math.Min(ChunkSize, n - start);
                var path = Path.Combine(run.LatentDir, Inv($"chunk-{c:D4}.safetensors"));
                using (var cached = PretrainingCheckpoint.Load(path, fingerprint))
                {
                    if (cached is not null && cached.Step == count)
                    {
                        parts.Add(cached.Group("latents")["z"].clone());
                        var seconds = new PretrainingRun.Clock(cached.Metadata);
                        run.LatentSeconds = (run.LatentSeconds.Wall + seconds.WallSeconds, run.LatentSeconds.Cpu + seconds.CpuSeconds);
                        done += count;
                        continue;
                    }
                }
                var clock = new PretrainingRun.Clock();
                var latents = Encode(run, vae, start, count, meter, done);
                run.LatentSeconds = (run.LatentSeconds.Wall + clock.WallSeconds, run.LatentSeconds.Cpu + clock.CpuSeconds);
                PretrainingCheckpoint.Save(path, "latents", count, fingerprint, [("latents", new Dictionary<string, Tensor> { ["z"] = latents })], clock.Metadata());
                parts.Add(latents);
                done += count;
            }
            run.Say(PretrainingStage.Latents, $"latents: {n} images cached in {run.LatentDir}");
            return cat(parts).DetachFromDisposeScope();
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    private static Tensor Encode(PretrainingRun run, AutoencoderKL vae, int start, int count, StepMeter meter, int doneBefore)
    {
        using var _ = no_grad();
        var outputs = new List<Tensor>();
        try
        {
            for (int i = 0; i < count; i += EncodeBatch)
            {
                run.CancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                int b = Math.Min(EncodeBatch, count - i);
                var (images, _) = run.Dataset.GetBatch(start + i, b, run.Options.RenderThreads);
                using var noGc = NoGcScope.Enter();
                outputs.Add((vae.Encode(images).Mean * vae.ScalingFactor).DetachFromDisposeScope());
                int done = doneBefore + i + b;
                meter.Mark(done);
                run.Report(new PretrainingProgress(PretrainingStage.Latents, done, run.Options.LatentImages, UnitsPerSecond: meter.Rate,
                    Eta: meter.Eta(run.Options.LatentImages)));
            }
            return cat(outputs).DetachFromDisposeScope();
        }
        finally
        {
            foreach (var t in outputs) t.Dispose();
        }
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
