using System.Text;
using System.Text.Json.Nodes;
using DreamBooth.Schedulers;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Schedulers;

/// <summary>
/// Properties that hold for every scheduler variant, including those the golden fixtures do not cover (other
/// spacings and prediction types, Heun and third-order DPM-Solver, PRK, SDE, zero-SNR), plus the training helpers.
/// </summary>
public class SchedulerBehaviourTests
{
    private const string Sd15 = """
        {"_class_name":"PNDMScheduler","beta_end":0.012,"beta_schedule":"scaled_linear","beta_start":0.00085,
         "num_train_timesteps":1000,"set_alpha_to_one":false,"skip_prk_steps":true,"steps_offset":1,"trained_betas":null,"clip_sample":false}
        """;

    /// <summary>The SD1.5 config with the keys of <paramref name="extra"/> (a JSON object body) set or replaced.</summary>
    private static SchedulerConfig Config(string extra = "")
    {
        var config = JsonNode.Parse(Sd15)!.AsObject();
        foreach (var (key, value) in JsonNode.Parse("{" + extra + "}")!.AsObject()) config[key] = value?.DeepClone();
        return SchedulerConfig.Parse(Encoding.UTF8.GetBytes(config.ToJsonString()), "test config");
    }

    private static Scheduler Create(string name, string extra = "") => SchedulerFactory.Create(name, Config(extra));

    public static TheoryData<string, string, int> ExactModelCases() => new()
    {
        { "ddim", "\"set_alpha_to_one\":true", 10 },
        { "ddim", "\"set_alpha_to_one\":true,\"prediction_type\":\"v_prediction\",\"timestep_spacing\":\"trailing\"", 10 },
        { "ddim", "\"set_alpha_to_one\":true,\"prediction_type\":\"sample\",\"timestep_spacing\":\"linspace\"", 7 },
        { "ddim", "\"set_alpha_to_one\":true,\"prediction_type\":\"v_prediction\",\"rescale_betas_zero_snr\":true,\"timestep_spacing\":\"trailing\"", 10 },
        { "ddim", "\"set_alpha_to_one\":true,\"thresholding\":true,\"sample_max_value\":2.0", 10 },
        { "ddpm", "", 10 },
        { "ddpm", "\"prediction_type\":\"v_prediction\",\"variance_type\":\"fixed_large\",\"timestep_spacing\":\"trailing\"", 10 },
        { "ddpm", "\"prediction_type\":\"sample\",\"variance_type\":\"fixed_small_log\",\"beta_schedule\":\"squaredcos_cap_v2\"", 10 },
        { "pndm", "\"set_alpha_to_one\":true", 10 },
        { "pndm", "\"set_alpha_to_one\":true,\"skip_prk_steps\":false", 10 },
        { "pndm", "\"set_alpha_to_one\":true,\"timestep_spacing\":\"trailing\"", 20 },
        { "euler", "", 10 },
        { "euler", "\"prediction_type\":\"v_prediction\"", 10 },
        { "euler", "\"prediction_type\":\"sample\",\"timestep_spacing\":\"leading\"", 10 },
        { "euler_a", "", 10 },
        { "euler_a", "\"prediction_type\":\"v_prediction\",\"timestep_spacing\":\"trailing\"", 10 },
        { "dpm++2m", "", 10 },
        { "dpm++2m", "\"prediction_type\":\"v_prediction\",\"timestep_spacing\":\"trailing\",\"rescale_betas_zero_snr\":true", 10 },
        { "DPMSolverMultistepScheduler", "\"solver_order\":3,\"prediction_type\":\"sample\",\"timestep_spacing\":\"leading\"", 25 },
        { "DPMSolverMultistepScheduler", "\"solver_order\":2,\"solver_type\":\"heun\",\"lower_order_final\":false", 20 },
        { "DPMSolverMultistepScheduler", "\"algorithm_type\":\"dpmsolver\",\"final_sigmas_type\":\"sigma_min\",\"solver_order\":3", 20 },
        { "DPMSolverMultistepScheduler", "\"algorithm_type\":\"sde-dpmsolver++\"", 12 },
        { "DPMSolverMultistepScheduler", "\"algorithm_type\":\"sde-dpmsolver++\",\"solver_type\":\"heun\",\"prediction_type\":\"v_prediction\"", 12 },
        { "DPMSolverMultistepScheduler", "\"thresholding\":true,\"sample_max_value\":2.0,\"euler_at_final\":true", 16 },
    };

