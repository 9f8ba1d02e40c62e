using System.Text;
using DreamBooth.Schedulers;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Schedulers;

/// <summary>Reading scheduler configs, from_config defaults, the factory's names, and one-line errors on bad input.</summary>
public class SchedulerConfigTests
{
    private const string Sd15 = """
        {"_class_name":"PNDMScheduler","beta_end":0.012,"beta_schedule":"scaled_linear","beta_start":0.00085,
         "num_train_timesteps":1000,"set_alpha_to_one":false,"skip_prk_steps":true,"steps_offset":1,"trained_betas":null,"clip_sample":false}
        """;

    private static SchedulerConfig Parse(string json) => SchedulerConfig.Parse(Encoding.UTF8.GetBytes(json), "scheduler/scheduler_config.json");

    /// <summary>The SD1.5 config with the keys of <paramref name="extra"/> (a JSON object body) set or replaced.</summary>
    private static string With(string extra)
    {
        var config = System.Text.Json.Nodes.JsonNode.Parse(Sd15)!.AsObject();
        foreach (var (key, value) in System.Text.Json.Nodes.JsonNode.Parse("{" + extra + "}")!.AsObject()) config[key] = value?.DeepClone();
        return config.ToJsonString();
    }

    [Fact]
    public void Reads_diffusers_keys_and_python_non_finite_literals()
    {
        var c = Parse("""{"_class_name":"DPMSolverMultistepScheduler","lambda_min_clipped":-Infinity,"sigma_max":Infinity,"sigma_min":NaN,"algorithm_type":"dpmsolver++","note":"-Infinity NaN"}""");
        c.ClassName.Should().Be("DPMSolverMultistepScheduler");
        c.LambdaMinClipped.Should().Be(double.NegativeInfinity);
        c.SigmaMax.Should().Be(double.PositiveInfinity);
        c.SigmaMin.Should().Be(double.NaN);
        c.AlgorithmType.Should().Be("dpmsolver++");
        Parse("""{"lambda_min_clipped":"-Infinity"}""").LambdaMinClipped.Should().Be(double.NegativeInfinity);
    }

    [Fact]
    public void Keys_listed_as_defaults_are_dropped_so_the_target_class_default_applies()
    {
        // An Euler config whose linspace spacing was only Euler's default: a DDIM built from it uses DDIM's "leading".
        var c = Parse("""{"_class_name":"EulerDiscreteScheduler","timestep_spacing":"linspace","steps_offset":1,"_use_default_values":["timestep_spacing"]}""");
        c.TimestepSpacing.Should().BeNull();
        c.StepsOffset.Should().Be(1);
        using var ddim = SchedulerFactory.Create("ddim", c);
        ddim.Config.TimestepSpacing.Should().Be("leading");
    }

