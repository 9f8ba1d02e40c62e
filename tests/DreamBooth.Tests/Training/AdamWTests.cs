using DreamBooth.Training;
using FluentAssertions;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

public class AdamWTests
{
    [Fact]
    public void Matches_libtorch_AdamW_over_several_steps()
    {
        using var gen = new Generator(7);
        var init = new[] { randn(new long[] { 5, 3 }, generator: gen), randn(new long[] { 7 }, generator: gen) };
        var ours = init.Select(t => new Parameter(t.clone())).ToArray();
        var theirs = init.Select(t => new Parameter(t.clone())).ToArray();
        using var opt = new DreamBooth.Training.AdamW(new[] { new OptimizerGroup("m", ours.Select((p, i) => ($"p{i}", p)).ToList(), 1e-2, 0.05) }, 0.9, 0.99, 1e-6);
        var reference = optim.AdamW(theirs, lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-6, weight_decay: 0.05);
        for (int step = 0; step < 5; step++)
        {
            for (int i = 0; i < init.Length; i++)
            {
                var g = randn(init[i].shape, generator: gen);
                ours[i].grad = g.clone();
                theirs[i].grad = g.clone();
            }
            opt.Step();
            reference.step();
            for (int i = 0; i < init.Length; i++)
                (ours[i] - theirs[i]).abs().max().item<float>().Should().BeLessThan(1e-7f, $"param {i} after step {step + 1}");
        }
        opt.StepCount.Should().Be(5);
    }

    [Fact]
    public void State_round_trips_so_a_resumed_optimizer_continues_identically()
    {
        using var gen = new Generator(3);
        var start = randn(new long[] { 4, 4 }, generator: gen);
        var grads = Enumerable.Range(0, 6).Select(_ => randn(new long[] { 4, 4 }, generator: gen)).ToArray();

        var a = new Parameter(start.clone());
        using var optA = new DreamBooth.Training.AdamW(new[] { new OptimizerGroup("g", new List<(string, Parameter)> { ("w", a) }, 1e-2, 1e-2) });
        foreach (var g in grads) { a.grad = g.clone(); optA.Step(0.7); }

        var b = new Parameter(start.clone());
        using var optB = new DreamBooth.Training.AdamW(new[] { new OptimizerGroup("g", new List<(string, Parameter)> { ("w", b) }, 1e-2, 1e-2) });
        for (int i = 0; i < 3; i++) { b.grad = grads[i].clone(); optB.Step(0.7); }
        var saved = optB.StateTensors().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var savedParam = b.detach().clone();

        var c = new Parameter(savedParam);
        using var optC = new DreamBooth.Training.AdamW(new[] { new OptimizerGroup("g", new List<(string, Parameter)> { ("w", c) }, 1e-2, 1e-2) });
        optC.LoadState(saved, optB.StepCount, "test");
        for (int i = 3; i < 6; i++) { c.grad = grads[i].clone(); optC.Step(0.7); }

        (a == c).all().item<bool>().Should().BeTrue("resumed optimizer must give bit-identical parameters");
    }

    [Fact]
    public void Loading_state_for_another_model_is_a_clear_error()
    {
        var p = new Parameter(zeros(2, 2));
        using var opt = new DreamBooth.Training.AdamW(new[] { new OptimizerGroup("unet", new List<(string, Parameter)> { ("conv.weight", p) }, 1e-3, 0) });
        var act = () => opt.LoadState(new Dictionary<string, Tensor> { ["exp_avg.unet.other.weight"] = zeros(2, 2), ["exp_avg_sq.unet.other.weight"] = zeros(2, 2) }, 1, "ckpt/optimizer.safetensors");
        act.Should().Throw<DreamBoothException>().WithMessage("*ckpt/optimizer.safetensors*unet.other.weight*");
        var act2 = () => opt.LoadState(new Dictionary<string, Tensor> { ["exp_avg.unet.conv.weight"] = zeros(3, 2), ["exp_avg_sq.unet.conv.weight"] = zeros(3, 2) }, 1, "ckpt/optimizer.safetensors");
        act2.Should().Throw<DreamBoothException>().WithMessage("*shape*");
    }
}