    /// <summary>
    /// With data concentrated at one point c, the exact model knows x₀ = c, so every correct sampler started on the
    /// trajectory x_t = √ᾱ_t·c + √(1−ᾱ_t)·ε (σ-space: c + σ·ε) and given zero ancestral noise ends exactly at c.
    /// A wrong coefficient, index or spacing anywhere in the update breaks this.
    /// </summary>
    [Theory]
    [MemberData(nameof(ExactModelCases))]
    public void Every_sampler_recovers_the_clean_sample_from_an_exact_model(string name, string extra, int steps)
    {
        using var scope = NewDisposeScope();
        using var scheduler = Create(name, extra);
        scheduler.SetTimesteps(steps);
        var generator = new Generator(1234);
        var c = torch.rand(1, 4, 8, 8, generator: generator) * 1.6 - 0.8;
        var eps = torch.randn(1, 4, 8, 8, generator: generator);
        var ac = scheduler.AlphasCumprod.data<float>().ToArray();
        bool sigmaSpace = scheduler is EulerDiscreteScheduler or EulerAncestralDiscreteScheduler;

        double t0 = scheduler.TimestepValues[0];
        float a0 = ac[(int)t0];
        var x = sigmaSpace
            ? c + eps * scheduler.Sigmas![0].item<float>()
            : c * Math.Sqrt(a0) + eps * Math.Sqrt(1 - a0);

        foreach (var t in scheduler.TimestepValues)
        {
            Assert.Equal(Math.Floor(t), t);
            float a = ac[(int)t];
            var input = scheduler.ScaleModelInput(x, t);
            // the exact prediction for x_in = √ᾱ·c + √(1−ᾱ)·ε
            var epsHat = (input - c * Math.Sqrt(a)) / Math.Sqrt(1 - a);
            var prediction = scheduler.PredictionType switch
            {
                PredictionType.Epsilon => epsHat,
                PredictionType.VPrediction => epsHat * Math.Sqrt(a) - c * Math.Sqrt(1 - a),
                _ => c.clone(),
            };
            x = scheduler.Step(prediction, t, x, noise: torch.zeros_like(x)).PrevSample;
        }
        // DPM-Solver with final_sigmas_type sigma_min stops at the smallest training noise level instead of zero
        float last = scheduler is DPMSolverMultistepScheduler ? scheduler.Sigmas![^1].item<float>() : 0f;
        var expected = last > 0 ? (c + eps * last) / Math.Sqrt(last * last + 1) : c;
        SchedulerAssert.Close(x, expected, $"{name} {extra}", tolerance: 2e-4);
    }

    public static TheoryData<string, int> ConvergenceCases()
    {
        var cases = new TheoryData<string, int>();
        foreach (var algorithm in new[] { "dpmsolver++", "dpmsolver" })
        {
            foreach (var (extra, order) in new[]
            {
                ("\"solver_order\":1", 1),
                ("\"solver_order\":2", 2),
                ("\"solver_order\":2,\"solver_type\":\"heun\"", 2),
                ("\"solver_order\":3", 3),
                ("\"solver_order\":2,\"prediction_type\":\"v_prediction\",\"timestep_spacing\":\"trailing\"", 2),
                ("\"solver_order\":3,\"prediction_type\":\"sample\",\"timestep_spacing\":\"leading\"", 3),
            })
                cases.Add($"\"algorithm_type\":\"{algorithm}\",{extra}", order);
        }
        return cases;
    }

