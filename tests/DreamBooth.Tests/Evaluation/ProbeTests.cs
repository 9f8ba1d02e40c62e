using System.Text.Json;
using DreamBooth.Evaluation;
using DreamBooth.TinyWorld;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Evaluation;

public class ProbeTests
{
    private static string ShippedDir => Path.Combine(Golden.RepoRoot, "models", "probe");

    [Fact]
    public void A_reduced_probe_learns_context_and_rendition_from_a_few_steps()
    {
        var options = new ProbeTrainingOptions { Seed = 3, Steps = 60, InstancesPerBatch = 8, WarmupSteps = 5, Config = new ProbeConfig { SceneChannels = new[] { 8, 16, 32, 32 }, SubjectChannels = new[] { 16, 32, 48 }, CropSize = 32, FeatureDim = 64, IdentityDim = 32 } };
        using var untrained = new Probe(ProbeTrainer.Train(options with { Steps = 0 }));
        using var probe = new Probe(ProbeTrainer.Train(options));
        var before = ProbeEvaluator.Measure(untrained, seed: 77, instances: 48);
        var acc = ProbeEvaluator.Measure(probe, seed: 77, instances: 48);
        // 60 steps of a narrow probe: the scene heads (context, rendition) go from chance to well above it; class and
        // attributes need the full run (see the shipped probe's test below).
        foreach (var task in new[] { ProbeTasks.Style, ProbeTasks.Context })
            acc.HeadAccuracy[task].Should().BeGreaterThan(before.HeadAccuracy[task] + 0.3, $"{task} is learnt ({before.HeadAccuracy[task]:F3} untrained)");
    }

    [Theory]
    [InlineData("crop_size", "0", "crop_size")]
    [InlineData("crop_size", "-4", "crop_size")]
    [InlineData("crop_size", "1000", "crop_size")]
    [InlineData("feature_dim", "0", "feature_dim")]
    [InlineData("identity_dim", "-1", "identity_dim")]
    [InlineData("image_size", "0", "image_size")]
    [InlineData("scene_channels", "[16]", "scene_channels")]
    [InlineData("subject_channels", "[32, 0, 96]", "subject_channels")]
    [InlineData("subject_channels", "null", "subject_channels")]
    public void A_config_the_network_cannot_be_built_from_is_one_line_naming_the_key(string key, string value, string named)
    {
        var dir = Path.Combine(Path.GetTempPath(), "probe-bad-" + Guid.NewGuid().ToString("N"));
        try
        {
            DreamBooth.Tests.IO.Folders.Copy(ShippedDir, dir);
            var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(dir, Probe.ConfigFile)))!.AsObject();
            config[key] = System.Text.Json.Nodes.JsonNode.Parse(value);
            File.WriteAllText(Path.Combine(dir, Probe.ConfigFile), config.ToJsonString());
            FluentActions.Invoking(() => Probe.Load(dir)).Should().Throw<DreamBoothException>()
                .Which.Message.Should().Contain($"key '{named}'").And.Contain(Probe.ConfigFile).And.NotContain("\n");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Training_is_deterministic_from_its_seed()
    {
        var options = new ProbeTrainingOptions { Seed = 5, Steps = 2, InstancesPerBatch = 4, Config = new ProbeConfig { SceneChannels = new[] { 8, 8, 8, 8 }, SubjectChannels = new[] { 8, 8, 8 }, CropSize = 16, FeatureDim = 16, IdentityDim = 8 } };
        using var a = ProbeTrainer.Train(options);
        using var b = ProbeTrainer.Train(options);
        using var c = ProbeTrainer.Train(options with { Seed = 6 });
        var pa = a.state_dict();
        var pb = b.state_dict();
        foreach (var (name, t) in pa) t.allclose(pb[name], 0, 0).Should().BeTrue(name);
        pa.Any(kv => !kv.Value.allclose(c.state_dict()[kv.Key], 0, 0)).Should().BeTrue("another seed gives other weights");
    }

    [Fact]
    public void Contrastive_loss_prefers_matching_pairs()
    {
        using var scope = NewDisposeScope();
        var aligned = nn.functional.normalize(eye(4).repeat_interleave(2, 0), dim: 1);       // pairs (0,1), (2,3), ... identical
        var shuffled = aligned[tensor(new long[] { 0, 2, 1, 3, 4, 6, 5, 7 })];
        ProbeTrainer.ContrastiveLoss(aligned, 0.1).item<float>().Should().BeLessThan(0.01f);
        ProbeTrainer.ContrastiveLoss(shuffled, 0.1).item<float>().Should().BeGreaterThan(5f);
    }

    [Fact]
    public void The_shipped_probe_is_small_loads_and_reads_fresh_renders()
    {
        new FileInfo(Path.Combine(ShippedDir, Probe.WeightsFile)).Length.Should().BeLessThanOrEqualTo(2 * 1024 * 1024);
        using var probe = Probe.Load(ShippedDir);
        var acc = ProbeEvaluator.Measure(probe, seed: 2024, instances: 96);
        acc.HeadAccuracy[ProbeTasks.Class].Should().BeGreaterThan(0.95);
        acc.HeadAccuracy[ProbeTasks.Context].Should().BeGreaterThan(0.95);
        acc.HeadAccuracy[ProbeTasks.Style].Should().BeGreaterThan(0.98);
        acc.HeadAccuracy[ProbeTasks.Color].Should().BeGreaterThan(0.85, "training.json records 0.90 on the training seed's renders");
        acc.HeadAccuracy[ProbeTasks.Pattern].Should().BeGreaterThan(0.45, "4 patterns (chance 0.25); training.json records 0.66 on the training seed's renders");
        acc.SameInstance.Should().BeGreaterThan(acc.OtherInstance + 0.3);
        var demo = ProbeEvaluator.Demo(probe);
        demo.SubjectElsewhere.Should().BeGreaterThan(0.85 * demo.PhotoCeiling, "the subject stays itself in other contexts and styles");
        demo.OtherDogs.Should().BeLessThan(demo.SubjectElsewhere - 0.3, "another dog scores low");
    }

    [Fact]
    public void The_shipped_probe_records_how_it_was_made()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(ShippedDir, Probe.TrainingFile)));
        var r = doc.RootElement;
        r.GetProperty("command").GetString().Should().StartWith("dreambooth probe train --output ");
        r.GetProperty("command").GetString().Should().Contain($"--seed {r.GetProperty("seed").GetInt64()}").And.Contain($"--steps {r.GetProperty("steps").GetInt32()}");
        File.Exists(Path.Combine(ShippedDir, "README.md")).Should().BeTrue();
    }
}
