using DreamBooth.Pipelines;
using DreamBooth.Tests.Models;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Pipelines;

/// <summary>Behaviour of the text-to-image pipeline on a tiny random model: memory, batching, seeds, guidance, progress, errors.</summary>
public class StableDiffusionPipelineTests
{
    private static long LiveTensors => DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    [Theory]
    [InlineData("ddim")]
    [InlineData("dpm++2m")]
    [InlineData("euler_a")]
    public void Steps_leak_no_tensor_and_a_run_frees_everything(string scheduler)
    {
        using var model = TinyPipeline.Create();
        var pipeline = new StableDiffusionPipeline(model);
        var request = TinyPipeline.Request() with { Scheduler = scheduler, Steps = 6, ImagesPerPrompt = 2, BatchSize = 2 };
        pipeline.Generate(request).Dispose(); // warm-up: lazily created native state

        long before = LiveTensors;
        var perStep = new List<long>();
        using (var result = pipeline.Generate(request with { OnStepEnd = _ => perStep.Add(LiveTensors) }))
            Assert.Equal(2, result.Count);
        Assert.Equal(6, perStep.Count);
        // Multistep solvers keep up to two past predictions; from then on every step must end with the same live tensors.
        Assert.All(perStep.Skip(2), n => Assert.Equal(perStep[2], n));
        Assert.Equal(before, LiveTensors);
    }

    [Theory]
    [InlineData(7.5, 2)]
    [InlineData(1.0, 1)]
    public void Unet_runs_once_per_step_on_both_halves_and_text_is_encoded_once(double guidance, int rowsPerImage)
    {
        using var model = TinyPipeline.Create();
        var pipeline = new StableDiffusionPipeline(model);
        var unetBatches = new List<long>();
        var textBatches = new List<long>();
        var convIn = (Conv2d)model.Unet.named_modules().Single(m => m.name == "conv_in").module;
        // The model is disposed at the end of the test, hooks included.
        convIn.register_forward_pre_hook((_, x) => { unetBatches.Add(x.shape[0]); return x; });
        model.TextEncoder.text_model.embeddings.token_embedding.register_forward_pre_hook((_, x) => { textBatches.Add(x.shape[0]); return x; });

        // 5 images of one prompt in batches of 2, 2, 1.
        var request = TinyPipeline.Request("a dog") with { ImagesPerPrompt = 5, BatchSize = 2, Steps = 3, GuidanceScale = guidance, NegativePrompts = ["blurry"] };
        using var result = pipeline.Generate(request);

        long[] expected = [.. Enumerable.Repeat(2L * rowsPerImage, 3), .. Enumerable.Repeat(2L * rowsPerImage, 3), .. Enumerable.Repeat(1L * rowsPerImage, 3)];
        Assert.Equal(expected, unetBatches);
        // One text-encoder call for the run: the prompt, plus the negative prompt under guidance.
        Assert.Equal([rowsPerImage], textBatches);
        if (rowsPerImage == 1) Assert.Null(result.NegativePrompts);
        else Assert.All(result.NegativePrompts!, n => Assert.Equal("blurry", n));
    }

    [Theory]
    [InlineData("ddim")]
    [InlineData("euler_a")]
    public void An_image_depends_on_its_seed_only_not_on_the_batch(string scheduler)
    {
        using var model = TinyPipeline.Create();
        var pipeline = new StableDiffusionPipeline(model);
        var request = TinyPipeline.Request("a dog") with { Scheduler = scheduler, ImagesPerPrompt = 3, Seed = 100 };

        using var batched = pipeline.Generate(request with { BatchSize = 3 });
        using var single = pipeline.Generate(request with { BatchSize = 1 });
        using var third = pipeline.Generate(request with { ImagesPerPrompt = 1, Seed = 102 });

        Assert.Equal([100L, 101, 102], batched.Seeds);
        Assert.Equal([102L], third.Seeds);
        // Batched and unbatched differ only by float rounding.
        Infrastructure.Golden.AssertClose(batched.Images, single.Images, 1e-5, 0, "batch 3 vs batch 1");
        Infrastructure.Golden.AssertClose(batched.Images[2..3], third.Images, 1e-5, 0, "image 2 vs seed + 2 alone");
        Assert.False(batched.Images[0].allclose(batched.Images[1]), "different seeds must give different images");
    }