    /// <summary>
    /// For Gaussian data N(m, s²) the exact model and the exact probability-flow ODE solution are known in closed form.
    /// Doubling the steps must cut DPM-Solver's error about 2× at first order and clearly more at higher orders, which
    /// checks the multistep coefficients that the exact-x₀ test above cannot see (it makes them multiply zero).
    /// Runs end at σ_min with full order, so the final first-order jump to σ = 0 does not mask the order.
    /// </summary>
    [Theory]
    [MemberData(nameof(ConvergenceCases))]
    public void Dpm_solver_converges_at_its_order_on_gaussian_data(string extra, int order)
    {
        double coarse = GaussianOdeError(extra, 100), fine = GaussianOdeError(extra, 200);
        double ratio = coarse / fine;
        if (order == 1) ratio.Should().BeInRange(1.6, 2.3);
        else ratio.Should().BeGreaterThan(2.5);
        fine.Should().BeLessThan(order == 1 ? 0.05 : 0.02);
    }

    private static double GaussianOdeError(string extra, int steps)
    {
        using var scope = NewDisposeScope();
        using var scheduler = Create("DPMSolverMultistepScheduler", extra + ",\"final_sigmas_type\":\"sigma_min\",\"lower_order_final\":false");
        scheduler.SetTimesteps(steps);
        var generator = new Generator(1);
        var mean = torch.rand(1, 4, 8, 8, generator: generator) - 0.5;
        const double s = 0.5;
        var z = torch.randn(1, 4, 8, 8, generator: generator);
        var ac = scheduler.AlphasCumprod.data<float>().ToArray();
        // On the ODE trajectory (x_t − √ᾱ·m)/√(ᾱ·s² + 1 − ᾱ) stays equal to z.
        double a0 = ac[(int)scheduler.TimestepValues[0]];
        var x = mean * Math.Sqrt(a0) + z * Math.Sqrt(a0 * s * s + 1 - a0);
        foreach (var t in scheduler.TimestepValues)
        {
            double a = ac[(int)t];
            var input = scheduler.ScaleModelInput(x, t);
            var epsHat = (input - mean * Math.Sqrt(a)) * (Math.Sqrt(1 - a) / (a * s * s + 1 - a));
            var x0Hat = (input - epsHat * Math.Sqrt(1 - a)) / Math.Sqrt(a);
            var prediction = scheduler.PredictionType switch
            {
                PredictionType.Epsilon => epsHat,
                PredictionType.Sample => x0Hat,
                _ => epsHat * Math.Sqrt(a) - x0Hat * Math.Sqrt(1 - a),
            };
            x = scheduler.Step(prediction, t, x).PrevSample;
        }
        float last = scheduler.Sigmas![^1].item<float>();
        double alpha = 1 / Math.Sqrt(last * last + 1), sigma = last * alpha;
        var exact = mean * alpha + z * Math.Sqrt(alpha * alpha * s * s + sigma * sigma);
        return (x - exact).abs().max().item<float>();
    }

    [Fact]
    public void Ddpm_step_equals_ddim_with_eta_one()
    {
        // DDIM with η = 1 samples DDPM's posterior: the same mean and variance (Song et al. 2021, §4.1).
        using var scope = NewDisposeScope();
        using var ddpm = Create("ddpm");
        using var ddim = (DDIMScheduler)Create("ddim", "\"set_alpha_to_one\":true");
        ddim.Eta = 1.0;
        ddpm.SetTimesteps(25);
        ddim.SetTimesteps(25);
        ddpm.TimestepValues.Should().Equal(ddim.TimestepValues);
        var g = new Generator(7);
        var x = torch.randn(2, 4, 8, 8, generator: g);
        foreach (var t in ddpm.TimestepValues)
        {
            var modelOutput = x * 0.1 + Math.Sin(t);
            var noise = torch.randn(x.shape, generator: g);
            var a = ddpm.Step(modelOutput, t, x, noise: noise);
            var b = ddim.Step(modelOutput, t, x, noise: noise);
            SchedulerAssert.Close(a.PrevSample, b.PrevSample, $"t={t}");
            SchedulerAssert.Close(a.PredOriginalSample!, b.PredOriginalSample!, $"x0 t={t}");
            x = a.PrevSample;
        }
    }

