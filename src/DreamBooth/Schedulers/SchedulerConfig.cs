using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using DreamBooth.IO;

namespace DreamBooth.Schedulers;

/// <summary>
/// A diffusers <c>scheduler_config.json</c>: the union of the <c>__init__</c> arguments of the supported scheduler
/// classes, under their diffusers names (<c>beta_schedule</c>, <c>timestep_spacing</c>, ...). A null property means
/// "not given": each scheduler class fills in its own default, as diffusers' <c>from_config</c> does, so one file can
/// configure any scheduler (an SD1.5 PNDM config builds a DDIM or an Euler scheduler). Keys listed in the file's
/// <c>_use_default_values</c> are treated as not given, again like <c>from_config</c>. A scheduler's
/// <see cref="Scheduler.Config"/> is the resolved record: every key of its class set, the others null.
/// </summary>
public sealed record SchedulerConfig
{
    /// <summary><c>_class_name</c>: the diffusers class the file was saved from (e.g. <c>PNDMScheduler</c>).</summary>
    [JsonPropertyName("_class_name")] public string? ClassName { get; init; }

    /// <summary><c>num_train_timesteps</c>: length T of the training noise schedule (1000 for Stable Diffusion).</summary>
    public int? NumTrainTimesteps { get; init; }
    /// <summary><c>beta_start</c>: first β of a linear / scaled_linear schedule.</summary>
    public double? BetaStart { get; init; }
    /// <summary><c>beta_end</c>: last β of a linear / scaled_linear schedule.</summary>
    public double? BetaEnd { get; init; }
    /// <summary><c>beta_schedule</c>: <c>linear</c>, <c>scaled_linear</c>, <c>squaredcos_cap_v2</c> (DDPM also <c>sigmoid</c>).</summary>
    public string? BetaSchedule { get; init; }
    /// <summary><c>trained_betas</c>: explicit β values (length T), overriding the schedule.</summary>
    public double[]? TrainedBetas { get; init; }
    /// <summary><c>prediction_type</c>: <c>epsilon</c>, <c>v_prediction</c> or <c>sample</c>.</summary>
    public string? PredictionType { get; init; }
    /// <summary><c>timestep_spacing</c>: <c>leading</c>, <c>trailing</c> or <c>linspace</c>.</summary>
    public string? TimestepSpacing { get; init; }
    /// <summary><c>steps_offset</c>: added to <c>leading</c> timesteps (1 for Stable Diffusion).</summary>
    public int? StepsOffset { get; init; }
    /// <summary><c>set_alpha_to_one</c> (DDIM, PNDM): ᾱ used after the last step is 1, else ᾱ₀.</summary>
    public bool? SetAlphaToOne { get; init; }
    /// <summary><c>clip_sample</c> (DDPM, DDIM): clamp the predicted x₀ to ±<see cref="ClipSampleRange"/>.</summary>
    public bool? ClipSample { get; init; }
    /// <summary><c>clip_sample_range</c> (DDPM, DDIM).</summary>
    public double? ClipSampleRange { get; init; }
    /// <summary><c>thresholding</c> (DDPM, DDIM, DPM-Solver): Imagen's dynamic thresholding of the predicted x₀.</summary>
    public bool? Thresholding { get; init; }
    /// <summary><c>dynamic_thresholding_ratio</c>: the quantile of |x₀| used by thresholding.</summary>
    public double? DynamicThresholdingRatio { get; init; }
    /// <summary><c>sample_max_value</c>: the largest threshold used by thresholding.</summary>
    public double? SampleMaxValue { get; init; }
    /// <summary><c>rescale_betas_zero_snr</c>: rescale β to zero terminal SNR (Lin et al. 2023).</summary>
    public bool? RescaleBetasZeroSnr { get; init; }
    /// <summary><c>variance_type</c> (DDPM: <c>fixed_small</c>, <c>fixed_small_log</c>, <c>fixed_large</c>, <c>learned</c>, <c>learned_range</c>; DPM-Solver: null or learned ones).</summary>
    public string? VarianceType { get; init; }
    /// <summary><c>interpolation_type</c> (Euler): <c>linear</c>.</summary>
    public string? InterpolationType { get; init; }
    /// <summary><c>use_karras_sigmas</c> (Euler, DPM-Solver): Karras et al. (2022) noise levels.</summary>
    public bool? UseKarrasSigmas { get; init; }
    /// <summary><c>sigma_min</c> (Euler with Karras sigmas): overrides the smallest σ.</summary>
    public double? SigmaMin { get; init; }
    /// <summary><c>sigma_max</c> (Euler with Karras sigmas): overrides the largest σ.</summary>
    public double? SigmaMax { get; init; }
    /// <summary><c>timestep_type</c> (Euler): <c>discrete</c> or <c>continuous</c> (t = ¼·ln σ, with v-prediction).</summary>
    public string? TimestepType { get; init; }
    /// <summary><c>final_sigmas_type</c> (Euler, DPM-Solver): <c>zero</c> or <c>sigma_min</c>.</summary>
    public string? FinalSigmasType { get; init; }
    /// <summary><c>solver_order</c> (DPM-Solver): 1, 2 or 3.</summary>
    public int? SolverOrder { get; init; }
    /// <summary><c>algorithm_type</c> (DPM-Solver): <c>dpmsolver++</c>, <c>dpmsolver</c>, <c>sde-dpmsolver++</c>, <c>sde-dpmsolver</c>.</summary>
    public string? AlgorithmType { get; init; }
    /// <summary><c>solver_type</c> (DPM-Solver): <c>midpoint</c> or <c>heun</c>.</summary>
    public string? SolverType { get; init; }
    /// <summary><c>lower_order_final</c> (DPM-Solver): first-order steps at the end when there are fewer than 15 steps.</summary>
    public bool? LowerOrderFinal { get; init; }
    /// <summary><c>euler_at_final</c> (DPM-Solver): a first-order last step.</summary>
    public bool? EulerAtFinal { get; init; }
    /// <summary><c>use_lu_lambdas</c> (DPM-Solver): timesteps uniform in log-SNR (Lu et al.).</summary>
    public bool? UseLuLambdas { get; init; }
    /// <summary><c>lambda_min_clipped</c> (DPM-Solver): the smallest log-SNR λ used (−∞ by default).</summary>
    public double? LambdaMinClipped { get; init; }
    /// <summary><c>skip_prk_steps</c> (PNDM): PLMS only, without the Runge–Kutta warm-up (true for Stable Diffusion).</summary>
    public bool? SkipPrkSteps { get; init; }

