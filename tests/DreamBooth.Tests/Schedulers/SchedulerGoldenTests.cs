using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DreamBooth.IO;
using DreamBooth.Schedulers;
using DreamBooth.Tests.Infrastructure;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Schedulers;

/// <summary>
/// The schedulers against diffusers (golden README §5). Every case of <c>outputs/schedulers.json</c> names its class
/// and config; <c>outputs/scheduler_{case}.safetensors</c> holds what upstream computed: the training schedule and the
/// forward process (DDPM), or a sampling trajectory driven by the fake model ε = 0.1·x_in + sin(t).
/// </summary>
public class SchedulerGoldenTests
{
    private static readonly Lazy<JsonDocument> Recorded = new(() => Golden.Json("outputs", "schedulers.json"));

    private static JsonElement Case(string name) => Recorded.Value.RootElement.GetProperty(name);

    private static IEnumerable<string> CaseNames() =>
        Recorded.Value.RootElement.EnumerateObject()
            .Where(p => p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty("config", out _))
            .Select(p => p.Name);

    private static string FileOf(string caseName) => $"scheduler_{caseName}.safetensors";

    private static bool FileHas(string caseName, string tensor)
    {
        var path = Golden.PathOf("outputs", FileOf(caseName));
        if (!File.Exists(path)) return false;
        using var reader = Safetensors.Open(path);
        return reader.Entries.ContainsKey(tensor);
    }

    public static TheoryData<string> AllCases() => new(CaseNames());
    public static TheoryData<string> TrajectoryCases() => new(CaseNames().Where(c => FileHas(c, "initial_noise")));
    public static TheoryData<string> ScheduleCases() => new(CaseNames().Where(c => FileHas(c, "alphas_cumprod")));
    public static TheoryData<string> ForwardProcessCases() => new(CaseNames().Where(c => FileHas(c, "original_samples")));

    private static SchedulerConfig ConfigOf(string caseName) =>
        SchedulerConfig.Parse(Encoding.UTF8.GetBytes(Case(caseName).GetProperty("config").GetRawText()), $"schedulers.json:{caseName}");

    [Fact, Trait("Category", Golden.Category)]
    public void The_fixture_has_cases_of_every_kind()
    {
        Assert.NotEmpty(TrajectoryCases());
        Assert.NotEmpty(ScheduleCases());
        Assert.NotEmpty(ForwardProcessCases());
    }

    /// <summary>
    /// from_config semantics: the recorded config is base_config plus the case's overrides (the keys that are neither
    /// defaults nor base values); building the class from that must fill in exactly upstream's defaults.
    /// </summary>
    [Theory, Trait("Category", Golden.Category)]
    [MemberData(nameof(AllCases))]
    public void Resolved_config_matches_upstream_from_config(string caseName)
    {
        var recorded = JsonNode.Parse(Case(caseName).GetProperty("config").GetRawText())!.AsObject();
        var baseConfig = JsonNode.Parse(Recorded.Value.RootElement.GetProperty("base_config").GetRawText())!.AsObject();
        var defaults = recorded["_use_default_values"]?.AsArray().Select(n => n!.GetValue<string>()).ToHashSet() ?? [];
        string className = recorded["_class_name"]!.GetValue<string>();

        var given = baseConfig.DeepClone().AsObject();
        foreach (var (key, value) in recorded)
        {
            if (key.StartsWith('_') || defaults.Contains(key)) continue;
            if (!given.ContainsKey(key) || !JsonNode.DeepEquals(given[key], value)) given[key] = value?.DeepClone();
        }
        var config = SchedulerConfig.Parse(Encoding.UTF8.GetBytes(given.ToJsonString()), $"base_config+{caseName}");
        using var scheduler = SchedulerFactory.Create(className, config);

        var ours = JsonSerializer.SerializeToNode(scheduler.Config, ConfigJson.Options)!.AsObject();
        Assert.Equal(className, ours["_class_name"]!.GetValue<string>());
        foreach (var (key, value) in ours)
        {
            if (key.StartsWith('_') || value is null) continue;
            Assert.True(recorded.ContainsKey(key), $"{caseName}: our {className} has key '{key}' that upstream's config lacks");
            Assert.True(SameValue(value, recorded[key]), $"{caseName}: '{key}' is {value.ToJsonString()}, upstream {recorded[key]?.ToJsonString() ?? "null"}");
        }
        foreach (var key in defaults)
        {
            Assert.True(ours.ContainsKey(key), $"{caseName}: our config lacks '{key}'");
            Assert.True(SameValue(ours[key], recorded[key]), $"{caseName}: default of '{key}' is {ours[key]?.ToJsonString() ?? "null"}, upstream {recorded[key]?.ToJsonString() ?? "null"}");
        }
    }

