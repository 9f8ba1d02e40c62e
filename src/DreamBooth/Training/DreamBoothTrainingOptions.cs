using DreamBooth.Training.Lora;
using static TorchSharp.torch;

namespace DreamBooth.Training;

/// <summary>
/// Everything a DreamBooth run is configured with; the names follow diffusers' train_dreambooth.py /
/// train_dreambooth_lora.py flags (kebab-case on the command line) and so do the defaults, except where noted.
/// </summary>
public sealed record DreamBoothTrainingOptions
{
    // --- model, data, prompts
    /// <summary>The base model folder (<c>--pretrained-model-name-or-path</c>, <c>--model</c>).</summary>
    public required string ModelPath { get; init; }

    /// <summary>The subject photos (<c>--instance-data-dir</c>).</summary>
    public required string InstanceDataDir { get; init; }

    /// <summary>The prompt with the identifier, e.g. "a photo of sks dog" (<c>--instance-prompt</c>); caption files override it per image.</summary>
    public required string InstancePrompt { get; init; }

    /// <summary>The rare-token identifier the instance prompt must contain (<c>--identifier</c>; not in diffusers). When unset and a class prompt is given, the words of the instance prompt that are not in the class prompt count as the identifier.</summary>
    public string? Identifier { get; init; }

    /// <summary>Where the run writes everything (<c>--output-dir</c>; required here: diffusers' default "text-inversion-model" is a leftover of another script).</summary>
    public required string OutputDir { get; init; }

    /// <summary>Prior preservation (<c>--with-prior-preservation</c>).</summary>
    public bool WithPriorPreservation { get; init; }

    /// <summary>Class images folder (<c>--class-data-dir</c>); with prior preservation and unset, <c>{output}/class_images</c>.</summary>
    public string? ClassDataDir { get; init; }

    /// <summary>The class prompt, e.g. "a photo of dog" (<c>--class-prompt</c>).</summary>
    public string? ClassPrompt { get; init; }

    /// <summary>λ (<c>--prior-loss-weight</c>, 1.0).</summary>
    public double PriorLossWeight { get; init; } = 1.0;

    /// <summary>Class images to use and generate (<c>--num-class-images</c>, 100).</summary>
    public int NumClassImages { get; init; } = 100;

    /// <summary>Images per generation call (<c>--sample-batch-size</c>, 4).</summary>
    public int SampleBatchSize { get; init; } = 4;

    /// <summary>Seed (<c>--seed</c>); null: a random seed, recorded in the run so that a resume reuses it.</summary>
    public long? Seed { get; init; }

    /// <summary>The largest learning rate accepted: below float32 overflow (a rate beyond 3.4e38 cannot even be passed
    /// to the native optimizer). Absurd rates below it are allowed on purpose: the run stops at the first non-finite
    /// loss with a one-line error and its last good checkpoint.</summary>
    public const double MaxLearningRate = 1e30;

    /// <summary>The largest <see cref="Seed"/> (2⁶²): seed + i for every class image must stay a valid seed.</summary>
    public const long MaxSeed = 1L << 62;

    /// <summary>Training image side (<c>--resolution</c>); null = the model's own size, unet sample_size × VAE factor (512 for SD 1.5, 768 for SD 2.x 768, 64 for tiny-sd1), where diffusers always defaults to 512.</summary>
    public int? Resolution { get; init; }

    /// <summary><c>--center-crop</c> (otherwise random crops).</summary>
    public bool CenterCrop { get; init; }

    /// <summary><c>--random-flip</c> (in train_dreambooth_lora_sdxl.py, not train_dreambooth.py).</summary>
    public bool RandomFlip { get; init; }

    // --- what is trained
    /// <summary><c>--train-text-encoder</c>.</summary>
    public bool TrainTextEncoder { get; init; }

    /// <summary><c>--lora</c>: train LoRA adapters instead of the full weights (train_dreambooth_lora.py).</summary>
    public bool Lora { get; init; }

    /// <summary><c>--lora-rank</c> (4, diffusers' <c>--rank</c>).</summary>
    public int LoraRank { get; init; } = 4;

    /// <summary><c>--lora-alpha</c>; null = rank (diffusers always uses alpha = rank).</summary>
    public double? LoraAlpha { get; init; }

    /// <summary><c>--lora-init</c>: gaussian (diffusers' script) or kaiming (PEFT's default).</summary>
    public LoraInit LoraInit { get; init; } = LoraInit.Gaussian;

    // --- steps
    /// <summary><c>--train-batch-size</c> (4): instance examples per batch (as many class examples are added).</summary>
    public int TrainBatchSize { get; init; } = 4;

    /// <summary><c>--num-train-epochs</c> (1); ignored when <see cref="MaxTrainSteps"/> is set.</summary>
    public int NumTrainEpochs { get; init; } = 1;

    /// <summary><c>--max-train-steps</c>: optimizer steps; null = epochs × steps per epoch.</summary>
    public int? MaxTrainSteps { get; init; }

    /// <summary><c>--gradient-accumulation-steps</c> (1).</summary>
    public int GradientAccumulationSteps { get; init; } = 1;