    [Theory]
    [InlineData("euler_a", "")]
    [InlineData("ddpm", "")]
    [InlineData("DPMSolverMultistepScheduler", "\"algorithm_type\":\"sde-dpmsolver++\"")]
    public void Stochastic_steps_draw_from_the_generator_like_injected_noise(string name, string extra)
    {
        using var scope = NewDisposeScope();
        using var scheduler = Create(name, extra);
        var x0 = torch.randn(1, 4, 8, 8, generator: new Generator(3)) * scheduler.InitNoiseSigma;

        Tensor Run(Func<int, Generator?> generatorAt, Func<int, Tensor?> noiseAt)
        {
            scheduler.SetTimesteps(6);
            var x = x0;
            for (int i = 0; i < scheduler.TimestepValues.Count; i++)
            {
                double t = scheduler.TimestepValues[i];
                var output = scheduler.ScaleModelInput(x, t) * 0.1 + Math.Sin(t);
                x = scheduler.Step(output, t, x, generatorAt(i), noiseAt(i)).PrevSample;
            }
            return x;
        }

        var seeded = new Generator(99);
        var fromGenerator = Run(_ => seeded, _ => null);
        var replay = new Generator(99);
        // the DPM SDE noise is float32 like the sample; the others draw in the model output's dtype (also float32 here)
        var fromNoise = Run(_ => null, _ => torch.randn(1, 4, 8, 8, generator: replay));
        SchedulerAssert.Close(fromGenerator, fromNoise, name, tolerance: 1e-6);
        var other = Run(_ => new Generator(100), _ => null);
        (other - fromGenerator).abs().max().item<float>().Should().BeGreaterThan(1e-3f);
    }

    [Theory]
    [InlineData("dpm++2m")]
    [InlineData("pndm")]
    [InlineData("euler")]
    [InlineData("DPMSolverMultistepScheduler")]
    public void SetTimesteps_resets_the_run_state(string name)
    {
        using var scope = NewDisposeScope();
        using var scheduler = Create(name, name == "DPMSolverMultistepScheduler" ? "\"solver_order\":3" : "");
        var x0 = torch.randn(1, 4, 8, 8, generator: new Generator(5)) * scheduler.InitNoiseSigma;

        Tensor Run(int calls)
        {
            scheduler.SetTimesteps(8);
            var x = x0;
            foreach (var t in scheduler.TimestepValues.Take(calls))
                x = scheduler.Step(scheduler.ScaleModelInput(x, t) * 0.1 + Math.Sin(t), t, x).PrevSample;
            return x;
        }

        var full = Run(int.MaxValue);
        Run(3); // an abandoned run leaves history behind
        SchedulerAssert.Close(Run(int.MaxValue), full, name, tolerance: 0);
    }

