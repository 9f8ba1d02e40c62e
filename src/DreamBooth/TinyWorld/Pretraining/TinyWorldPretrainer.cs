using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using static TorchSharp.torch;

namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>What a finished pretraining run produced.</summary>
/// <param name="ModelDir">The diffusers model folder.</param>
/// <param name="WorkDir">The folder with checkpoints, cached latents, the log and the VAE reconstruction sheet.</param>
/// <param name="Record">The contents of <c>pretraining.json</c>.</param>
public sealed record PretrainingResult(string ModelDir, string WorkDir, JsonObject Record);

/// <summary>
/// <c>dreambooth tiny-world pretrain</c>: trains the tiny world's Stable Diffusion model from scratch and writes a
/// diffusers folder (model_index.json, scheduler/, tokenizer/, text_encoder/, unet/, vae/) plus <c>pretraining.json</c>
/// (how it was made: options, seed, steps, wall and CPU time per stage, threads). Stages:
/// <list type="number">
/// <item><see cref="VaeStage"/>: the VAE, on freshly rendered world images; then its latent scaling factor.</item>
/// <item><see cref="LatentStage"/>: dataset items 0 … N−1 encoded once to cached latents.</item>
/// <item><see cref="DiffusionStage"/>: text encoder + UNet, jointly, with the diffusion loss.</item>
/// </list>
/// Deterministic from <see cref="PretrainingOptions.Seed"/> (for a fixed thread count and machine type), resumable from
/// the checkpoints in the work folder (a resumed run ends with the same weights as an uninterrupted one).
/// </summary>
public static class TinyWorldPretrainer
{
    /// <summary>The record file written into the model folder.</summary>
    public const string RecordFileName = "pretraining.json";

    /// <summary>How many first-step losses per stage <c>pretraining.json</c> records.</summary>
    public const int FirstLossCount = 3;