    [Fact]
    public void Reads_a_scheduler_folder_and_builds_the_class_it_names()
    {
        var dir = Directory.CreateTempSubdirectory("sched-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "scheduler_config.json"), Sd15);
            using var pndm = SchedulerFactory.FromPretrained(dir.FullName);
            pndm.Should().BeOfType<PNDMScheduler>();
            pndm.Config.Source.Should().EndWith("scheduler_config.json");
            using var euler = SchedulerFactory.FromPretrained(dir.FullName, "euler");
            euler.Should().BeOfType<EulerDiscreteScheduler>();
            euler.Config.BetaSchedule.Should().Be("scaled_linear");
            euler.Config.StepsOffset.Should().Be(1);
            euler.Config.TimestepSpacing.Should().Be("linspace");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("ddpm", typeof(DDPMScheduler))]
    [InlineData("ddim", typeof(DDIMScheduler))]
    [InlineData("euler", typeof(EulerDiscreteScheduler))]
    [InlineData("euler_a", typeof(EulerAncestralDiscreteScheduler))]
    [InlineData("Euler-Ancestral", typeof(EulerAncestralDiscreteScheduler))]
    [InlineData("dpm++2m", typeof(DPMSolverMultistepScheduler))]
    [InlineData("dpm++2m-karras", typeof(DPMSolverMultistepScheduler))]
    [InlineData("pndm", typeof(PNDMScheduler))]
    [InlineData("DDIMScheduler", typeof(DDIMScheduler))]
    [InlineData("eulerdiscretescheduler", typeof(EulerDiscreteScheduler))]
    [InlineData("DPMSolverMultistepScheduler", typeof(DPMSolverMultistepScheduler))]
    public void Factory_builds_each_name_from_a_model_config(string name, Type expected)
    {
        using var scheduler = SchedulerFactory.Create(name, Parse(Sd15));
        scheduler.Should().BeOfType(expected);
        scheduler.ClassName.Should().Be(expected.Name);
        scheduler.Config.BetaStart.Should().Be(0.00085);
        SchedulerFactory.IsKnown(name).Should().BeTrue();
    }

    [Fact]
    public void Dpm_names_set_the_keys_that_define_them()
    {
        var karrasConfig = Parse(With("\"use_karras_sigmas\":true,\"algorithm_type\":\"dpmsolver\",\"solver_order\":3,\"final_sigmas_type\":\"sigma_min\""));
        using var plain = SchedulerFactory.Create("dpm++2m", karrasConfig);
        plain.Config.UseKarrasSigmas.Should().BeFalse();
        plain.Config.AlgorithmType.Should().Be("dpmsolver++");
        plain.Config.SolverOrder.Should().Be(2);
        using var karras = SchedulerFactory.Create("dpm++2m-karras", Parse(Sd15));
        karras.Config.UseKarrasSigmas.Should().BeTrue();
        using var asIs = SchedulerFactory.Create("DPMSolverMultistepScheduler", karrasConfig);
        asIs.Config.AlgorithmType.Should().Be("dpmsolver");
        asIs.Config.SolverOrder.Should().Be(3);
    }

    [Fact]
    public void Unknown_scheduler_name_lists_the_valid_ones()
    {
        var act = () => SchedulerFactory.Create("heun", Parse(Sd15));
        var message = act.Should().Throw<DreamBoothException>().Which.Message;
        message.Should().Contain("'heun'").And.NotContain("\n");
        foreach (var name in SchedulerFactory.Names) message.Should().Contain(name);
        message.Should().Contain("euler-ancestral").And.Contain("DDIMScheduler");
        SchedulerFactory.IsKnown("heun").Should().BeFalse();
        var fromDisk = () => SchedulerFactory.FromPretrained("/nonexistent", "lms");
        fromDisk.Should().Throw<DreamBoothException>().WithMessage("*unknown scheduler 'lms'*");
    }

    [Theory]
    [InlineData("\"beta_schedule\":\"cosine\"", "ddim", "beta_schedule")]
    [InlineData("\"prediction_type\":\"x0\"", "ddim", "prediction_type")]
    [InlineData("\"prediction_type\":\"sample\"", "euler_a", "prediction_type")]
    [InlineData("\"prediction_type\":\"sample\"", "pndm", "prediction_type")]
    [InlineData("\"timestep_spacing\":\"uniform\"", "euler", "timestep_spacing")]
    [InlineData("\"timestep_spacing\":\"uniform\"", "pndm", "timestep_spacing")]
    [InlineData("\"trained_betas\":[0.1,0.2]", "ddpm", "trained_betas")]
    [InlineData("\"num_train_timesteps\":0", "ddim", "num_train_timesteps")]
    [InlineData("\"beta_schedule\":\"linear\",\"beta_end\":2.0", "ddim", "beta_")]
    [InlineData("\"beta_start\":-1.0", "euler", "beta_")]
    [InlineData("\"variance_type\":\"fixed_large_log\"", "ddpm", "variance_type")]
    [InlineData("\"interpolation_type\":\"log_linear\"", "euler", "interpolation_type")]
    [InlineData("\"final_sigmas_type\":\"last\"", "euler", "final_sigmas_type")]
    [InlineData("\"algorithm_type\":\"unipc\"", "DPMSolverMultistepScheduler", "algorithm_type")]
    [InlineData("\"solver_order\":4", "DPMSolverMultistepScheduler", "solver_order")]
    [InlineData("\"solver_type\":\"rk4\"", "DPMSolverMultistepScheduler", "solver_type")]
    [InlineData("\"algorithm_type\":\"dpmsolver\"", "DPMSolverMultistepScheduler", "final_sigmas_type")]
    [InlineData("\"use_karras_sigmas\":true,\"use_lu_lambdas\":true", "DPMSolverMultistepScheduler", "use_lu_lambdas")]
    [InlineData("\"num_train_timesteps\":\"1000\"", "ddim", "num_train_timesteps")]
    public void Bad_config_values_give_one_line_naming_file_and_key(string extra, string name, string key)
    {
        var act = () =>
        {
            using var s = SchedulerFactory.Create(name, Parse(With(extra)));
        };
        var message = act.Should().Throw<DreamBoothException>().Which.Message;
        message.Should().StartWith("scheduler/scheduler_config.json: ").And.Contain(key).And.NotContain("\n");
    }

    [Theory]
    [InlineData("""{"_class_name":"LMSDiscreteScheduler"}""", "LMSDiscreteScheduler")]
    [InlineData("""{"beta_start":0.001}""", "_class_name")]
    [InlineData("""{"beta_start":0.001""", "not valid JSON")]
    [InlineData("""[1,2]""", "object")]
    [InlineData("""{"_class_name":"DDIMScheduler","beta_start":0.001,"beta_start":0.002}""", "'beta_start' appears more than once")]
    public void Unusable_files_give_one_line_errors(string json, string mentioned)
    {
        var act = () =>
        {
            using var s = SchedulerFactory.FromConfig(Parse(json));
        };
        act.Should().Throw<DreamBoothException>().Which.Message.Should().Contain(mentioned).And.NotContain("\n");
    }

    [Fact]
    public void Missing_file_is_a_clear_error()
    {
        var act = () => SchedulerConfig.Read("/nonexistent/scheduler");
        act.Should().Throw<DreamBoothException>().WithMessage("/nonexistent/scheduler: file not found");
    }

    [Theory]
    [InlineData("ddim", 0)]
    [InlineData("euler", 1001)]
    [InlineData("dpm++2m", -3)]
    public void Step_counts_outside_1_to_T_are_refused(string name, int steps)
    {
        using var scheduler = SchedulerFactory.Create(name, Parse(Sd15));
        var act = () => scheduler.SetTimesteps(steps);
        act.Should().Throw<DreamBoothException>().Which.Message.Should().Contain(steps.ToString()).And.Contain("1000");
    }
}
