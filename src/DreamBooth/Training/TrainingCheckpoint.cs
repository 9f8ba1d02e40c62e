using System.Globalization;
using System.Text.Json;
using DreamBooth.IO;
using static TorchSharp.torch;

namespace DreamBooth.Training;

/// <summary>
/// Everything a run needs to continue exactly where it stopped.
/// </summary>
/// <param name="Step">Optimizer steps done (the folder is <c>checkpoint-{Step}</c>).</param>
/// <param name="Identity">The run it belongs to.</param>
/// <param name="Parameters">The trained (master, float32) parameters by <see cref="TrainedParameter.Key"/>.</param>
/// <param name="Optimizer">AdamW's state tensors (<see cref="AdamW.StateTensors"/>).</param>
/// <param name="OptimizerSteps">AdamW's step count.</param>
/// <param name="Generators">Generator states by name (<c>data</c>, <c>noise</c>), from <c>Generator.get_state()</c>.</param>
/// <param name="Data">The data order position.</param>
public sealed record CheckpointContents(
    int Step,
    RunIdentity Identity,
    IReadOnlyDictionary<string, Tensor> Parameters,
    IReadOnlyDictionary<string, Tensor> Optimizer,
    long OptimizerSteps,
    IReadOnlyDictionary<string, Tensor> Generators,
    DataOrderState Data);

/// <summary>
/// Training checkpoints: folders <c>checkpoint-{step}</c> in the output folder, written so that a crash, kill or full disk
/// at any moment never leaves something that looks like a checkpoint but is not one. Layout:
/// <code>
/// checkpoint-500/
///   trained_parameters.safetensors   the trained parameters, float32 masters (unet.*, text_encoder.*, LoRA adapters included)
///   optimizer.safetensors            AdamW exp_avg.* / exp_avg_sq.* (metadata: step)
///   random_states.safetensors        torch.Generator states: data (shuffle, variant picks), noise (latents, noise, timesteps)
///   state.json                       step, data order (epoch, next batch, permutation), the run identity
///   pytorch_lora_weights.safetensors LoRA runs only: the adapters in diffusers' format, usable for inference as is
/// </code>
/// The files go into a hidden temporary folder (<c>.checkpoint-500.*.partial</c>), are flushed to disk, and the folder
/// is renamed to <c>checkpoint-500</c> in one step; only names of that exact form with a <c>state.json</c> count.
/// </summary>
public static class TrainingCheckpoint
{
    /// <summary>Folder name prefix.</summary>
    public const string Prefix = "checkpoint-";

    private const string StateFile = "state.json";
    private const string ParametersFile = "trained_parameters.safetensors";
    private const string OptimizerFile = "optimizer.safetensors";
    private const string RandomFile = "random_states.safetensors";
    private const string Format = "dreambooth-dotnet-checkpoint";