    [Fact]
    public void Stepping_needs_SetTimesteps_and_stops_at_the_end()
    {
        using var scope = NewDisposeScope();
        var x = torch.zeros(1, 4, 2, 2);
        using var ddim = Create("ddim");
        var early = () => ddim.Step(x, 1, x);
        early.Should().Throw<InvalidOperationException>().WithMessage("*SetTimesteps*");

        using var euler = Create("euler");
        euler.SetTimesteps(2);
        foreach (var t in euler.TimestepValues) euler.Step(x, t, x);
        var extra = () => euler.Step(x, 0, x);
        extra.Should().Throw<InvalidOperationException>().WithMessage("*SetTimesteps*");

        euler.SetTimesteps(4);
        var notInSchedule = () => euler.ScaleModelInput(x, 500.5);
        notInSchedule.Should().Throw<ArgumentOutOfRangeException>();
        ddim.SetTimesteps(4);
        var bad = () => ddim.Step(x, 12.5, x);
        bad.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Timestep_spacings_follow_upstream()
    {
        // README items 12, 13, 16 and diffusers' spacing table, for 10 of 1000 steps
        using var ddim = Create("ddim");
        ddim.SetTimesteps(10);
        ddim.TimestepValues.Should().Equal(901, 801, 701, 601, 501, 401, 301, 201, 101, 1);
        using var trailing = Create("ddim", "\"timestep_spacing\":\"trailing\"");
        trailing.SetTimesteps(10);
        trailing.TimestepValues.Should().Equal(999, 899, 799, 699, 599, 499, 399, 299, 199, 99);
        using var linspace = Create("ddim", "\"timestep_spacing\":\"linspace\"");
        linspace.SetTimesteps(10);
        linspace.TimestepValues.Should().Equal(999, 888, 777, 666, 555, 444, 333, 222, 111, 0);
        using var dpm = Create("dpm++2m");
        dpm.SetTimesteps(10);
        dpm.TimestepValues.Should().Equal(999, 899, 799, 699, 599, 500, 400, 300, 200, 100);
        using var pndm = Create("pndm");
        pndm.SetTimesteps(10);
        pndm.TimestepValues.Should().Equal(901, 801, 801, 701, 601, 501, 401, 301, 201, 101, 1);
        using var prk = Create("pndm", "\"skip_prk_steps\":false");
        prk.SetTimesteps(10);
        prk.TimestepValues.Should().HaveCount(12 + 7);
        // RK4 over the last 4 leading timesteps (601…901), each evaluated at t and t − δ/2, then PLMS from 601
        prk.TimestepValues.Take(12).Should().Equal(901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601);
        prk.TimestepValues.Skip(12).Should().Equal(601, 501, 401, 301, 201, 101, 1);
        using var euler = Create("euler");
        euler.SetTimesteps(10);
        euler.Timesteps.dtype.Should().Be(ScalarType.Float32);
        euler.InitNoiseSigma.Should().BeApproximately(euler.Sigmas![0].item<float>(), 1e-6);
        using var leadingEuler = Create("euler", "\"timestep_spacing\":\"leading\"");
        leadingEuler.SetTimesteps(10);
        float sigmaMax = leadingEuler.Sigmas!.max().item<float>();
        leadingEuler.InitNoiseSigma.Should().BeApproximately(Math.Sqrt(sigmaMax * sigmaMax + 1), 1e-5);
    }

    [Fact]
    public void Karras_sigmas_span_the_training_range_and_end_at_zero()
    {
        using var scope = NewDisposeScope();
        using var dpm = Create("dpm++2m-karras");
        dpm.SetTimesteps(12);
        var sigmas = dpm.Sigmas!.data<float>().ToArray();
        var training = ((1 - dpm.AlphasCumprod) / dpm.AlphasCumprod).sqrt();
        sigmas.Should().HaveCount(13);
        sigmas[0].Should().BeApproximately(training.max().item<float>(), 1e-4f);
        sigmas[11].Should().BeApproximately(training.min().item<float>(), 1e-6f);
        sigmas[12].Should().Be(0);
        sigmas.Should().BeInDescendingOrder();
        // ρ = 7 spacing: equal steps in σ^(1/7)
        var roots = sigmas.Take(12).Select(s => Math.Pow(s, 1 / 7.0)).ToArray();
        var gaps = roots.Zip(roots.Skip(1), (a, b) => a - b).ToArray();
        gaps.Should().AllSatisfy(g => g.Should().BeApproximately(gaps[0], 1e-5));
        dpm.TimestepValues[0].Should().Be(999);
        dpm.TimestepValues[^1].Should().Be(0);
    }

    [Fact]
    public void Zero_snr_rescale_ends_at_zero_signal()
    {
        using var scope = NewDisposeScope();
        using var plain = Create("ddim");
        using var ddim = Create("ddim", "\"rescale_betas_zero_snr\":true");
        using var euler = Create("euler", "\"rescale_betas_zero_snr\":true");
        ddim.AlphasCumprod[999].item<float>().Should().Be(0);
        ddim.AlphasCumprod[0].item<float>().Should().BeApproximately(plain.AlphasCumprod[0].item<float>(), 1e-6f);
        euler.AlphasCumprod[999].item<float>().Should().Be((float)Math.Pow(2, -24));
        euler.InitNoiseSigma.Should().BeApproximately(4096, 1);
    }

    [Fact]
    public void Training_helpers_follow_the_forward_process()
    {
        using var scope = NewDisposeScope();
        using var scheduler = Create("ddpm");
        var g = new Generator(11);
        var x0 = torch.randn(3, 4, 2, 2, generator: g);
        var noise = torch.randn(3, 4, 2, 2, generator: g);
        var t = torch.tensor(new long[] { 0, 500, 999 });
        var ac = scheduler.AlphasCumprod.index_select(0, t).reshape(3, 1, 1, 1);
        SchedulerAssert.Close(scheduler.AddNoise(x0, noise, t), ac.sqrt() * x0 + (1 - ac).sqrt() * noise, "add_noise");
        var v = scheduler.GetVelocity(x0, noise, t);
        SchedulerAssert.Close(v, ac.sqrt() * noise - (1 - ac).sqrt() * x0, "velocity");
        SchedulerAssert.Close(scheduler.GetTrainingTarget(x0, noise, t), noise, "epsilon target");
        SchedulerAssert.Close(scheduler.ComputeSnr(t), (ac / (1 - ac)).flatten(), "snr", tolerance: 1e-4);
        using var vScheduler = Create("ddpm", "\"prediction_type\":\"v_prediction\"");
        SchedulerAssert.Close(vScheduler.GetTrainingTarget(x0, noise, t), v, "v target");
        using var sScheduler = Create("ddpm", "\"prediction_type\":\"sample\"");
        SchedulerAssert.Close(sScheduler.GetTrainingTarget(x0, noise, t), x0, "sample target");

        var floatT = () => scheduler.AddNoise(x0, noise, torch.tensor(new float[] { 1, 2, 3 }));
        floatT.Should().Throw<ArgumentException>();
        var outOfRange = () => scheduler.AddNoise(x0, noise, torch.tensor(new long[] { 0, 1, 1000 }));
        outOfRange.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*1000*");
    }

    [Fact]
    public void Thresholding_bounds_the_predicted_clean_sample()
    {
        using var scope = NewDisposeScope();
        using var ddim = Create("ddim", "\"thresholding\":true,\"sample_max_value\":1.5");
        ddim.SetTimesteps(10);
        var x = torch.randn(2, 4, 8, 8, generator: new Generator(2)) * 3;
        var output = ddim.Step(x * 5, ddim.TimestepValues[0], x);
        output.PredOriginalSample!.abs().max().item<float>().Should().BeLessThanOrEqualTo(1.0f + 1e-6f);
        using var clipped = Create("ddim", "\"clip_sample\":true,\"clip_sample_range\":0.5");
        clipped.SetTimesteps(10);
        clipped.Step(x * 5, clipped.TimestepValues[0], x).PredOriginalSample!.abs().max().item<float>().Should().Be(0.5f);
    }

    [Fact]
    public void Schedules_are_float32_and_scaled_linear_is_squared_linspace()
    {
        using var scope = NewDisposeScope();
        using var scheduler = Create("ddim");
        scheduler.Betas.dtype.Should().Be(ScalarType.Float32);
        scheduler.AlphasCumprod.dtype.Should().Be(ScalarType.Float32);
        var expected = torch.linspace(Math.Sqrt(0.00085), Math.Sqrt(0.012), 1000, ScalarType.Float32).pow(2);
        SchedulerAssert.Close(scheduler.Betas, expected, "betas", tolerance: 0);
        using var cosine = Create("ddpm", "\"beta_schedule\":\"squaredcos_cap_v2\"");
        cosine.Betas.max().item<float>().Should().BeApproximately(0.999f, 1e-6f);
        double AlphaBar(double u) => Math.Pow(Math.Cos((u + 0.008) / 1.008 * Math.PI / 2), 2);
        cosine.Betas[0].item<float>().Should().BeApproximately((float)(1 - AlphaBar(0.001) / AlphaBar(0)), 1e-9f);
    }
}