    [Fact]
    public void The_same_request_twice_gives_identical_pixels()
    {
        using var model = TinyPipeline.Create();
        var pipeline = new StableDiffusionPipeline(model);
        var request = TinyPipeline.Request("a dog", "the dog") with { ImagesPerPrompt = 2, BatchSize = 3, Scheduler = "euler_a" };
        using var a = pipeline.Generate(request);
        using var b = pipeline.Generate(request);
        Assert.True(Same(a.Images, b.Images));
        Assert.Equal(["a dog", "a dog", "the dog", "the dog"], a.Prompts);
        Assert.Equal(4, a.Images.shape[0]);
        Assert.Equal([4L, 3, TinyPipeline.Size, TinyPipeline.Size], a.Images.shape);
        Assert.True(a.Images.min().item<float>() >= 0 && a.Images.max().item<float>() <= 1);
    }

    [Fact]
    public void A_missing_seed_is_drawn_and_reported()
    {
        using var model = TinyPipeline.Create();
        var pipeline = new StableDiffusionPipeline(model);
        using var result = pipeline.Generate(TinyPipeline.Request() with { Seed = null, ImagesPerPrompt = 2, Steps = 1 });
        Assert.InRange(result.Seeds[0], 0, (1L << 32) - 1);
        Assert.Equal(result.Seeds[0] + 1, result.Seeds[1]);
        using var again = pipeline.Generate(TinyPipeline.Request() with { Seed = result.Seeds[0], ImagesPerPrompt = 2, Steps = 1 });
        Assert.True(Same(result.Images, again.Images));
    }

    [Fact]
    public void Given_latents_replace_the_seeded_noise()
    {
        using var model = TinyPipeline.Create();
        var pipeline = new StableDiffusionPipeline(model);
        using var g = new Generator(5);
        using var latents = randn([2, 4, TinyPipeline.Size / 2, TinyPipeline.Size / 2], generator: g);
        var request = TinyPipeline.Request() with { ImagesPerPrompt = 2, BatchSize = 2, Latents = latents, Width = null, Height = null };
        using var a = pipeline.Generate(request with { Seed = 1 });
        using var b = pipeline.Generate(request with { Seed = 2 });
        using var seeded = pipeline.Generate(request with { Latents = null, Width = TinyPipeline.Size, Height = TinyPipeline.Size });
        Assert.Equal([2L, 3, TinyPipeline.Size, TinyPipeline.Size], a.Images.shape); // size taken from the latents
        Assert.True(Same(a.Images, b.Images), "DDIM is deterministic: the seed must not matter with given latents");
        Assert.False(a.Images.allclose(seeded.Images));
    }

    [Fact]
    public void Non_finite_values_are_an_error_not_black_images()
    {
        using var model = TinyPipeline.Create();
        var pipeline = new StableDiffusionPipeline(model);
        using var latents = full([1, 4, TinyPipeline.Size / 2, TinyPipeline.Size / 2], float.NaN);
        var request = TinyPipeline.Request() with { ImagesPerPrompt = 1, BatchSize = 1, Latents = latents, Width = null, Height = null };
        var e = Assert.Throws<DreamBoothException>(() => pipeline.Generate(request));
        Assert.Contains("non-finite", e.Message);
        var big = Assert.Throws<DreamBoothException>(() => pipeline.Generate(TinyPipeline.Request() with { GuidanceScale = 1e30 }));
        Assert.Contains("guidance scale 1E+30 is out of range", big.Message);
    }

