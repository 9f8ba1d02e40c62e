using DreamBooth.Training;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Training;

/// <summary>Values follow diffusers.optimization's lambdas (get_scheduler), computed by hand.</summary>
public class LearningRateScheduleTests
{
    [Theory]
    [InlineData("constant", 0, 100, 0, 1.0)]
    [InlineData("constant", 10, 100, 3, 1.0)]           // diffusers' constant ignores warm-up
    [InlineData("constant_with_warmup", 10, 100, 0, 0.0)]
    [InlineData("constant_with_warmup", 10, 100, 5, 0.5)]
    [InlineData("constant_with_warmup", 10, 100, 50, 1.0)]
    [InlineData("linear", 10, 110, 5, 0.5)]
    [InlineData("linear", 10, 110, 10, 1.0)]
    [InlineData("linear", 10, 110, 60, 0.5)]
    [InlineData("linear", 10, 110, 110, 0.0)]
    [InlineData("linear", 10, 110, 200, 0.0)]
    [InlineData("cosine", 0, 100, 50, 0.5)]
    [InlineData("cosine", 0, 100, 100, 0.0)]
    [InlineData("cosine", 20, 120, 20, 1.0)]
    [InlineData("cosine_with_restarts", 0, 100, 25, 0.5)]
    [InlineData("polynomial", 0, 100, 50, 0.5)]
    [InlineData("polynomial", 4, 104, 2, 0.5)]
    public void Factor_matches_diffusers(string name, int warmup, int total, int step, double expected)
    {
        var kind = LearningRateSchedule.ParseKind(name);
        var s = kind == LrScheduleKind.CosineWithRestarts
            ? new LearningRateSchedule(kind, warmup, total, NumCycles: 2)
            : new LearningRateSchedule(kind, warmup, total);
        s.Factor(step).Should().BeApproximately(expected, 1e-12);
    }

    [Fact]
    public void Polynomial_ends_at_diffusers_lr_end()
    {
        var s = LearningRateSchedule.ForPolynomial(0, 100, baseLr: 1e-4, power: 2.0);
        (s.Factor(100) * 1e-4).Should().BeApproximately(1e-7, 1e-15);
        (s.Factor(50) * 1e-4).Should().BeApproximately((1e-4 - 1e-7) * 0.25 + 1e-7, 1e-15);
    }

    [Fact]
    public void Unknown_name_is_a_one_line_error_naming_the_flag()
    {
        var act = () => LearningRateSchedule.ParseKind("warmup_cosine");
        act.Should().Throw<DreamBoothException>().WithMessage("--lr-scheduler*warmup_cosine*");
    }
}