    /// <summary><c>--gradient-checkpointing</c>.</summary>
    public bool GradientCheckpointing { get; init; }

    /// <summary><c>--mixed-precision</c>: float32 (no) or bfloat16 (bf16) compute.</summary>
    public ScalarType ComputeDType { get; init; } = ScalarType.Float32;

    // --- optimizer and schedule
    /// <summary><c>--learning-rate</c>; null = 5e-6 (train_dreambooth.py), or 5e-4 with <c>--lora</c> (train_dreambooth_lora.py).</summary>
    public double? LearningRate { get; init; }

    /// <summary><c>--text-encoder-lr</c>; null = the learning rate.</summary>
    public double? TextEncoderLearningRate { get; init; }

    /// <summary><c>--scale-lr</c>: multiply the learning rates by accumulation steps × batch size.</summary>
    public bool ScaleLr { get; init; }

    /// <summary><c>--lr-scheduler</c> (constant).</summary>
    public LrScheduleKind LrScheduler { get; init; } = LrScheduleKind.Constant;

    /// <summary><c>--lr-warmup-steps</c> (500).</summary>
    public int LrWarmupSteps { get; init; } = 500;

    /// <summary><c>--lr-num-cycles</c> (1).</summary>
    public int LrNumCycles { get; init; } = 1;

    /// <summary><c>--lr-power</c> (1.0).</summary>
    public double LrPower { get; init; } = 1.0;

    /// <summary><c>--adam-beta1</c> (0.9).</summary>
    public double AdamBeta1 { get; init; } = 0.9;

    /// <summary><c>--adam-beta2</c> (0.999).</summary>
    public double AdamBeta2 { get; init; } = 0.999;

    /// <summary><c>--adam-weight-decay</c> (1e-2).</summary>
    public double AdamWeightDecay { get; init; } = 1e-2;

    /// <summary><c>--adam-epsilon</c> (1e-8).</summary>
    public double AdamEpsilon { get; init; } = 1e-8;

    /// <summary><c>--max-grad-norm</c> (1.0).</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary><c>--snr-gamma</c>: Min-SNR weighting; null = off.</summary>
    public double? SnrGamma { get; init; }

    /// <summary><c>--offset-noise</c>.</summary>
    public bool OffsetNoise { get; init; }

    // --- checkpoints, validation, output
    /// <summary><c>--checkpointing-steps</c> (500).</summary>
    public int CheckpointingSteps { get; init; } = 500;

    /// <summary><c>--checkpoints-total-limit</c>; null = keep all.</summary>
    public int? CheckpointsTotalLimit { get; init; }

    /// <summary><c>--resume-from-checkpoint</c>: <c>latest</c> or a checkpoint folder.</summary>
    public string? ResumeFromCheckpoint { get; init; }

    /// <summary><c>--validation-prompt</c>; null = no validation.</summary>
    public string? ValidationPrompt { get; init; }

    /// <summary><c>--num-validation-images</c> (4).</summary>
    public int NumValidationImages { get; init; } = 4;

    /// <summary><c>--validation-steps</c> (100).</summary>
    public int ValidationSteps { get; init; } = 100;

    /// <summary><c>--dtype</c>: dtype of the saved full-model weights (float32 default; bf16/fp16 halve the files).</summary>
    public ScalarType SaveDType { get; init; } = ScalarType.Float32;

    /// <summary><c>--random-crops-per-image</c>: crops cached per image without <c>--center-crop</c> (latents are cached, so crops are drawn once).</summary>
    public int RandomCropsPerImage { get; init; } = 4;

    /// <summary>The effective learning rate before <see cref="ScaleLr"/>.</summary>
    public double BaseLearningRate => LearningRate ?? (Lora ? 5e-4 : 5e-6);

    /// <summary>The class image folder in use.</summary>
    public string EffectiveClassDataDir => ClassDataDir ?? Path.Combine(OutputDir, "class_images");

