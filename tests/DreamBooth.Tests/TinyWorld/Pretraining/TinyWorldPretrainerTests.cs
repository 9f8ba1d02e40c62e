using System.Text.Json;
using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Schedulers;
using DreamBooth.TinyWorld;
using DreamBooth.TinyWorld.Pretraining;
using DreamBooth.Tests.IO;
using DreamBooth.Tokenization;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.TinyWorld.Pretraining;

public sealed class TinyWorldPretrainerTests(MicroPretraining micro) : IClassFixture<MicroPretraining>
{
    [Fact]
    public void MicroRun_WritesADiffusersFolderThatOurLoadersOpen()
    {
        var dir = micro.Reference.ModelDir;
        var folder = ModelFolder.Open(dir);
        folder.Index!.ClassName.Should().Be("StableDiffusionPipeline");
        folder.Components.Keys.Should().BeEquivalentTo(["unet", "vae", "text_encoder", "tokenizer", "scheduler"]);

        using var unet = UNet2DConditionModel.FromPretrained(folder["unet"]);
        using var vae = AutoencoderKL.FromPretrained(folder["vae"]);
        using var text = CLIPTextModel.FromPretrained(folder["text_encoder"]);
        using var scheduler = SchedulerFactory.FromPretrained(folder["scheduler"].Directory);
        var tokenizer = ClipTokenizer.FromPretrained(folder["tokenizer"].Directory);

        scheduler.Should().BeOfType<DDIMScheduler>();
        scheduler.PredictionType.Should().Be(PredictionType.VPrediction);
        tokenizer.ModelMaxLength.Should().Be(text.Config.MaxPositionEmbeddings);
        tokenizer.VocabSize.Should().Be(text.Config.VocabSize);
        unet.Config.CrossAttentionDims.Should().AllBeEquivalentTo(text.Config.HiddenSize);
        var record = micro.Reference.Record;
        vae.ScalingFactor.Should().Be(record["vae_scaling_factor"]!.GetValue<double>());
        vae.ScalingFactor.Should().BeInRange(1e-3, 1e3).And.NotBe(1.0, "it is measured from the latents' standard deviation");
        record["seed"]!.GetValue<long>().Should().Be(MicroPretraining.Options.Seed);
        record["first_losses"]!["vae"]!.AsArray().Should().HaveCount(TinyWorldPretrainer.FirstLossCount);
        record["first_losses"]!["diffusion"]!.AsArray().Should().HaveCount(TinyWorldPretrainer.FirstLossCount);
        File.Exists(Path.Combine(dir, TinyWorldPretrainer.RecordFileName)).Should().BeTrue();
    }

    [Fact]
    public void MicroRun_SamplesImagesWithTheFolderScheduler()
    {
        using var sampler = new DdimSampler(micro.Reference.ModelDir);
        using var images = sampler.Sample(["a photo of a dog", "a pencil sketch of a red cat at night"], steps: 3, guidance: 3.0, seed: 5);
        images.shape.Should().Equal(2, 3, 64, 64);
        images.isfinite().all().item<bool>().Should().BeTrue();
    }