    /// <summary>The default work folder of an output folder: <c>&lt;output&gt;.work</c> beside it.</summary>
    public static string DefaultWorkDir(string outputDir) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(outputDir)) + ".work";

    // The first entry of a model folder that this command would not have written (null when there is none): a model
    // with a model_index.json but no pretraining record is another tool's model.
    private static string? ForeignEntry(string outputDir, string workDir)
    {
        var ours = new HashSet<string>(StringComparer.Ordinal) { ModelIndex.FileName, RecordFileName, "README.md", "unet", "vae", "text_encoder", "tokenizer", "scheduler" };
        // A --work-dir placed inside the output folder is this run's too.
        string work = Path.TrimEndingDirectorySeparator(Path.GetFullPath(workDir));
        if (string.Equals(Path.GetDirectoryName(work), Path.TrimEndingDirectorySeparator(Path.GetFullPath(outputDir)), StringComparison.Ordinal))
            ours.Add(Path.GetFileName(work));
        var foreign = Directory.EnumerateFileSystemEntries(outputDir).Select(Path.GetFileName).OfType<string>()
            .Where(n => !ours.Contains(n) && !n.EndsWith(AtomicFile.TempSuffix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).FirstOrDefault();
        if (foreign is not null) return foreign;
        return File.Exists(Path.Combine(outputDir, ModelIndex.FileName)) && !File.Exists(Path.Combine(outputDir, RecordFileName))
            ? $"{ModelIndex.FileName} without {RecordFileName} (another model)" : null;
    }

    // The seed and architecture a model folder's pretraining record names, when they are not this run's (null otherwise).
    private static string? OtherRunsModel(string outputDir, PretrainingOptions options)
    {
        var recordPath = Path.Combine(outputDir, RecordFileName);
        if (!File.Exists(recordPath)) return null;
        try
        {
            var record = JsonNode.Parse(File.ReadAllText(recordPath))?.AsObject();
            var o = record?["options"]?.AsObject();
            long? seed = o?["seed"]?.GetValue<long>();
            string? architecture = o?["architecture"]?.GetValue<string>();
            return seed == options.Seed && architecture == options.Architecture ? null : $"seed {seed?.ToString() ?? "?"}, architecture {architecture ?? "?"}";
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            return $"an unreadable {RecordFileName}";
        }
    }

    /// <summary>Runs (or, with <paramref name="resume"/>, continues) a pretraining run.</summary>
    /// <param name="options">The run's options.</param>
    /// <param name="outputDir">The model folder to write.</param>
    /// <param name="workDir">Checkpoints and caches (default <see cref="DefaultWorkDir"/>).</param>
    /// <param name="resume">Continue from the checkpoints in <paramref name="workDir"/>; without it, a work folder
    /// that already holds a run is an error (so a run is never continued by accident with other options).</param>
    /// <param name="command">The command line to record (informational).</param>
    /// <param name="progress">Progress reports.</param>
    /// <param name="cancellationToken">Stops after saving a checkpoint.</param>
    public static PretrainingResult Run(PretrainingOptions options, string outputDir, string? workDir = null, bool resume = false,
        string? command = null, IProgress<PretrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        workDir ??= DefaultWorkDir(outputDir);
        if (File.Exists(outputDir)) throw new DreamBoothException($"--output {outputDir}: is a file, expected a folder");
        bool hasRun = Directory.Exists(workDir) && Directory.EnumerateFileSystemEntries(workDir).Any(e => Path.GetFileName(e) != "tokenizer");
        if (hasRun && !resume)
            throw new DreamBoothException($"--work-dir {workDir}: already holds a pretraining run; pass --resume to continue it or choose another --output/--work-dir");
        bool outputHasFiles = Directory.Exists(outputDir) && Directory.EnumerateFileSystemEntries(outputDir).Any();
        if (!resume && outputHasFiles)
            throw new DreamBoothException($"--output {outputDir}: folder is not empty; choose a new folder (or pass --resume to finish a run into it)");
        // --resume finishes a run of the work folder into its own output: a folder the save would overwrite must be this
        // command's model (or a save of it that was cut short), never another model or unrelated files.
        if (resume && outputHasFiles)
        {
            if (!hasRun)
                throw new DreamBoothException($"--output {outputDir}: folder is not empty, and --work-dir {workDir} holds no run for --resume to finish; choose a new folder");
            if (ForeignEntry(outputDir, workDir) is { } foreign)
                throw new DreamBoothException($"--output {outputDir}: holds {foreign}, which is not part of a tiny-world model; --resume would write the model among it, so choose a new folder");
            if (OtherRunsModel(outputDir, options) is { } other)
                throw new DreamBoothException($"--output {outputDir}: holds the tiny-world model of another run ({other}); --resume would replace it, so choose a new folder");
            // A save cut short by a kill leaves its temporary files in the component folders too.
            AtomicFile.RemoveStaleTemps(outputDir);
        }
        var run = new PretrainingRun(options, workDir, progress, cancellationToken);
        if (options.ExtendsUnetSteps is not null && !File.Exists(run.DiffusionCheckpointPath))
            throw new DreamBoothException($"{run.DiffusionCheckpointPath}: no finished stage-2 checkpoint to extend (--extend-from-unet-steps continues a finished run in --work-dir)");
        Directory.CreateDirectory(workDir);
        // A kill while a checkpoint was being written leaves its hidden temporary file (as large as the checkpoint).
        if (AtomicFile.RemoveStaleTemps(workDir) is var temps and > 0) run.Say(PretrainingStage.Vae, $"removed {temps} temporary file(s) of an interrupted write");

        using var vae = VaeStage.Run(run);
        using var latents = LatentStage.Run(run, vae);
        using var stage = new DiffusionStage(run, latents);
        var averaged = stage.Run();
        try
        {
            run.Report(new PretrainingProgress(PretrainingStage.Saving, 0, 1));
            var record = Write(run, outputDir, vae, averaged, stage.StageSeconds, command);
            run.Report(new PretrainingProgress(PretrainingStage.Saving, 1, 1, Message: $"model written to {outputDir}"));
            return new PretrainingResult(outputDir, workDir, record);
        }
        finally
        {
            foreach (var t in averaged.Values) t.Dispose();
        }
    }

    private static JsonObject Write(PretrainingRun run, string outputDir, AutoencoderKL vae, IReadOnlyDictionary<string, Tensor> averaged,
        (double Wall, double Cpu) diffusionSeconds, string? command)
    {
        Directory.CreateDirectory(outputDir);
        // As DiffusersOutput: an earlier model_index.json (an extended run) goes first, the new one is written last.
        File.Delete(Path.Combine(outputDir, ModelIndex.FileName));
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        run.Architecture.WriteConfigs(outputDir, vae.ScalingFactor);
        run.Vocabulary.Write(Path.Combine(outputDir, "tokenizer"));
        Safetensors.Save(Path.Combine(outputDir, "vae", "diffusion_pytorch_model.safetensors"), VaeStage.StateOf(vae), metadata);
        Safetensors.Save(Path.Combine(outputDir, "unet", "diffusion_pytorch_model.safetensors"), Strip(averaged, "unet."), metadata);
        Safetensors.Save(Path.Combine(outputDir, "text_encoder", "model.safetensors"), Strip(averaged, "text_encoder."), metadata);
        var record = Record(run, outputDir, vae, diffusionSeconds, command);
        AtomicFile.WriteAllText(Path.Combine(outputDir, RecordFileName), record.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n");
        TinyWorldArchitecture.WriteModelIndex(outputDir);
        return record;
    }

    private static Dictionary<string, Tensor> Strip(IReadOnlyDictionary<string, Tensor> tensors, string prefix) =>
        tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal);

    private static JsonObject Record(PretrainingRun run, string outputDir, AutoencoderKL vae, (double Wall, double Cpu) diffusion, string? command)
    {
        var o = run.Options;
        using var vaeFinal = PretrainingCheckpoint.Load(run.VaeFinalPath, o.VaeFingerprint)!;
        double Meta(string key) => double.Parse(vaeFinal.Metadata[key], CultureInfo.InvariantCulture);
        long Params(string dir) => ModelComponent.Open(Path.Combine(outputDir, dir)).Weights!.ParameterCount;
        long Bytes(string dir) => Directory.EnumerateFiles(Path.Combine(outputDir, dir)).Sum(f => new FileInfo(f).Length);
        var options = (JsonObject)JsonSerializer.SerializeToNode(o, ConfigJson.Options)!;
        return new JsonObject
        {
            ["command"] = command,
            ["seed"] = o.Seed,
            ["options"] = options,
            ["fingerprint"] = o.Fingerprint,
            ["vae_steps"] = o.VaeSteps,
            ["unet_steps"] = o.UnetSteps,
            ["latent_images"] = o.LatentImages,
            ["vae_scaling_factor"] = vae.ScalingFactor,
            ["threads"] = get_num_threads(),
            ["processor_count"] = Environment.ProcessorCount,
            ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            ["torchsharp"] = typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString(),
            ["time"] = new JsonObject
            {
                ["note"] = "wall = elapsed time (the machine may be shared); cpu = process CPU time (user + system, all threads); summed over resumed sessions",
                ["vae_wall_seconds"] = Math.Round(Meta("wall_seconds"), 1),
                ["vae_cpu_seconds"] = Math.Round(Meta("cpu_seconds"), 1),
                ["latents_wall_seconds"] = Math.Round(run.LatentSeconds.Wall, 1),
                ["latents_cpu_seconds"] = Math.Round(run.LatentSeconds.Cpu, 1),
                ["diffusion_wall_seconds"] = Math.Round(diffusion.Wall, 1),
                ["diffusion_cpu_seconds"] = Math.Round(diffusion.Cpu, 1),
                ["total_wall_seconds"] = Math.Round(Meta("wall_seconds") + run.LatentSeconds.Wall + diffusion.Wall, 1),
                ["total_cpu_seconds"] = Math.Round(Meta("cpu_seconds") + run.LatentSeconds.Cpu + diffusion.Cpu, 1),
            },
            ["first_losses"] = new JsonObject
            {
                ["note"] = "loss of optimizer steps 1, 2, 3 of each stage, for checking that the recorded command reproduces the run",
                ["vae"] = new JsonArray(run.FirstLosses(PretrainingStage.Vae, FirstLossCount).Select(l => (JsonNode)l).ToArray()),
                ["diffusion"] = new JsonArray(run.FirstLosses(PretrainingStage.Diffusion, FirstLossCount).Select(l => (JsonNode)l).ToArray()),
            },
            ["parameters"] = new JsonObject
            {
                ["vae"] = Params("vae"),
                ["text_encoder"] = Params("text_encoder"),
                ["unet"] = Params("unet"),
            },
            ["bytes"] = new JsonObject
            {
                ["vae"] = Bytes("vae"),
                ["text_encoder"] = Bytes("text_encoder"),
                ["unet"] = Bytes("unet"),
                ["tokenizer"] = Bytes("tokenizer"),
            },
            ["finished_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
    }
}