    /// <summary>
    /// Checks every value that does not need the model or the files; throws a one-line <see cref="DreamBoothException"/>
    /// naming the flag. Returns the warnings (options that have no effect).
    /// </summary>
    public IReadOnlyList<string> Validate()
    {
        var warnings = new List<string>();
        void Require(bool ok, string message)
        {
            if (!ok) throw new DreamBoothException(message);
        }
        Require(!string.IsNullOrWhiteSpace(ModelPath), "--pretrained-model-name-or-path: required");
        Require(!string.IsNullOrWhiteSpace(InstanceDataDir), "--instance-data-dir: required");
        Require(!string.IsNullOrWhiteSpace(InstancePrompt), "--instance-prompt: required (e.g. \"a photo of sks dog\")");
        Require(!string.IsNullOrWhiteSpace(OutputDir), "--output-dir: required");
        if (WithPriorPreservation)
        {
            Require(!string.IsNullOrWhiteSpace(ClassPrompt), "--with-prior-preservation needs --class-prompt (e.g. \"a photo of dog\")");
            Require(NumClassImages >= 1, $"--num-class-images {NumClassImages}: must be at least 1 with --with-prior-preservation");
            // Generated class images would land among the subject's photos (and those photos would serve as the prior).
            Require(!IO.StagedFolder.Overlap(EffectiveClassDataDir, InstanceDataDir),
                $"--class-data-dir {EffectiveClassDataDir}: overlaps --instance-data-dir {InstanceDataDir}; the class images need a folder of their own");
        }
        else
        {
            if (ClassDataDir is not null) warnings.Add("--class-data-dir has no effect without --with-prior-preservation");
            if (ClassPrompt is not null) warnings.Add("--class-prompt has no effect without --with-prior-preservation");
        }
        // Seeds, seed + 1 and seed + 2 (data, noise, initialisation) and seed + i (class images) must be valid torch seeds.
        Require(Seed is null or >= 0 and <= MaxSeed, $"--seed {Seed}: must be in [0, {MaxSeed}]");
        Require(Resolution is null || Resolution > 0 && Resolution % 8 == 0, $"--resolution {Resolution}: must be a positive multiple of 8");
        Require(double.IsFinite(PriorLossWeight) && PriorLossWeight >= 0, $"--prior-loss-weight {PriorLossWeight}: must be ≥ 0");
        Require(SampleBatchSize >= 1, $"--sample-batch-size {SampleBatchSize}: must be at least 1");
        Require(TrainBatchSize >= 1, $"--train-batch-size {TrainBatchSize}: must be at least 1");
        Require(NumTrainEpochs >= 1, $"--num-train-epochs {NumTrainEpochs}: must be at least 1");
        Require(MaxTrainSteps is null or >= 1, $"--max-train-steps {MaxTrainSteps}: must be at least 1");
        Require(GradientAccumulationSteps >= 1, $"--gradient-accumulation-steps {GradientAccumulationSteps}: must be at least 1");
        Require(ComputeDType is ScalarType.Float32 or ScalarType.BFloat16, "--mixed-precision: must be no or bf16");
        Require(LearningRate is null || LearningRate > 0 && LearningRate <= MaxLearningRate, $"--learning-rate {LearningRate}: must be in (0, {MaxLearningRate}]");
        Require(TextEncoderLearningRate is null || TextEncoderLearningRate > 0 && TextEncoderLearningRate <= MaxLearningRate, $"--text-encoder-lr {TextEncoderLearningRate}: must be in (0, {MaxLearningRate}]");
        if (TextEncoderLearningRate is not null && !TrainTextEncoder) warnings.Add("--text-encoder-lr has no effect without --train-text-encoder");
        Require(LrWarmupSteps >= 0, $"--lr-warmup-steps {LrWarmupSteps}: must be ≥ 0");
        Require(LrNumCycles >= 1, $"--lr-num-cycles {LrNumCycles}: must be at least 1");
        Require(double.IsFinite(LrPower) && LrPower > 0, $"--lr-power {LrPower}: must be > 0");
        Require(AdamBeta1 is >= 0 and < 1, $"--adam-beta1 {AdamBeta1}: must be in [0, 1)");
        Require(AdamBeta2 is >= 0 and < 1, $"--adam-beta2 {AdamBeta2}: must be in [0, 1)");
        Require(double.IsFinite(AdamWeightDecay) && AdamWeightDecay >= 0, $"--adam-weight-decay {AdamWeightDecay}: must be ≥ 0");
        Require(AdamEpsilon > 0 && double.IsFinite(AdamEpsilon), $"--adam-epsilon {AdamEpsilon}: must be > 0");
        Require(MaxGradNorm > 0 && double.IsFinite(MaxGradNorm), $"--max-grad-norm {MaxGradNorm}: must be > 0");
        Require(SnrGamma is null || SnrGamma > 0 && double.IsFinite(SnrGamma.Value), $"--snr-gamma {SnrGamma}: must be > 0");
        Require(CheckpointingSteps >= 1, $"--checkpointing-steps {CheckpointingSteps}: must be at least 1");
        Require(CheckpointsTotalLimit is null or >= 1, $"--checkpoints-total-limit {CheckpointsTotalLimit}: must be at least 1");
        Require(NumValidationImages >= 1, $"--num-validation-images {NumValidationImages}: must be at least 1");
        Require(ValidationSteps >= 1, $"--validation-steps {ValidationSteps}: must be at least 1");
        Require(SaveDType is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16, "--dtype: must be fp32, bf16 or fp16");
        Require(RandomCropsPerImage >= 1, $"--random-crops-per-image {RandomCropsPerImage}: must be at least 1");
        if (Lora)
        {
            LoraSettings.Create(LoraRank, LoraAlpha, LoraInit);
            if (SaveDType != ScalarType.Float32) warnings.Add("--dtype has no effect with --lora (the LoRA file is float32)");
        }
        else
        {
            if (LoraAlpha is not null) warnings.Add("--lora-alpha has no effect without --lora");
        }
        if (Identifier is { } id) Require(!string.IsNullOrWhiteSpace(id) && !id.Any(char.IsWhiteSpace), $"--identifier '{id}': must be one word");
        return warnings;
    }
}