    /// <summary>JSON equality where numbers compare as doubles and "-Infinity" equals the named float literal.</summary>
    private static bool SameValue(JsonNode? a, JsonNode? b)
    {
        if (a is null || b is null) return a is null && b is null;
        if (a is JsonValue va && b is JsonValue vb && AsDouble(va) is double da && AsDouble(vb) is double db) return da.Equals(db);
        return JsonNode.DeepEquals(a, b);
    }

    private static double? AsDouble(JsonValue v) => v.GetValueKind() switch
    {
        JsonValueKind.Number => v.GetValue<double>(),
        JsonValueKind.String when v.GetValue<string>() is "-Infinity" => double.NegativeInfinity,
        JsonValueKind.String when v.GetValue<string>() is "Infinity" => double.PositiveInfinity,
        _ => null,
    };

    public static TheoryData<string> ModelSchedulerFolders() => new(
        Directory.EnumerateDirectories(Golden.Dir)
            .Where(d => File.Exists(Path.Combine(d, "scheduler", "scheduler_config.json")))
            .Select(d => Path.GetFileName(d)!));

    /// <summary>A model folder's scheduler builds the class it names, and every value the file gives is the one used.</summary>
    [Theory, Trait("Category", Golden.Category)]
    [MemberData(nameof(ModelSchedulerFolders))]
    public void Model_scheduler_folders_load_with_their_values(string model)
    {
        var folder = Golden.PathOf(model, "scheduler");
        using var scheduler = SchedulerFactory.FromPretrained(folder);
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "scheduler_config.json")))!.AsObject();
        Assert.Equal(file["_class_name"]!.GetValue<string>(), scheduler.ClassName);
        var ours = JsonSerializer.SerializeToNode(scheduler.Config, ConfigJson.Options)!.AsObject();
        int compared = 0;
        foreach (var (key, value) in file)
        {
            if (key.StartsWith('_') || !ours.ContainsKey(key) || ours[key] is null) continue;
            Assert.True(SameValue(ours[key], value), $"{model}: '{key}' is {ours[key]!.ToJsonString()}, the file says {value?.ToJsonString() ?? "null"}");
            compared++;
        }
        Assert.True(compared > 0, $"{model}: no config key was compared");
        Assert.Equal(file["prediction_type"]?.GetValue<string>() ?? "epsilon", scheduler.PredictionType.ToConfigString());
    }

    [Theory, Trait("Category", Golden.Category)]
    [MemberData(nameof(ScheduleCases))]
    public void Training_schedule_matches(string caseName)
    {
        using var scope = NewDisposeScope();
        var expected = Golden.Outputs(FileOf(caseName));
        using var scheduler = SchedulerFactory.FromConfig(ConfigOf(caseName));
        // float32 schedules computed like upstream agree to rounding, far below the trajectory tolerance
        Golden.AssertClose(scheduler.Betas, expected["betas"], atol: 0, rtol: 1e-6, name: $"{caseName}.betas");
        Golden.AssertClose(scheduler.Alphas, expected["alphas"], atol: 0, rtol: 1e-6, name: $"{caseName}.alphas");
        Golden.AssertClose(scheduler.AlphasCumprod, expected["alphas_cumprod"], atol: 0, rtol: 1e-5, name: $"{caseName}.alphas_cumprod");
    }

    [Theory, Trait("Category", Golden.Category)]
    [MemberData(nameof(ForwardProcessCases))]
    public void Add_noise_and_velocity_match(string caseName)
    {
        using var scope = NewDisposeScope();
        var expected = Golden.Outputs(FileOf(caseName));
        using var scheduler = SchedulerFactory.FromConfig(ConfigOf(caseName));
        var x0 = expected["original_samples"];
        var noise = expected["noise"];
        var timesteps = expected["timesteps"];
        SchedulerAssert.Close(scheduler.AddNoise(x0, noise, timesteps), expected["noisy_samples"], $"{caseName}.noisy_samples");
        SchedulerAssert.Close(scheduler.GetVelocity(x0, noise, timesteps), expected["velocity"], $"{caseName}.velocity");
    }

    [Theory, Trait("Category", Golden.Category)]
    [MemberData(nameof(TrajectoryCases))]
    public void Sampling_trajectory_matches(string caseName)
    {
        using var outer = NewDisposeScope();
        var expected = Golden.Outputs(FileOf(caseName));
        var recorded = Case(caseName);
        using var scheduler = SchedulerFactory.FromConfig(ConfigOf(caseName));
        Assert.Equal(recorded.GetProperty("config").GetProperty("_class_name").GetString(), scheduler.ClassName);

        // The number of model calls is the recorded timestep count (n + 1 for PNDM); find the n that gives it.
        var expectedTimesteps = expected["timesteps"];
        int calls = (int)expectedTimesteps.shape[0];
        scheduler.SetTimesteps(InferenceStepsFor(scheduler, calls));

        Assert.Equal(expectedTimesteps.dtype, scheduler.Timesteps.dtype);
        Golden.AssertClose(scheduler.Timesteps, expectedTimesteps, atol: 0, name: $"{caseName}.timesteps");
        var jsonTimesteps = recorded.GetProperty("timesteps").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal(jsonTimesteps, scheduler.TimestepValues.ToArray());
        // σ_max of the float32 schedule: libtorch versions round linspace differently in the last bit, so compare with the tolerance
        SchedulerAssert.Close(tensor(scheduler.InitNoiseSigma), tensor(recorded.GetProperty("init_noise_sigma").GetDouble()), $"{caseName}.init_noise_sigma (json)");
        SchedulerAssert.Close(tensor(scheduler.InitNoiseSigma), expected["init_noise_sigma"].to(float64).flatten()[0], $"{caseName}.init_noise_sigma");
        if (expected.TryGetValue("sigmas", out var sigmas))
        {
            Assert.NotNull(scheduler.Sigmas);
            SchedulerAssert.Close(scheduler.Sigmas!, sigmas, $"{caseName}.sigmas");
        }

        var latent = expected["initial_noise"] * scheduler.InitNoiseSigma;
        SchedulerAssert.Close(latent, expected["latent_0"], $"{caseName}.latent_0");
        for (int i = 0; i < calls; i++)
        {
            // each step in its own dispose scope, as a pipeline runs it: the scheduler's history must survive it
            using var scope = NewDisposeScope();
            double t = scheduler.TimestepValues[i];
            var modelInput = scheduler.ScaleModelInput(latent, t);
            SchedulerAssert.Close(modelInput, expected[$"step{i}.model_input"], $"{caseName}.step{i}.model_input");
            var modelOutput = modelInput * 0.1 + Math.Sin(t);
            SchedulerAssert.Close(modelOutput, expected[$"step{i}.model_output"], $"{caseName}.step{i}.model_output");

            var output = scheduler.Step(modelOutput, t, latent, noise: expected.GetValueOrDefault($"step{i}.noise"));
            if (expected.TryGetValue($"step{i}.pred_original_sample", out var predX0))
            {
                Assert.NotNull(output.PredOriginalSample);
                SchedulerAssert.Close(output.PredOriginalSample!, predX0, $"{caseName}.step{i}.pred_original_sample");
            }
            latent = output.PrevSample.MoveToOuterDisposeScope();
            SchedulerAssert.Close(latent, expected[$"latent_{i + 1}"], $"{caseName}.latent_{i + 1}");
        }
        Assert.False(expected.ContainsKey($"step{calls}.model_input"), $"{caseName}: upstream made more model calls than its timesteps");
        SchedulerAssert.Close(latent, expected["final"], $"{caseName}.final");
    }

    /// <summary>The smallest inference step count whose schedule has <paramref name="calls"/> timesteps.</summary>
    private static int InferenceStepsFor(Scheduler scheduler, int calls)
    {
        for (int n = 1; n <= Math.Min(calls, scheduler.NumTrainTimesteps); n++)
        {
            try
            {
                scheduler.SetTimesteps(n);
            }
            catch (DreamBoothException)
            {
                continue; // e.g. PNDM with PRK warm-up needs at least 4 steps
            }
            if (scheduler.TimestepValues.Count == calls) return n;
        }
        throw new Xunit.Sdk.XunitException($"{scheduler.ClassName}: no step count gives {calls} timesteps");
    }
}