    /// <summary>
    /// Writes <paramref name="contents"/> as <c>checkpoint-{step}</c> in <paramref name="outputDir"/> atomically, replacing
    /// an older folder of the same step. <paramref name="writeExtras"/> may add files to the (temporary) folder.
    /// </summary>
    /// <returns>The checkpoint folder.</returns>
    public static string Save(string outputDir, CheckpointContents contents, Action<string>? writeExtras = null)
    {
        Directory.CreateDirectory(outputDir);
        var final = Path.Combine(outputDir, Prefix + contents.Step.ToString(CultureInfo.InvariantCulture));
        var temp = Path.Combine(outputDir, $".{Prefix}{contents.Step}.{Environment.ProcessId}.{Guid.NewGuid():N}{AtomicFile.TempSuffix}");
        Directory.CreateDirectory(temp);
        try
        {
            Safetensors.Save(Path.Combine(temp, ParametersFile), contents.Parameters);
            Safetensors.Save(Path.Combine(temp, OptimizerFile), contents.Optimizer,
                new Dictionary<string, string> { ["step"] = contents.OptimizerSteps.ToString(CultureInfo.InvariantCulture) });
            Safetensors.Save(Path.Combine(temp, RandomFile), contents.Generators);
            writeExtras?.Invoke(temp);
            AtomicFile.WriteAllBytes(Path.Combine(temp, StateFile), StateJson(contents));
            DirectorySync.Flush(temp);
            // Replacing a checkpoint of the same step: the old one is renamed aside (not deleted) until the new one is in
            // place, and renamed back if that fails; RemoveDebris restores it after a kill between the two renames.
            string? aside = null;
            if (Directory.Exists(final))
            {
                aside = Path.Combine(outputDir, $".{Path.GetFileName(final)}.{Guid.NewGuid():N}{ReplacedSuffix}");
                Directory.Move(final, aside);
            }
            try
            {
                Directory.Move(temp, final);
            }
            catch when (aside is not null && !Directory.Exists(final))
            {
                Directory.Move(aside, final);
                throw;
            }
            DirectorySync.Flush(outputDir);
            if (aside is not null) TryDelete(aside);
            return final;
        }
        catch (Exception e) when (e is IOException || AtomicFile.IsDiskFull(e) || e is DreamBoothException { InnerException: { } inner } && AtomicFile.IsDiskFull(inner))
        {
            // Disk full (ENOSPC), file size limit (EFBIG) or another write error, raw or already reported by AtomicFile
            // for a file inside the temporary folder: report it for the checkpoint, which is what the user knows.
            TryDelete(temp);
            string reason = AtomicFile.IsDiskFull(e) || e is DreamBoothException ? "disk full or file size limit reached" : e.Message;
            throw new DreamBoothException($"{final}: could not write the checkpoint ({reason}); earlier checkpoints are intact", e);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>The complete checkpoints in <paramref name="outputDir"/>, oldest first.</summary>
    public static IReadOnlyList<(int Step, string Path)> List(string outputDir)
    {
        if (!Directory.Exists(outputDir)) return [];
        var list = new List<(int, string)>();
        foreach (var dir in Directory.EnumerateDirectories(outputDir, Prefix + "*"))
        {
            var name = Path.GetFileName(dir);
            if (int.TryParse(name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int step)
                && name == Prefix + step.ToString(CultureInfo.InvariantCulture) && File.Exists(Path.Combine(dir, StateFile)))
                list.Add((step, dir));
        }
        return list.OrderBy(c => c.Item1).ToList();
    }

    /// <summary>
    /// Resolves <c>--resume-from-checkpoint</c>: <c>latest</c> is the newest complete checkpoint in
    /// <paramref name="outputDir"/> (null when there is none); anything else is a checkpoint folder path or a folder
    /// name inside <paramref name="outputDir"/>.
    /// </summary>
    public static string? Resolve(string value, string outputDir)
    {
        if (value == "latest") return List(outputDir).LastOrDefault().Path;
        foreach (var candidate in new[] { value, Path.Combine(outputDir, value) })
            if (Directory.Exists(candidate))
            {
                if (!File.Exists(Path.Combine(candidate, StateFile)))
                    throw new DreamBoothException($"--resume-from-checkpoint {value}: {candidate} is not a complete checkpoint (no {StateFile})");
                return candidate;
            }
        throw new DreamBoothException($"--resume-from-checkpoint {value}: no such checkpoint folder (use 'latest' or a checkpoint-N folder)");
    }

    /// <summary>Deletes the oldest checkpoints so that at most <paramref name="limit"/> remain; returns the deleted folders.</summary>
    public static IReadOnlyList<string> Prune(string outputDir, int limit)
    {
        var all = List(outputDir);
        var removed = new List<string>();
        foreach (var (_, path) in all.Take(Math.Max(0, all.Count - limit)))
        {
            Discard(path);
            removed.Add(path);
        }
        return removed;
    }

    private const string ReplacedSuffix = ".replaced";

    /// <summary>
    /// Cleans up after killed runs: deletes hidden temporary checkpoint folders (<c>.checkpoint-N.*.partial</c>) and
    /// folders caught half-deleted (<c>.checkpoint-N.*.deleting</c>); a checkpoint renamed aside to be replaced
    /// (<c>.checkpoint-N.*.replaced</c>) is renamed back when no <c>checkpoint-N</c> took its place, else deleted.
    /// Call only when no other run writes to the folder.
    /// </summary>
    /// <returns>The number of folders removed or restored.</returns>
    public static int RemoveDebris(string outputDir)
    {
        if (!Directory.Exists(outputDir)) return 0;
        int n = 0;
        foreach (var dir in Directory.EnumerateDirectories(outputDir, "." + Prefix + "*").ToList())
        {
            var name = Path.GetFileName(dir);
            if (name.EndsWith(ReplacedSuffix, StringComparison.Ordinal))
            {
                var original = Path.Combine(outputDir, name[1..name.IndexOf('.', 1)]);
                if (!Directory.Exists(original)) Directory.Move(dir, original);
                else TryDelete(dir);
                n++;
                continue;
            }
            if (!name.EndsWith(AtomicFile.TempSuffix, StringComparison.Ordinal) && !name.EndsWith(".deleting", StringComparison.Ordinal)) continue;
            TryDelete(dir);
            n++;
        }
        return n;
    }

    /// <summary>Reads a checkpoint; the caller disposes the tensors.</summary>
    public static CheckpointContents Load(string path)
    {
        var statePath = Path.Combine(path, StateFile);
        if (!File.Exists(statePath)) throw new DreamBoothException($"{path}: not a complete checkpoint (no {StateFile})");
        int step;
        RunIdentity identity;
        DataOrderState data;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(statePath));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out var f) || f.GetString() != Format)
                throw new DreamBoothException($"{statePath}: not a checkpoint of this tool");
            if (root.TryGetProperty("version", out var version) && (version.ValueKind != JsonValueKind.Number || version.GetInt32() != 1))
                throw new DreamBoothException($"{statePath}: checkpoint format version {version.GetRawText()} is not one this build reads (1)");
            step = root.GetProperty("step").GetInt32();
            // The folder name is the step (checkpoint-N): a state that disagrees was edited or mixed up with another checkpoint.
            string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)));
            if (step < 1) throw new DreamBoothException($"{statePath}: step {step} is not a step a checkpoint is saved at (1 or more)");
            if (name.StartsWith(Prefix, StringComparison.Ordinal)
                && long.TryParse(name[Prefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out long named) && named != step)
                throw new DreamBoothException($"{statePath}: step {step} does not match the checkpoint folder {name}");
            identity = RunIdentity.Read(root.GetProperty("identity"), statePath);
            var d = root.GetProperty("data");
            data = new DataOrderState(d.GetProperty("epoch").GetInt32(), d.GetProperty("next_batch").GetInt32(),
                d.GetProperty("permutation").EnumerateArray().Select(e => e.GetInt64()).ToArray());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new DreamBoothException($"{statePath}: unreadable checkpoint state ({e.Message.Split('\n')[0]})");
        }

        string Require(string file)
        {
            var p = Path.Combine(path, file);
            return File.Exists(p) ? p : throw new DreamBoothException($"{path}: incomplete checkpoint, {file} is missing");
        }
        var parameters = Safetensors.LoadAll(Require(ParametersFile));
        using var optimizerReader = Safetensors.Open(Require(OptimizerFile));
        if (!optimizerReader.Metadata.TryGetValue("step", out var s) || !long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long optimizerSteps))
            throw new DreamBoothException($"{optimizerReader.Path}: no optimizer step count in the metadata");
        var optimizer = optimizerReader.LoadAll();
        var generators = Safetensors.LoadAll(Require(RandomFile));
        return new CheckpointContents(step, identity, parameters, optimizer, optimizerSteps, generators, data);
    }

    private static byte[] StateJson(CheckpointContents c)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("format", Format);
            w.WriteNumber("version", 1);
            w.WriteNumber("step", c.Step);
            w.WritePropertyName("data");
            w.WriteStartObject();
            w.WriteNumber("epoch", c.Data.Epoch);
            w.WriteNumber("next_batch", c.Data.NextBatch);
            w.WriteStartArray("permutation");
            foreach (var i in c.Data.Permutation) w.WriteNumberValue(i);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WritePropertyName("identity");
            c.Identity.WriteTo(w);
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    // A folder is first renamed to a hidden name, so that a half-deleted one never looks like a checkpoint.
    private static void Discard(string path)
    {
        var parent = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var trash = Path.Combine(parent, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.deleting");
        Directory.Move(path, trash);
        TryDelete(trash);
    }

    private static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