    [Fact]
    public void Default_size_is_the_unet_sample_size_times_the_vae_factor()
    {
        using var model = TinyPipeline.Create(TinyModels.Sd1Unet with { SampleSize = 4 });
        Assert.Equal(2, model.VaeScaleFactor);
        Assert.Equal((8, 8), model.DefaultSize);
        var pipeline = new StableDiffusionPipeline(model);
        using var result = pipeline.Generate(TinyPipeline.Request() with { Width = null, Height = null, Steps = 1 });
        Assert.Equal([1L, 3, 8, 8], result.Images.shape);
    }

    [Fact]
    public void Embeddings_are_computed_once_per_distinct_prompt()
    {
        using var model = TinyPipeline.Create();
        var pipeline = new StableDiffusionPipeline(model);
        using var embeds = pipeline.EncodePrompts(["a dog", "a cat", "a dog"], ["", "a dog", "ugly"], guidance: true);
        Assert.Equal([3L, 16, 12], embeds.PromptEmbeds.shape);
        Assert.True(Same(embeds.PromptEmbeds[0], embeds.PromptEmbeds[2]));
        Assert.False(Same(embeds.PromptEmbeds[0], embeds.PromptEmbeds[1]));
        Assert.True(Same(embeds.NegativePromptEmbeds![1], embeds.PromptEmbeds[0]));
        using var off = pipeline.EncodePrompts(["a dog"], ["ugly"], guidance: false);
        Assert.Null(off.NegativePromptEmbeds);
        // CLIP skip k = the output of layer n − k after the final layer norm.
        using var skipped = pipeline.EncodePrompts(["a dog"], null, guidance: false, clipSkip: 1);
        using var ids = model.Tokenizer.EncodeBatch(["a dog"]);
        using var expected = model.TextEncoder.HiddenStateWithClipSkip(ids, 1);
        Assert.True(Same(skipped.PromptEmbeds, expected));
    }

    [Fact]
    public void A_long_prompt_warns_once_however_many_images_use_it()
    {
        using var model = TinyPipeline.Create();
        var warnings = new List<string>();
        var pipeline = new StableDiffusionPipeline(model, warnings.Add);
        var prompt = string.Join(" ", Enumerable.Repeat("the dog", 20));
        using var result = pipeline.Generate(TinyPipeline.Request(prompt) with { ImagesPerPrompt = 3, BatchSize = 2, Steps = 1 });
        Assert.Single(warnings);
        Assert.Contains("truncated", warnings[0]);
    }

    [Fact]
    public void Progress_counts_every_step_of_every_batch()
    {
        using var model = TinyPipeline.Create();
        var pipeline = new StableDiffusionPipeline(model);
        var reports = new List<GenerationProgress>();
        using var result = pipeline.Generate(TinyPipeline.Request() with { ImagesPerPrompt = 3, BatchSize = 2, Steps = 2 }, new SyncProgress(reports.Add));
        Assert.Equal([1, 2, 3, 4], reports.Select(r => r.CompletedSteps));
        Assert.All(reports, r => Assert.Equal(4, r.TotalSteps));
        Assert.Equal([0, 0, 2, 2], reports.Select(r => r.ImagesDone));
        Assert.All(reports, r => Assert.Equal(3, r.ImageCount));

        // PNDM calls the UNet once more than the step count (its first timestep repeats); progress counts calls.
        reports.Clear();
        using var plms = pipeline.Generate(TinyPipeline.Request() with { Steps = 3, Scheduler = "pndm" }, new SyncProgress(reports.Add));
        Assert.Equal([1, 2, 3, 4], reports.Select(r => r.CompletedSteps));
        Assert.All(reports, r => Assert.Equal(4, r.TotalSteps));
    }

