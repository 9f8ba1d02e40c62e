using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using DreamBooth.Models.Unet;
using DreamBooth.Schedulers;
using DreamBooth.Tests.Infrastructure;
using DreamBooth.Training;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

/// <summary>
/// The DreamBooth training step against diffusers' train_dreambooth.py (golden README §7): recorded noise and timesteps
/// in, noisy latents, prediction, losses, gradient norm, clipped gradients and AdamW updates out, for every recorded step
/// (the watched parameters' updates from upstream's clipped gradients, see below).
/// Step count, watched parameters and hyper-parameters come from the fixture.
/// </summary>
public class DreamBoothStepGoldenTests
{
    private sealed record Hyper(double Lr, double Beta1, double Beta2, double WeightDecay, double Eps, double MaxGradNorm, double PriorLossWeight);

    // facts.dreambooth.optimizer is the Python constructor call, e.g. "torch.optim.AdamW(lr=0.001, betas=(0.9,0.999), weight_decay=1e-2, eps=1e-8)".
    private static Hyper ReadHyper(JsonElement facts)
    {
        var text = facts.GetProperty("optimizer").GetString()!;
        text.Should().Contain("AdamW");
        double Arg(string name)
        {
            var m = Regex.Match(text, name + @"\s*=\s*([-+0-9.eE]+)");
            m.Success.Should().BeTrue($"'{name}' in {text}");
            return double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        var betas = Regex.Match(text, @"betas\s*=\s*\(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*\)");
        betas.Success.Should().BeTrue(text);
        return new Hyper(Arg("lr"), double.Parse(betas.Groups[1].Value, CultureInfo.InvariantCulture), double.Parse(betas.Groups[2].Value, CultureInfo.InvariantCulture),
            Arg("weight_decay"), Arg("eps"), facts.GetProperty("max_grad_norm").GetDouble(), facts.GetProperty("prior_loss_weight").GetDouble());
    }

    private static double Scalar(Tensor t) => t.to(ScalarType.Float64).flatten()[0].item<double>();

    private static void AssertRelative(double actual, double expected, double rtol, string name) =>
        Math.Abs(actual - expected).Should().BeLessThanOrEqualTo(rtol * Math.Abs(expected), $"{name}: {actual:R} vs {expected:R}");

    [Fact]
    [Trait("Category", Golden.Category)]
    public void Steps_match_diffusers_train_dreambooth()
    {
        var facts = Golden.Facts.GetProperty("dreambooth");
        var hyper = ReadHyper(facts);
        var watched = facts.GetProperty("watched_params").EnumerateArray().Select(e => e.GetString()!).ToList();
        var steps = facts.GetProperty("steps").EnumerateArray().ToList();
        var golden = Golden.Outputs("dreambooth_step");

        using var unet = UNet2DConditionModel.FromPretrained(Golden.PathOf("tiny-sd1", "unet"));
        unet.train();
        foreach (var p in unet.parameters()) p.requires_grad_(true);
        using var scheduler = new DDPMScheduler(SchedulerConfig.Read(Golden.PathOf("tiny-sd1", "scheduler")));
        using var parameters = TrainingParameters.Prepare([("unet", unet)], ScalarType.Float32);
        using var optimizer = new AdamW([new OptimizerGroup("unet", parameters.Parameters.Select(p => (p.Name, p.Master)).ToList(), hyper.Lr, hyper.WeightDecay)],
            hyper.Beta1, hyper.Beta2, hyper.Eps);
        var named = unet.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        foreach (var name in watched) Golden.AssertClose(named[name], golden["init." + name], 0, 0, "init." + name);

        var instance = golden["instance_latents"];
        var latents = cat([instance, golden["class_latents"]], 0);
        var ehs = golden["encoder_hidden_states"];
        var options = new DreamBoothLossOptions(hyper.PriorLossWeight);
        steps.Should().NotBeEmpty();
        foreach (var step in steps)
        {
            int k = step.GetProperty("step").GetInt32();
            string s = $"step{k}.";
            var timesteps = golden[s + "timesteps"];
            timesteps.data<long>().ToArray().Should().Equal(step.GetProperty("timesteps").EnumerateArray().Select(e => e.GetInt64()));

            var result = DreamBoothStep.Compute(unet, scheduler, latents, golden[s + "noise"], timesteps, ehs, (int)instance.shape[0], options);
            Golden.AssertClose(result.NoisyLatents, golden[s + "noisy_latents"], 1e-5, 1e-5, s + "noisy_latents");
            Golden.AssertClose(result.ModelPred, golden[s + "model_pred"], 1e-4, 0, s + "model_pred");
            AssertRelative(Scalar(result.InstanceLoss), step.GetProperty("instance_loss").GetDouble(), 1e-5, s + "instance_loss");
            AssertRelative(Scalar(result.PriorLoss!), step.GetProperty("prior_loss").GetDouble(), 1e-5, s + "prior_loss");
            AssertRelative(Scalar(result.Loss), step.GetProperty("loss").GetDouble(), 1e-5, s + "loss");
            AssertRelative(Scalar(result.Loss), Scalar(golden[s + "loss"]), 1e-5, s + "loss tensor");

            result.Loss.backward();
            parameters.AccumulateGradients();
            double norm = parameters.ClipGradNorm(hyper.MaxGradNorm);
            AssertRelative(norm, step.GetProperty("grad_norm_before_clip").GetDouble(), 1e-4, s + "grad_norm_before_clip");
            foreach (var name in watched)
                Golden.AssertCloseRelMax(named[name].grad!, golden[s + "grad_after_clip." + name], 1e-3, s + "grad_after_clip." + name);
            // Teacher forcing: the watched parameters continue from upstream's clipped gradients. AdamW's first steps move
            // an element by ≈ lr·g/(|g|+ε), so elements whose gradient is rounding noise near ε (|g| ~ 1e-10 here)
            // move by amounts no float32 implementation reproduces (upstream differs by 4e-5 between thread counts);
            // with the same gradients the update itself must match to atol 1e-5 everywhere.
            using (no_grad())
                foreach (var name in watched) named[name].grad!.copy_(golden[s + "grad_after_clip." + name]);
            optimizer.Step(1.0);
            parameters.ZeroGrad();
            foreach (var name in watched)
                Golden.AssertClose(named[name], golden[s + "param_after." + name], 1e-5, 0, s + "param_after." + name);
        }
    }
}