    /// <summary>Where this config came from, for error messages (a file path, or "scheduler config").</summary>
    [JsonIgnore] public string Source { get; init; } = "scheduler config";

    /// <summary>Reads <c>scheduler_config.json</c> (or a scheduler folder holding it).</summary>
    public static SchedulerConfig Read(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "scheduler_config.json");
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new DreamBoothException($"{path}: file not found");
            if (info.Length > ConfigJson.MaxConfigBytes)
                throw new DreamBoothException($"{path}: {info.Length} bytes is too large for a config file (limit {ConfigJson.MaxConfigBytes})");
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DreamBoothException($"{path}: cannot read ({e.Message})");
        }
        return Parse(bytes, path);
    }

    /// <summary>
    /// Parses scheduler config JSON; <paramref name="source"/> names it in errors. Python's bare <c>NaN</c>,
    /// <c>Infinity</c> and <c>-Infinity</c> (diffusers writes <c>"lambda_min_clipped": -Infinity</c>) are accepted,
    /// and the keys listed in <c>_use_default_values</c> are dropped.
    /// </summary>
    public static SchedulerConfig Parse(ReadOnlySpan<byte> json, string source)
    {
        var documentOptions = new JsonDocumentOptions
        {
            MaxDepth = ConfigJson.MaxDepth,
            CommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
        };
        JsonObject obj;
        try
        {
            var bytes = QuoteNonFiniteLiterals(json);
            using (var document = JsonDocument.Parse(bytes, documentOptions))
            {
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                    throw new DreamBoothException($"{source}: expected a JSON object at the top level");
                // Python keeps the last of repeated keys silently; a repeated key is more likely a mistake.
                var duplicate = document.RootElement.EnumerateObject().GroupBy(p => p.Name).FirstOrDefault(g => g.Count() > 1);
                if (duplicate is not null) throw new DreamBoothException($"{source}: key '{duplicate.Key}' appears more than once");
            }
            obj = JsonNode.Parse(bytes, documentOptions: documentOptions)!.AsObject();
        }
        catch (JsonException e)
        {
            throw new DreamBoothException($"{source}: not valid JSON ({e.Message.Split('\n')[0].Trim()})");
        }

        if (obj["_use_default_values"] is JsonArray defaults)
        {
            foreach (var key in defaults)
                if (key is JsonValue v && v.TryGetValue<string>(out var name) && !name.StartsWith('_'))
                    obj.Remove(name);
        }
        obj.Remove("_use_default_values");
        var config = ConfigJson.Parse<SchedulerConfig>(Encoding.UTF8.GetBytes(obj.ToJsonString()), source);
        return config with { Source = source };
    }

    /// <summary>Wraps bare NaN / Infinity / -Infinity tokens (outside strings) in quotes so System.Text.Json reads them as named float literals.</summary>
    private static byte[] QuoteNonFiniteLiterals(ReadOnlySpan<byte> json)
    {
        var output = new List<byte>(json.Length + 16);
        bool inString = false, escaped = false;
        for (int i = 0; i < json.Length; i++)
        {
            byte b = json[i];
            if (inString)
            {
                output.Add(b);
                if (escaped) escaped = false;
                else if (b == '\\') escaped = true;
                else if (b == '"') inString = false;
                continue;
            }
            if (b == '"')
            {
                inString = true;
                output.Add(b);
                continue;
            }
            int length = LiteralLength(json[i..]);
            if (length > 0)
            {
                output.Add((byte)'"');
                foreach (var c in json.Slice(i, length)) output.Add(c);
                output.Add((byte)'"');
                i += length - 1;
                continue;
            }
            output.Add(b);
        }
        return output.ToArray();
    }

    private static int LiteralLength(ReadOnlySpan<byte> s)
    {
        foreach (var literal in NonFiniteLiterals)
            if (s.StartsWith(literal) && (s.Length == literal.Length || !char.IsAsciiLetterOrDigit((char)s[literal.Length])))
                return literal.Length;
        return 0;
    }

    private static readonly byte[][] NonFiniteLiterals = ["-Infinity"u8.ToArray(), "Infinity"u8.ToArray(), "NaN"u8.ToArray()];
}