    [Fact]
    public void ConfigJsonFiles_CarryDiffusersClassNames()
    {
        var dir = micro.Reference.ModelDir;
        foreach (var (file, cls) in new[] { ("unet/config.json", "UNet2DConditionModel"), ("vae/config.json", "AutoencoderKL"), ("scheduler/scheduler_config.json", "DDIMScheduler") })
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, file)));
            doc.RootElement.GetProperty("_class_name").GetString().Should().Be(cls);
            doc.RootElement.GetProperty("_diffusers_version").GetString().Should().Be(TinyWorldArchitecture.DiffusersVersion);
        }
        using var clip = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "text_encoder/config.json")));
        clip.RootElement.GetProperty("architectures")[0].GetString().Should().Be("CLIPTextModel");
        clip.RootElement.GetProperty("model_type").GetString().Should().Be("clip_text_model");
    }

    [Fact]
    public void Record_FirstLosses_AreReproducedByReplayingTheRecordedOptions() => RecordReplay.AssertReproduces(micro.Reference.ModelDir);

    [Fact]
    public void Record_WithAnotherSeed_IsNotReproduced()
    {
        var copy = micro.NewOutput("tampered");
        Folders.Copy(micro.Reference.ModelDir, copy);
        var recordPath = Path.Combine(copy, TinyWorldPretrainer.RecordFileName);
        var record = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(recordPath))!;
        record["seed"] = MicroPretraining.Options.Seed + 1;
        record["options"]!["seed"] = MicroPretraining.Options.Seed + 1;
        File.WriteAllText(recordPath, record.ToJsonString());
        var act = () => RecordReplay.AssertReproduces(copy);
        act.Should().Throw<Exception>("another seed gives other losses");
    }

    [Fact]
    public void ResumeAfterCancellationInEveryStage_GivesTheSameWeightsAsAnUninterruptedRun()
    {
        var output = micro.NewOutput("resumed");
        // Stop in stage 1 after step 1 (a checkpoint is written on the way out), in stage 2 after step 3 (between checkpoints).
        Cancelled(() => TinyWorldPretrainer.Run(MicroPretraining.Options, output, progress: CancelAt(PretrainingStage.Vae, 1, out var cts1),
            cancellationToken: cts1.Token));
        Cancelled(() => TinyWorldPretrainer.Run(MicroPretraining.Options, output, resume: true, progress: CancelAt(PretrainingStage.Diffusion, 3, out var cts2),
            cancellationToken: cts2.Token));
        TinyWorldPretrainer.Run(MicroPretraining.Options, output, resume: true);

        var expected = MicroPretraining.WeightFiles(micro.Reference.ModelDir);
        var actual = MicroPretraining.WeightFiles(output);
        actual.Keys.Should().BeEquivalentTo(expected.Keys);
        foreach (var (name, bytes) in expected)
            actual[name].SequenceEqual(bytes).Should().BeTrue($"{name} must be bit-identical after resuming");
    }

    [Fact]
    public void AnotherSeed_GivesOtherWeights()
    {
        var output = micro.NewOutput("seed");
        TinyWorldPretrainer.Run(MicroPretraining.Options with { Seed = MicroPretraining.Options.Seed + 1, UnetSteps = 1, VaeSteps = 1 }, output);
        using var a = new DisposableTensors(MicroPretraining.Load(micro.Reference.ModelDir, "unet/diffusion_pytorch_model.safetensors"));
        using var b = new DisposableTensors(MicroPretraining.Load(output, "unet/diffusion_pytorch_model.safetensors"));
        Same(a.Tensors["conv_in.weight"], b.Tensors["conv_in.weight"]).Should().BeFalse();
    }

    [Fact]
    public void RareTokenEmbeddings_KeepTheirInitialValues_CaptionWordsMove()
    {
        var vocabulary = TinyWorldVocabulary.Build();
        var architecture = TinyWorldArchitecture.Micro(vocabulary);
        using var initial = new CLIPTextModel(architecture.TextEncoder);
        using (var g = StepRandom.Generator(MicroPretraining.Options.Seed, StepRandom.Init, 3)) WeightInitialization.Clip(initial, g);
        using var trained = new DisposableTensors(MicroPretraining.Load(micro.Reference.ModelDir, "text_encoder/model.safetensors"));
        var before = initial.text_model.embeddings.token_embedding.weight!;
        var after = trained.Tensors["text_model.embeddings.token_embedding.weight"];
        var tokenizer = ClipTokenizer.FromPretrained(Path.Combine(micro.Reference.ModelDir, "tokenizer"));

        foreach (var rare in TinyWorldVocabulary.RareTokens)
        {
            int id = tokenizer.EncodeTokens(rare).Single();
            Same(after[id], before[id]).Should().BeTrue($"'{rare}' never occurs in a caption, so its embedding must be untouched");
        }
        int article = tokenizer.EncodeTokens("a").Single();
        Same(after[article], before[article]).Should().BeFalse("'a' occurs in almost every caption, so its embedding is trained");
    }

    [Fact]
    public void ResumeWithOtherOptions_FailsNamingTheOption()
    {
        var output = micro.NewOutput("other");
        Cancelled(() => TinyWorldPretrainer.Run(MicroPretraining.Options, output, progress: CancelAt(PretrainingStage.Diffusion, 1, out var cts),
            cancellationToken: cts.Token));
        var act = () => TinyWorldPretrainer.Run(MicroPretraining.Options with { LearningRate = 1e-2 }, output, resume: true);
        act.Should().Throw<DreamBoothException>().WithMessage("*lr=0.0005*lr=0.01*--work-dir*");
    }

    [Fact]
    public void Extension_ContinuesAFinishedStage2_AndResumesLikeAnyRun()
    {
        var extended = MicroPretraining.Options with { UnetSteps = MicroPretraining.Options.UnetSteps + 3, ExtendsUnetSteps = MicroPretraining.Options.UnetSteps };
        string CopyOfReference(string name)
        {
            var output = micro.NewOutput(name);
            Folders.Copy(micro.Reference.ModelDir, output);
            Folders.Copy(TinyWorldPretrainer.DefaultWorkDir(micro.Reference.ModelDir), TinyWorldPretrainer.DefaultWorkDir(output));
            return output;
        }
        var whole = CopyOfReference("extended");
        var result = TinyWorldPretrainer.Run(extended, whole, resume: true);
        result.Record["options"]!["extends_unet_steps"]!.GetValue<int>().Should().Be(MicroPretraining.Options.UnetSteps);
        result.Record["unet_steps"]!.GetValue<int>().Should().Be(extended.UnetSteps);
        using (var before = new DisposableTensors(MicroPretraining.Load(micro.Reference.ModelDir, "unet/diffusion_pytorch_model.safetensors")))
        using (var after = new DisposableTensors(MicroPretraining.Load(whole, "unet/diffusion_pytorch_model.safetensors")))
            Same(before.Tensors["conv_in.weight"], after.Tensors["conv_in.weight"]).Should().BeFalse("the extension trains further");

        // Interrupted inside the extension, then resumed with the same flags: bit-identical to the uninterrupted extension.
        var interrupted = CopyOfReference("interrupted");
        Cancelled(() => TinyWorldPretrainer.Run(extended, interrupted, resume: true,
            progress: CancelAt(PretrainingStage.Diffusion, MicroPretraining.Options.UnetSteps + 1, out var cts), cancellationToken: cts.Token));
        TinyWorldPretrainer.Run(extended, interrupted, resume: true);
        var expected = MicroPretraining.WeightFiles(whole);
        foreach (var (name, bytes) in MicroPretraining.WeightFiles(interrupted))
            bytes.SequenceEqual(expected[name]).Should().BeTrue($"{name} after resuming the extension");

        // Nothing to extend, or a stage 2 that has not finished: refused with the reason.
        var fresh = () => TinyWorldPretrainer.Run(extended, micro.NewOutput("nothing"), resume: true);
        fresh.Should().Throw<DreamBoothException>().WithMessage("*no finished stage-2 checkpoint to extend*");
        var unfinished = micro.NewOutput("unfinished");
        Cancelled(() => TinyWorldPretrainer.Run(MicroPretraining.Options, unfinished, progress: CancelAt(PretrainingStage.Diffusion, 3, out var cts3),
            cancellationToken: cts3.Token));
        var early = () => TinyWorldPretrainer.Run(extended, unfinished, resume: true);
        early.Should().Throw<DreamBoothException>().WithMessage("*stopped at step 3*--extend-from-unet-steps*");
        var backwards = () => TinyWorldPretrainer.Run(extended with { ExtendsUnetSteps = extended.UnetSteps }, micro.NewOutput("backwards"));
        backwards.Should().Throw<DreamBoothException>().WithMessage("--extend-from-unet-steps:*");
    }

    [Fact]
    public void Resume_never_writes_the_model_among_foreign_files()
    {
        var output = micro.NewOutput("foreign");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");
        // A fresh work folder: nothing to finish, so the non-empty output is refused as without --resume.
        var fresh = () => TinyWorldPretrainer.Run(MicroPretraining.Options, output, resume: true);
        fresh.Should().Throw<DreamBoothException>().WithMessage("--output *: folder is not empty, and --work-dir * holds no run for --resume to finish*");
        // A finished run to write out, but the output holds unrelated files.
        var foreign = () => TinyWorldPretrainer.Run(MicroPretraining.Options, output, micro.Reference.WorkDir, resume: true);
        foreign.Should().Throw<DreamBoothException>().WithMessage("--output *: holds notes.txt, which is not part of a tiny-world model*");
        // Another tool's model: model_index.json without the pretraining record.
        File.Delete(Path.Combine(output, "notes.txt"));
        File.WriteAllText(Path.Combine(output, ModelIndex.FileName), "{}");
        foreign.Should().Throw<DreamBoothException>().WithMessage("*model_index.json without pretraining.json (another model)*");
        Directory.EnumerateFileSystemEntries(output).Should().HaveCount(1, "nothing was written");
        // A tiny-world model of another run (another seed): not this run's to replace.
        File.WriteAllText(Path.Combine(output, TinyWorldPretrainer.RecordFileName), """{"options": {"seed": 999, "architecture": "micro"}}""");
        foreign.Should().Throw<DreamBoothException>().WithMessage("*holds the tiny-world model of another run (seed 999, architecture micro)*");
    }

    [Fact]
    public void ExistingRun_WithoutResume_IsRefused()
    {
        var act = () => TinyWorldPretrainer.Run(MicroPretraining.Options, micro.Reference.ModelDir);
        act.Should().Throw<DreamBoothException>().WithMessage("*already holds a pretraining run*--resume*");
    }

    [Theory]
    [InlineData("caption", "--caption-dropout")]
    [InlineData("batch", "--batch-size")]
    [InlineData("ema", "--ema-decay")]
    [InlineData("architecture", "--architecture")]
    public void BadOptions_FailWithTheFlagName(string what, string flag)
    {
        var o = what switch
        {
            "caption" => MicroPretraining.Options with { CaptionDropout = 1.5 },
            "batch" => MicroPretraining.Options with { BatchSize = 0 },
            "ema" => MicroPretraining.Options with { EmaDecay = 1 },
            _ => MicroPretraining.Options with { Architecture = "huge" },
        };
        var act = () => TinyWorldPretrainer.Run(o, micro.NewOutput("bad"));
        act.Should().Throw<DreamBoothException>().WithMessage($"{flag}:*");
    }

    [Fact]
    public void A_diverging_run_stops_with_one_line_before_writing_non_finite_weights()
    {
        var output = micro.NewOutput("diverge");
        var o = MicroPretraining.Options with { LearningRate = 1e30 };
        var act = () => TinyWorldPretrainer.Run(o, output);
        act.Should().Throw<DreamBoothException>().WithMessage("tiny-world pretrain: stage diffusion diverged at step *--resume");
        var checkpoint = Path.Combine(TinyWorldPretrainer.DefaultWorkDir(output), "diffusion-checkpoint.safetensors");
        File.Exists(checkpoint).Should().BeTrue("the micro run checkpoints every 2 steps, and the weights explode only after the warm-up");
            foreach (var (name, t) in Safetensors.LoadAll(checkpoint))
                using (t) t.isfinite().all().item<bool>().Should().BeTrue($"{name} in the last checkpoint must stay finite");
    }

    [Fact]
    public void Log_rows_torn_by_a_kill_are_skipped_on_resume()
    {
        var work = micro.NewOutput("log");
        Directory.CreateDirectory(work);
        var run = new PretrainingRun(MicroPretraining.Options, work, null, default);
        File.WriteAllText(run.LogPath, string.Join("\n",
            "stage,step,loss,lr,grad_norm,utc",
            "vae,1,0.5,0,1,2026-01-01T00:00:00Z",
            "diffusion,1,0.25,0,1,2026-01-01T00:00:00Z",
            "diffusion,2,0.125,0,1,2026-01-01T00:00:00Z",
            "diffusion,3,0.0625,0,1,2026-01-01T00:00:00Z",
            "diffusion,4,0.06") + "\n");
        run.FirstLosses(PretrainingStage.Diffusion, 10).Should().Equal(0.25, 0.125, 0.0625);
        run.TruncateLog(PretrainingStage.Diffusion, 2);
        File.ReadAllLines(run.LogPath).Should().HaveCount(4);
        run.FirstLosses(PretrainingStage.Diffusion, 10).Should().Equal(0.25, 0.125);
        run.FirstLosses(PretrainingStage.Vae, 10).Should().Equal(0.5);
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static void Cancelled(Action run)
    {
        var act = run;
        act.Should().Throw<OperationCanceledException>();
    }

    /// <summary>A synchronous progress sink that cancels once <paramref name="stage"/> reports <paramref name="done"/> steps.</summary>
    private static IProgress<PretrainingProgress> CancelAt(PretrainingStage stage, int done, out CancellationTokenSource cts)
    {
        var source = new CancellationTokenSource();
        cts = source;
        return new Sink(p =>
        {
            if (p.Stage == stage && p.Message is null && p.Done == done) source.Cancel();
        });
    }

    private sealed class Sink(Action<PretrainingProgress> onReport) : IProgress<PretrainingProgress>
    {
        public void Report(PretrainingProgress value) => onReport(value);
    }

    private sealed class DisposableTensors(Dictionary<string, Tensor> tensors) : IDisposable
    {
        public Dictionary<string, Tensor> Tensors { get; } = tensors;

        public void Dispose()
        {
            foreach (var t in Tensors.Values) t.Dispose();
        }
    }
}
