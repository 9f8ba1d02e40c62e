using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Schedulers;

/// <summary>
/// The training noise schedule β₁…β_T, computed in float32 exactly as diffusers does (README item 14):
/// scaled_linear = linspace(√β_start, √β_end, T)², a float32 linspace.
/// </summary>
public static class BetaSchedules
{
    /// <summary>The β schedules every scheduler accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = ["linear", "scaled_linear", "squaredcos_cap_v2"];

    /// <summary>
    /// Builds β (float32, [T]) from a resolved config: <c>trained_betas</c> if given, else <c>beta_schedule</c>.
    /// <paramref name="allowSigmoid"/> admits DDPM's GeoDiff <c>sigmoid</c> schedule.
    /// </summary>
    public static Tensor Create(SchedulerConfig config, bool allowSigmoid = false)
    {
        int steps = config.NumTrainTimesteps ?? throw new ArgumentException("num_train_timesteps is not resolved", nameof(config));
        double start = config.BetaStart ?? 0.0001, end = config.BetaEnd ?? 0.02;
        if (config.TrainedBetas is { } trained)
        {
            if (trained.Length != steps)
                throw new DreamBoothException($"{config.Source}: trained_betas has {trained.Length} values but num_train_timesteps is {steps}");
            return Validated(tensor(trained, ScalarType.Float32), config);
        }
        string schedule = config.BetaSchedule ?? "linear";
        Tensor betas = schedule switch
        {
            "linear" => linspace(start, end, steps, ScalarType.Float32),
            // "this schedule is very specific to the latent diffusion model": linear in √β, squared in float32.
            "scaled_linear" => Squared(linspace(Math.Pow(start, 0.5), Math.Pow(end, 0.5), steps, ScalarType.Float32)),
            "squaredcos_cap_v2" => BetasForAlphaBar(steps),
            "sigmoid" when allowSigmoid => Sigmoid(steps, start, end),
            _ => throw new DreamBoothException(
                $"{config.Source}: beta_schedule '{schedule}' is not supported; expected one of {string.Join(", ", allowSigmoid ? Names.Append("sigmoid") : Names)}"),
        };
        return Validated(betas, config);
    }

    /// <summary>
    /// Rescales β so that the last timestep has zero SNR (Lin et al. 2023, "Common Diffusion Noise Schedules and
    /// Sample Steps are Flawed", Algorithm 1), in float32 like diffusers' <c>rescale_zero_terminal_snr</c>.
    /// </summary>
    public static Tensor RescaleZeroTerminalSnr(Tensor betas)
    {
        using var scope = NewDisposeScope();
        var alphas = 1.0 - betas;
        var alphasBarSqrt = alphas.cumprod(0).sqrt();
        long n = alphasBarSqrt.shape[0];
        var first = alphasBarSqrt[0].clone();
        var last = alphasBarSqrt[n - 1].clone();
        // Shift so the last value is zero, then scale so the first value is unchanged.
        alphasBarSqrt = (alphasBarSqrt - last) * (first / (first - last));
        var alphasBar = alphasBarSqrt.square();
        var rescaledAlphas = cat([alphasBar.narrow(0, 0, 1), alphasBar.narrow(0, 1, n - 1) / alphasBar.narrow(0, 0, n - 1)]);
        return (1 - rescaledAlphas).MoveToOuterDisposeScope();
    }

    /// <summary>The Glide cosine schedule: β_i = min(1 − ᾱ((i+1)/T)/ᾱ(i/T), 0.999), ᾱ(t) = cos²((t+0.008)/1.008·π/2), in float64, stored as float32.</summary>
    private static Tensor BetasForAlphaBar(int steps, double maxBeta = 0.999)
    {
        static double AlphaBar(double t) => Math.Pow(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2), 2);
        var betas = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            double t1 = (double)i / steps, t2 = (double)(i + 1) / steps;
            betas[i] = Math.Min(1 - AlphaBar(t2) / AlphaBar(t1), maxBeta);
        }
        return tensor(betas, ScalarType.Float32);
    }

    private static Tensor Sigmoid(int steps, double start, double end)
    {
        using var scope = NewDisposeScope();
        return (linspace(-6, 6, steps, ScalarType.Float32).sigmoid() * (end - start) + start).MoveToOuterDisposeScope();
    }

    private static Tensor Squared(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.pow(2).MoveToOuterDisposeScope();
    }

    private static Tensor Validated(Tensor betas, SchedulerConfig config)
    {
        using var scope = NewDisposeScope();
        bool finite = betas.isfinite().all().item<bool>();
        if (!finite || betas.min().item<float>() < 0 || betas.max().item<float>() > 1)
        {
            betas.Dispose();
            throw new DreamBoothException($"{config.Source}: the beta schedule has values outside [0, 1] (check beta_start, beta_end, trained_betas)");
        }
        return betas;
    }
}
