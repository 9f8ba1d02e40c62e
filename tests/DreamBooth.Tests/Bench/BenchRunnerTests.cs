using System.Text.Json;
using DreamBooth.Benchmarks;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Bench;

/// <summary>The bench's logic on the tiny-sd1 configs (seconds): every case runs or is skipped with a reason; nothing asserts on time.</summary>
public class BenchRunnerTests
{
    private static BenchOptions Tiny(params string[] cases) => new()
    {
        Models = BenchModels.Resolve(Golden.PathOf("tiny-sd1")),
        Resolution = 32,
        Warmup = 0,
        Iterations = 1,
        ImageSteps = 2,
        RssDriftSteps = 2,
        MatmulSize = 64,
        Cases = cases.Length == 0 ? BenchCases.All : cases,
    };

    [Fact]
    public void Published_configs_parse_with_their_published_sizes()
    {
        var sd15 = BenchModels.Resolve("sd15");
        sd15.Unet.BlockOutChannels.Should().Equal(320, 640, 1280, 1280);
        sd15.TextEncoder.HiddenSize.Should().Be(768);
        sd15.Vae.ScalingFactor.Should().Be(0.18215);
        var sd21 = BenchModels.Resolve("sd21");
        sd21.Unet.AttentionHeads.Should().Equal(5, 10, 20, 20);
        sd21.TextEncoder.NumHiddenLayers.Should().Be(23);
        var sdxl = BenchModels.Resolve("sdxl");
        sdxl.IsSdxl.Should().BeTrue();
        sdxl.Unet.TransformerLayers.Should().Equal(1, 2, 10);
        sdxl.TextEmbedsDim.Should().Be(1280);
    }

    [Fact]
    public void Without_memory_every_model_case_is_skipped_with_a_reason()
    {
        var report = new BenchRunner(Tiny(), availableMemory: () => 1000).Run();
        report.Cases.Select(c => c.Name).Should().Equal(BenchCases.All);
        foreach (var c in report.Cases.Where(c => !c.Name.StartsWith("matmul", StringComparison.Ordinal)))
        {
            c.Status.Should().Be(BenchCaseResult.Skipped, c.Name);
            c.Reason.Should().Contain("GB available (MemAvailable)", c.Name);
        }
        report.Cases.Where(c => c.Name.StartsWith("matmul", StringComparison.Ordinal)).Should().OnlyContain(c => c.Status == BenchCaseResult.Ok);
        report.Targets.Should().OnlyContain(t => t.Met == null);
    }

    [Fact]
    public void Training_memory_estimate_orders_the_modes()
    {
        double P = 860e6, T = 123e6, A = 5e9;
        double full32 = BenchRunner.EstimateTrainingBytes(P, T, A, false, false, false, false);
        double ckpt32 = BenchRunner.EstimateTrainingBytes(P, T, A, false, false, true, false);
        double lora16 = BenchRunner.EstimateTrainingBytes(P, T, A, true, true, false, false);
        full32.Should().Be(16 * P + 4 * T + 3 * A);
        ckpt32.Should().BeLessThan(full32);
        lora16.Should().BeLessThan(ckpt32);
    }

    [Fact]
    public void Median_of_odd_and_even_counts()
    {
        BenchRunner.Median([3.0, 1.0, 2.0]).Should().Be(2.0);
        BenchRunner.Median([4.0, 1.0, 3.0, 2.0]).Should().Be(2.5);
    }

    [Fact]
    public void Bad_options_are_one_line_errors()
    {
        var ok = Tiny();
        FluentActions.Invoking(() => new BenchRunner(ok with { Iterations = 0 })).Should().Throw<DreamBoothException>().WithMessage("--iterations 0*");
        FluentActions.Invoking(() => new BenchRunner(ok with { Cases = ["nope"] })).Should().Throw<DreamBoothException>().WithMessage("*unknown case 'nope'*");
        FluentActions.Invoking(() => new BenchRunner(ok with { Resolution = 31 })).Should().Throw<DreamBoothException>().WithMessage("--resolution 31*");
        FluentActions.Invoking(() => BenchModels.Resolve("foo")).Should().Throw<DreamBoothException>().WithMessage("--config foo*");
    }

    [Fact]
    public void Report_json_round_trips_every_case()
    {
        var report = new BenchRunner(Tiny(BenchCases.MatmulFp32, BenchCases.LoraBf16, BenchCases.GuidedFp32)).Run();
        using var doc = JsonDocument.Parse(BenchTargets.ToJson(report));
        var cases = doc.RootElement.GetProperty("cases").EnumerateArray().ToList();
        cases.Select(c => c.GetProperty("name").GetString()).Should().Equal(BenchCases.MatmulFp32, BenchCases.LoraBf16, BenchCases.GuidedFp32);
        cases.Should().OnlyContain(c => c.GetProperty("status").GetString() == BenchCaseResult.Ok);
        var lora = cases[1];
        lora.GetProperty("seconds_per_step").GetDouble().Should().BePositive();
        lora.GetProperty("gflop_per_step").GetDouble().Should().BePositive();
        lora.GetProperty("profile").GetProperty("backward").GetDouble().Should().BePositive();
        lora.GetProperty("peak_rss_bytes").GetInt64().Should().BePositive();
    }
}
