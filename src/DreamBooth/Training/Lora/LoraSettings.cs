namespace DreamBooth.Training.Lora;

/// <summary>How LoRA's down matrix (lora_A) starts; the up matrix (lora_B) always starts at zero, so training starts from the base model.</summary>
public enum LoraInit
{
    /// <summary>N(0, 1/rank), PEFT's <c>init_lora_weights="gaussian"</c>, which diffusers' train_dreambooth_lora.py uses.</summary>
    Gaussian,

    /// <summary>Kaiming-uniform with a = √5 (U(±1/√in_features)), PEFT's default (<c>init_lora_weights=True</c>).</summary>
    KaimingUniform,
}

/// <summary>LoRA hyper-parameters.</summary>
/// <param name="Rank">Inner dimension r of the low-rank update (<c>--lora-rank</c>, default 4 like diffusers' <c>--rank</c>).</param>
/// <param name="Alpha">Scale numerator: the update is (alpha / rank)·B·A (<c>--lora-alpha</c>; diffusers uses alpha = rank).</param>
/// <param name="Init">Initialization of lora_A.</param>
public sealed record LoraSettings(int Rank = 4, double Alpha = 4, LoraInit Init = LoraInit.Gaussian)
{
    /// <summary>Largest alpha / rank accepted.</summary>
    public const double MaxScaling = 1000;

    /// <summary>alpha / rank, the factor applied to B·A.</summary>
    public double Scaling => Alpha / Rank;

    /// <summary>Settings with alpha defaulting to the rank (as diffusers).</summary>
    public static LoraSettings Create(int rank, double? alpha = null, LoraInit init = LoraInit.Gaussian)
    {
        if (rank < 1) throw new DreamBoothException($"--lora-rank: {rank} must be at least 1");
        double a = alpha ?? rank;
        if (!(a > 0) || double.IsInfinity(a)) throw new DreamBoothException($"--lora-alpha: {a} must be a positive number");
        // alpha / rank multiplies every update; common values are 0.5–2, and a scale in the thousands already makes the
        // first step's update overflow the weights (1e308 became a NaN loss blamed on the learning rate).
        if (a / rank > MaxScaling)
            throw new DreamBoothException($"--lora-alpha: {a} is too large for rank {rank}: alpha / rank must be at most {MaxScaling} (diffusers uses alpha = rank)");
        return new LoraSettings(rank, a, init);
    }

    /// <summary>Parses <c>--lora-init</c>: gaussian or kaiming.</summary>
    public static LoraInit ParseInit(string value) => value.Trim().ToLowerInvariant() switch
    {
        "gaussian" => LoraInit.Gaussian,
        "kaiming" or "kaiming_uniform" or "kaiming-uniform" => LoraInit.KaimingUniform,
        _ => throw new DreamBoothException($"--lora-init: unknown initialization '{value}' (expected gaussian or kaiming)"),
    };
}
