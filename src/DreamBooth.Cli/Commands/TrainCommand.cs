using System.ComponentModel;
using DreamBooth.IO;
using DreamBooth.Training;
using DreamBooth.Training.Lora;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace DreamBooth.Cli.Commands;

/// <summary>
/// <c>dreambooth train</c>: diffusers' train_dreambooth.py / train_dreambooth_lora.py as one command, flags in kebab-case
/// with the same defaults (differences are noted in the option help).
/// </summary>
public sealed class TrainCommand(CliServices services) : Command<TrainCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("-m|--pretrained-model-name-or-path|--model <PATH>"), Description("Base model: a diffusers Stable Diffusion folder. Alias: --model.")]
        public string? Model { get; init; }

        [CommandOption("--instance-data-dir <DIR>"), Description("Photos of the subject (jpg/png/webp/bmp/gif, first frame; hidden files skipped); name.txt beside an image replaces its prompt.")]
        public string? InstanceDataDir { get; init; }

        [CommandOption("--instance-prompt <TEXT>"), Description("Prompt with the identifier, e.g. \"a photo of sks dog\".")]
        public string? InstancePrompt { get; init; }

        [CommandOption("--identifier <WORD>"), Description("The identifier word the instance prompt must contain (warning if not). Default: the words the class prompt lacks.")]
        public string? Identifier { get; init; }

        [CommandOption("--class-data-dir <DIR>"), Description("Class images for prior preservation; missing ones are generated. Default: OUTPUT/class_images.")]
        public string? ClassDataDir { get; init; }

        [CommandOption("--class-prompt <TEXT>"), Description("Prompt of the class, e.g. \"a photo of dog\".")]
        public string? ClassPrompt { get; init; }

        [CommandOption("--with-prior-preservation"), Description("Add the class-specific prior-preservation loss.")]
        public bool WithPriorPreservation { get; init; }

        [CommandOption("--prior-loss-weight <W>"), DefaultValue(1.0), Description("Weight λ of the prior loss.")]
        public double PriorLossWeight { get; init; } = 1.0;

        [CommandOption("--num-class-images <N>"), DefaultValue(100), Description("Class images to use (and generate when missing).")]
        public int NumClassImages { get; init; } = 100;

        [CommandOption("--sample-batch-size <N>"), DefaultValue(4), Description("Images per generation batch (class images) and per VAE encoding batch.")]
        public int SampleBatchSize { get; init; } = 4;

        [CommandOption("--output-dir <DIR>"), Description("Where checkpoints, logs, validation images and the trained model go (required).")]
        public string? OutputDir { get; init; }

        [CommandOption("--seed <N>"), Description("Random seed; default: a random one, recorded so that a resume reuses it.")]
        public long? Seed { get; init; }

        [CommandOption("--resolution <PX>"), Description("Training image side, a multiple of 8. Default: the model's own (unet sample_size × VAE factor: 512 for SD 1.5).")]
        public int? Resolution { get; init; }

        [CommandOption("--center-crop"), Description("Center-crop after resizing (default: random crops).")]
        public bool CenterCrop { get; init; }

        [CommandOption("--random-flip"), Description("Also train on mirrored images.")]
        public bool RandomFlip { get; init; }

        [CommandOption("--random-crops-per-image <N>"), DefaultValue(4), Description("Random crops cached per image (latents are encoded once).")]
        public int RandomCropsPerImage { get; init; } = 4;

        [CommandOption("--train-text-encoder"), Description("Also train the text encoder.")]
        public bool TrainTextEncoder { get; init; }

        [CommandOption("--text-encoder-lr <LR>"), Description("Learning rate of the text encoder; default: --learning-rate.")]
        public double? TextEncoderLr { get; init; }

        [CommandOption("--lora"), Description("Train LoRA adapters (attention projections) instead of all weights; writes pytorch_lora_weights.safetensors.")]
        public bool Lora { get; init; }

        [CommandOption("--lora-rank|--rank <R>"), DefaultValue(4), Description("LoRA rank. Alias: --rank (diffusers' train_dreambooth_lora.py name).")]
        public int LoraRank { get; init; } = 4;

        [CommandOption("--lora-alpha <A>"), Description("LoRA alpha (scale alpha/rank); default: the rank.")]
        public double? LoraAlpha { get; init; }

        [CommandOption("--lora-init <INIT>"), DefaultValue("gaussian"), Description("gaussian (diffusers' script) or kaiming (PEFT default).")]
        public string LoraInit { get; init; } = "gaussian";

        [CommandOption("--train-batch-size <N>"), DefaultValue(4), Description("Instance images per step (as many class images are added).")]
        public int TrainBatchSize { get; init; } = 4;

        [CommandOption("--num-train-epochs <N>"), DefaultValue(1), Description("Epochs, when --max-train-steps is not given.")]
        public int NumTrainEpochs { get; init; } = 1;

        [CommandOption("--max-train-steps <N>"), Description("Optimizer steps; overrides --num-train-epochs.")]
        public int? MaxTrainSteps { get; init; }

        [CommandOption("--checkpointing-steps <N>"), DefaultValue(500), Description("Save a resumable checkpoint every N steps.")]
        public int CheckpointingSteps { get; init; } = 500;

        [CommandOption("--checkpoints-total-limit <N>"), Description("Keep at most N checkpoints (oldest removed).")]
        public int? CheckpointsTotalLimit { get; init; }

        [CommandOption("--resume-from-checkpoint <PATH>"), Description("'latest' or a checkpoint folder.")]
        public string? ResumeFromCheckpoint { get; init; }

        [CommandOption("--gradient-accumulation-steps <N>"), DefaultValue(1), Description("Micro-batches per optimizer step.")]
        public int GradientAccumulationSteps { get; init; } = 1;

        [CommandOption("--gradient-checkpointing"), Description("Recompute activations in backward to save memory.")]
        public bool GradientCheckpointing { get; init; }

        [CommandOption("--learning-rate <LR>"), Description("Learning rate; default 5e-6, or 5e-4 with --lora (as the two diffusers scripts).")]
        public double? LearningRate { get; init; }

        [CommandOption("--scale-lr"), Description("Multiply the learning rate by accumulation steps × batch size.")]
        public bool ScaleLr { get; init; }

        [CommandOption("--lr-scheduler <NAME>"), DefaultValue("constant"), Description("constant, constant_with_warmup, linear, cosine, cosine_with_restarts, polynomial.")]
        public string LrScheduler { get; init; } = "constant";

        [CommandOption("--lr-warmup-steps <N>"), DefaultValue(500), Description("Warm-up steps (not used by 'constant').")]
        public int LrWarmupSteps { get; init; } = 500;

        [CommandOption("--lr-num-cycles <N>"), DefaultValue(1), Description("Hard restarts of cosine_with_restarts.")]
        public int LrNumCycles { get; init; } = 1;

        [CommandOption("--lr-power <P>"), DefaultValue(1.0), Description("Power of the polynomial schedule.")]
        public double LrPower { get; init; } = 1.0;

        [CommandOption("--adam-beta1 <B>"), DefaultValue(0.9)]
        public double AdamBeta1 { get; init; } = 0.9;

        [CommandOption("--adam-beta2 <B>"), DefaultValue(0.999)]
        public double AdamBeta2 { get; init; } = 0.999;

        [CommandOption("--adam-weight-decay <W>"), DefaultValue(1e-2)]
        public double AdamWeightDecay { get; init; } = 1e-2;

        [CommandOption("--adam-epsilon <E>"), DefaultValue(1e-8)]
        public double AdamEpsilon { get; init; } = 1e-8;

        [CommandOption("--max-grad-norm <N>"), DefaultValue(1.0), Description("Gradient clipping (total L2 norm).")]
        public double MaxGradNorm { get; init; } = 1.0;

        [CommandOption("--mixed-precision <MODE>"), DefaultValue("no"), Description("no, or bf16 (bf16 compute, fp32 master weights, loss and optimizer).")]
        public string MixedPrecision { get; init; } = "no";

        [CommandOption("--snr-gamma <G>"), Description("Min-SNR loss weighting γ (5.0 is the paper's value), applied to the instance loss (the prior loss keeps weight 1); with v-prediction the weight is min(SNR, γ) / (SNR + 1).")]
        public double? SnrGamma { get; init; }

        [CommandOption("--offset-noise"), Description("Offset noise (0.1 per sample and channel).")]
        public bool OffsetNoise { get; init; }

        [CommandOption("--validation-prompt <TEXT>"), Description("Generate validation images with this prompt during training.")]
        public string? ValidationPrompt { get; init; }

        [CommandOption("--num-validation-images <N>"), DefaultValue(4)]
        public int NumValidationImages { get; init; } = 4;

        [CommandOption("--validation-steps <N>"), DefaultValue(100), Description("Validate every N steps (and at the end).")]
        public int ValidationSteps { get; init; } = 100;

        [CommandOption("--dtype <DTYPE>"), DefaultValue("fp32"), Description("dtype of the saved model weights: fp32, bf16 or fp16 (training precision is --mixed-precision; generate's --dtype is the dtype it runs in).")]
        public string DType { get; init; } = "fp32";
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var options = ToOptions(s);
        var warnings = new List<string>();
        TrainingResult result = null!;
        ProgressDisplay.Run(display =>
        {
            var trainer = new DreamBoothTrainer(options, services.Images, services.Sampler, display,
                w => ProgressDisplay.Warn(w), i => ProgressDisplay.Note(i));
            result = trainer.Run(cancellationToken);
        });
        AnsiConsole.MarkupLineInterpolated($"[green]done[/]: {result.Steps} steps; model: {result.ModelPath}");
        if (result.ValidationSheets.Count > 0) AnsiConsole.MarkupLineInterpolated($"validation: {result.ValidationSheets[^1]}");
        return 0;
    }

    /// <summary>The library options for the parsed flags (flag-level errors are <see cref="DreamBoothException"/>s).</summary>
    internal static DreamBoothTrainingOptions ToOptions(Settings s) => new()
    {
        ModelPath = s.Model ?? throw new DreamBoothException("--pretrained-model-name-or-path (--model): required"),
        InstanceDataDir = s.InstanceDataDir ?? throw new DreamBoothException("--instance-data-dir: required"),
        InstancePrompt = s.InstancePrompt ?? throw new DreamBoothException("--instance-prompt: required (e.g. \"a photo of sks dog\")"),
        OutputDir = s.OutputDir ?? throw new DreamBoothException("--output-dir: required"),
        Identifier = s.Identifier,
        ClassDataDir = s.ClassDataDir,
        ClassPrompt = s.ClassPrompt,
        WithPriorPreservation = s.WithPriorPreservation,
        PriorLossWeight = s.PriorLossWeight,
        NumClassImages = s.NumClassImages,
        SampleBatchSize = s.SampleBatchSize,
        Seed = s.Seed,
        Resolution = s.Resolution,
        CenterCrop = s.CenterCrop,
        RandomFlip = s.RandomFlip,
        RandomCropsPerImage = s.RandomCropsPerImage,
        TrainTextEncoder = s.TrainTextEncoder,
        TextEncoderLearningRate = s.TextEncoderLr,
        Lora = s.Lora,
        LoraRank = s.LoraRank,
        LoraAlpha = s.LoraAlpha,
        LoraInit = LoraSettings.ParseInit(s.LoraInit),
        TrainBatchSize = s.TrainBatchSize,
        NumTrainEpochs = s.NumTrainEpochs,
        MaxTrainSteps = s.MaxTrainSteps,
        CheckpointingSteps = s.CheckpointingSteps,
        CheckpointsTotalLimit = s.CheckpointsTotalLimit,
        ResumeFromCheckpoint = s.ResumeFromCheckpoint,
        GradientAccumulationSteps = s.GradientAccumulationSteps,
        GradientCheckpointing = s.GradientCheckpointing,
        LearningRate = s.LearningRate,
        ScaleLr = s.ScaleLr,
        LrScheduler = LearningRateSchedule.ParseKind(s.LrScheduler),
        LrWarmupSteps = s.LrWarmupSteps,
        LrNumCycles = s.LrNumCycles,
        LrPower = s.LrPower,
        AdamBeta1 = s.AdamBeta1,
        AdamBeta2 = s.AdamBeta2,
        AdamWeightDecay = s.AdamWeightDecay,
        AdamEpsilon = s.AdamEpsilon,
        MaxGradNorm = s.MaxGradNorm,
        ComputeDType = ParseMixedPrecision(s.MixedPrecision),
        SnrGamma = s.SnrGamma,
        OffsetNoise = s.OffsetNoise,
        ValidationPrompt = s.ValidationPrompt,
        NumValidationImages = s.NumValidationImages,
        ValidationSteps = s.ValidationSteps,
        SaveDType = ModelDType.Parse(s.DType),
    };

    private static ScalarType ParseMixedPrecision(string value) => value.Trim().ToLowerInvariant() switch
    {
        "no" or "fp32" or "none" => ScalarType.Float32,
        "bf16" => ScalarType.BFloat16,
        "fp16" => throw new DreamBoothException("--mixed-precision fp16: not supported (no fp16 speed-up on CPU and it needs loss scaling); use bf16"),
        _ => throw new DreamBoothException($"--mixed-precision {value}: expected no or bf16"),
    };
}
