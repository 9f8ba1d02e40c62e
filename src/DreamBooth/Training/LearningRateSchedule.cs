namespace DreamBooth.Training;

/// <summary>The learning-rate schedules of diffusers' <c>get_scheduler</c>, by their diffusers names.</summary>
public enum LrScheduleKind
{
    Constant,
    ConstantWithWarmup,
    Linear,
    Cosine,
    CosineWithRestarts,
    Polynomial,
}

/// <summary>
/// A learning-rate schedule as a pure function of the optimizer step (0-based: the LR used by the k-th optimizer
/// update), matching diffusers' <c>get_scheduler</c> lambdas, which accelerate advances once per optimizer step.
/// Pure, so that resuming from a checkpoint needs only the step count.
/// </summary>
/// <param name="Kind">Which schedule.</param>
/// <param name="WarmupSteps">Linear warm-up length (<c>--lr-warmup-steps</c>).</param>
/// <param name="TotalSteps">Training length in optimizer steps (<c>--max-train-steps</c>).</param>
/// <param name="NumCycles">Cosine cycles (<c>--lr-num-cycles</c>; 0.5 = half a cosine for <c>cosine</c>, hard restarts count for <c>cosine_with_restarts</c>).</param>
/// <param name="Power">Polynomial power (<c>--lr-power</c>).</param>
/// <param name="EndLrRatio">Polynomial end LR as a fraction of the base LR (diffusers uses lr_end = 1e-7 absolute; see <see cref="ForPolynomial"/>).</param>
public sealed record LearningRateSchedule(LrScheduleKind Kind, int WarmupSteps, int TotalSteps, double NumCycles = 0.5, double Power = 1.0, double EndLrRatio = 0)
{
    /// <summary>Parses a diffusers schedule name (constant, constant_with_warmup, linear, cosine, cosine_with_restarts, polynomial).</summary>
    public static LrScheduleKind ParseKind(string name) => name.Trim().ToLowerInvariant().Replace('-', '_') switch
    {
        "constant" => LrScheduleKind.Constant,
        "constant_with_warmup" => LrScheduleKind.ConstantWithWarmup,
        "linear" => LrScheduleKind.Linear,
        "cosine" => LrScheduleKind.Cosine,
        "cosine_with_restarts" => LrScheduleKind.CosineWithRestarts,
        "polynomial" => LrScheduleKind.Polynomial,
        _ => throw new DreamBoothException($"--lr-scheduler: unknown schedule '{name}' (expected constant, constant_with_warmup, linear, cosine, cosine_with_restarts or polynomial)"),
    };

    /// <summary>The diffusers name of a schedule kind.</summary>
    public static string NameOf(LrScheduleKind kind) => kind switch
    {
        LrScheduleKind.Constant => "constant",
        LrScheduleKind.ConstantWithWarmup => "constant_with_warmup",
        LrScheduleKind.Linear => "linear",
        LrScheduleKind.Cosine => "cosine",
        LrScheduleKind.CosineWithRestarts => "cosine_with_restarts",
        _ => "polynomial",
    };

    /// <summary>diffusers' polynomial schedule ends at an absolute lr_end of 1e-7.</summary>
    public static LearningRateSchedule ForPolynomial(int warmup, int total, double baseLr, double power = 1.0, double lrEnd = 1e-7) =>
        new(LrScheduleKind.Polynomial, warmup, total, Power: power, EndLrRatio: baseLr > 0 ? lrEnd / baseLr : 0);

    /// <summary>The multiplier of the base learning rate at optimizer step <paramref name="step"/> (0-based).</summary>
    public double Factor(int step)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step));
        bool warming = step < WarmupSteps && Kind != LrScheduleKind.Constant;
        double warm = (double)step / Math.Max(1, WarmupSteps);
        double progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        switch (Kind)
        {
            case LrScheduleKind.Constant:
                return 1.0;
            case LrScheduleKind.ConstantWithWarmup:
                return warming ? warm : 1.0;
            case LrScheduleKind.Linear:
                return warming ? warm : Math.Max(0.0, (double)(TotalSteps - step) / Math.Max(1, TotalSteps - WarmupSteps));
            case LrScheduleKind.Cosine:
                return warming ? warm : Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * NumCycles * 2.0 * progress)));
            case LrScheduleKind.CosineWithRestarts:
                if (warming) return warm;
                if (progress >= 1.0) return 0.0;
                return Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * ((NumCycles * progress) % 1.0))));
            default: // polynomial
                if (warming) return warm;
                if (step > TotalSteps) return EndLrRatio;
                double remaining = 1.0 - (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
                return (1.0 - EndLrRatio) * Math.Pow(remaining, Power) + EndLrRatio;
        }
    }
}
