using System.Text.Json;
using System.Text.Json.Nodes;
using DreamBooth.IO;
using DreamBooth.Models.Vae;
using DreamBooth.TinyWorld.Pretraining;
using FluentAssertions;
using static TorchSharp.torch;

namespace DreamBooth.Tests.TinyWorld.Pretraining;

/// <summary>
/// Checks a model folder's <c>pretraining.json</c> against a re-run of the first steps of both stages from its recorded
/// options and seed: stage 1 from scratch, stage 2 on latents encoded on demand with the folder's VAE (the stage-2 cache
/// was encoded with exactly these weights). Stage-1 losses are bit-identical with the recorded thread count, and agree
/// to float rounding otherwise; stage-2 latents are encoded in other batches than the cache, so its losses agree to rounding.
/// </summary>
internal static class RecordReplay
{
    public static void AssertReproduces(string modelDir)
    {
        var record = JsonNode.Parse(File.ReadAllText(Path.Combine(modelDir, TinyWorldPretrainer.RecordFileName)))!.AsObject();
        var recorded = record["options"].Deserialize<PretrainingOptions>(ConfigJson.Options)!;
        // An extended run's first steps are those of the run it extends (the warm-up does not depend on the total).
        var options = recorded.Extended ?? recorded;
        options.Seed.Should().Be(record["seed"]!.GetValue<long>());
        var expectedVae = record["first_losses"]!["vae"]!.AsArray().Select(n => n!.GetValue<double>()).ToArray();
        var expectedDiffusion = record["first_losses"]!["diffusion"]!.AsArray().Select(n => n!.GetValue<double>()).ToArray();
        expectedVae.Should().HaveCount(TinyWorldPretrainer.FirstLossCount);
        expectedDiffusion.Should().HaveCount(TinyWorldPretrainer.FirstLossCount);
        bool sameThreads = get_num_threads() == record["threads"]!.GetValue<int>();

        var work = Directory.CreateTempSubdirectory("reproduce-").FullName;
        try
        {
            var run = new PretrainingRun(options, work, null, CancellationToken.None);
            var vaeLosses = new List<double>();
            VaeStage.Run(run, stopAfter: expectedVae.Length, vaeLosses).Should().BeNull("the stage stops after the first steps");
            for (int i = 0; i < expectedVae.Length; i++)
                if (sameThreads) vaeLosses[i].Should().Be(expectedVae[i], $"VAE step {i + 1} runs with the recorded thread count");
                else vaeLosses[i].Should().BeApproximately(expectedVae[i], 1e-4 * expectedVae[i], $"VAE step {i + 1}");

            using var vae = AutoencoderKL.FromPretrained(Path.Combine(modelDir, "vae"));
            Tensor Encode(long[] ids)
            {
                using var _ = no_grad();
                using var scope = NewDisposeScope();
                var images = stack(ids.Select(i => run.Dataset.GetItem(i).Image).ToArray());
                return (vae.Encode(images).Mean * vae.ScalingFactor).MoveToOuterDisposeScope();
            }
            using var stage = new DiffusionStage(run, options.LatentImages, Encode);
            var diffusionLosses = new List<double>();
            stage.Run(stopAfter: expectedDiffusion.Length, diffusionLosses).Should().BeNull();
            for (int i = 0; i < expectedDiffusion.Length; i++)
                diffusionLosses[i].Should().BeApproximately(expectedDiffusion[i], 1e-4 * expectedDiffusion[i], $"diffusion step {i + 1}");
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