    [Fact]
    public void Cancellation_stops_between_steps_and_frees_everything()
    {
        using var model = TinyPipeline.Create();
        var pipeline = new StableDiffusionPipeline(model);
        pipeline.Generate(TinyPipeline.Request() with { Steps = 1 }).Dispose();
        long before = LiveTensors;
        using var cts = new CancellationTokenSource();
        int steps = 0;
        var request = TinyPipeline.Request() with { Steps = 5, OnStepEnd = s => { if (++steps == 2) cts.Cancel(); } };
        Assert.ThrowsAny<OperationCanceledException>(() => pipeline.Generate(request, null, cts.Token));
        Assert.Equal(2, steps);
        Assert.Equal(before, LiveTensors);
    }

    [Fact]
    public void Batches_stream_out_one_by_one()
    {
        using var model = TinyPipeline.Create();
        var pipeline = new StableDiffusionPipeline(model);
        var firsts = new List<int>();
        foreach (var batch in pipeline.GenerateBatches(TinyPipeline.Request() with { ImagesPerPrompt = 5, BatchSize = 2, Steps = 1 }))
        {
            using (batch)
            {
                firsts.Add(batch.FirstIndex);
                Assert.Equal(batch.Count, (int)batch.Images.shape[0]);
                Assert.Equal(Enumerable.Range(batch.FirstIndex, batch.Count).Select(i => 7L + i), batch.Seeds);
            }
        }
        Assert.Equal([0, 2, 4], firsts);
    }

    public static TheoryData<string, GenerationRequest> BadRequests() => new()
    {
        { "width 20", TinyPipeline.Request() with { Width = 20 } },
        { "height 0", TinyPipeline.Request() with { Height = 0 } },
        { "number of steps must be at least 1, got 0", TinyPipeline.Request() with { Steps = 0 } },
        { "number of steps must be at least 1, got -3", TinyPipeline.Request() with { Steps = -3 } },
        { "out of range", TinyPipeline.Request() with { Steps = 1001 } },
        { "guidance scale", TinyPipeline.Request() with { GuidanceScale = double.NaN } },
        { "guidance rescale", TinyPipeline.Request() with { GuidanceRescale = 1.5 } },
        { "images per prompt", TinyPipeline.Request() with { ImagesPerPrompt = 0 } },
        { "batch size", TinyPipeline.Request() with { BatchSize = 0 } },
        { "clip skip 3", TinyPipeline.Request() with { ClipSkip = 3 } },
        { "unknown scheduler 'nope'", TinyPipeline.Request() with { Scheduler = "nope" } },
        { "negative prompts", TinyPipeline.Request("a", "b", "c") with { NegativePrompts = ["x", "y"] } },
        { "at least one prompt", TinyPipeline.Request() with { Prompts = [] } },
        { "seed", TinyPipeline.Request() with { Seed = -1 } },
        { "initial latents", TinyPipeline.Request() with { Latents = zeros(2, 4, 8, 8) } },
        { "initial latents", TinyPipeline.Request() with { Latents = zeros(1, 4, 4, 8) } },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public void Bad_requests_fail_at_once_with_one_line(string message, GenerationRequest request)
    {
        using var model = TinyPipeline.Create();
        var pipeline = new StableDiffusionPipeline(model);
        // Thrown by the call itself, before any enumeration (so before any work).
        var e = Assert.Throws<DreamBoothException>(() => pipeline.GenerateBatches(request));
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void An_empty_prompt_is_an_unconditional_sample()
    {
        using var model = TinyPipeline.Create();
        var pipeline = new StableDiffusionPipeline(model);
        using var result = pipeline.Generate(TinyPipeline.Request("") with { Steps = 1 });
        Assert.Equal([""], result.Prompts);
    }

    [Fact]
    public void Components_that_do_not_fit_are_refused()
    {
        var e = Assert.Throws<DreamBoothException>(() => TinyPipeline.Create(textWidth: 8));
        Assert.Contains("cross_attention_dim", e.Message);
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private sealed class SyncProgress(Action<GenerationProgress> report) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value) => report(value);
    }
}
