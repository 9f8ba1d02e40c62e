using System.Globalization;
using DreamBooth.IO;
using static TorchSharp.torch;

namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>
/// One pretraining checkpoint: a single safetensors file (written atomically, so a kill at any moment leaves the
/// previous checkpoint or the new one) holding groups of named tensors (<c>group.name</c>: model weights, moving
/// averages, AdamW moments) and metadata: the stage, the optimizer steps done, and the options fingerprint that a resumed
/// run must match. Every random draw of a step is derived from (seed, stage, step), so these tensors are the whole state.
/// </summary>
public sealed class PretrainingCheckpoint : IDisposable
{
    private const string StageKey = "stage", StepKey = "step", FingerprintKey = "fingerprint", FormatKey = "format";
    private const string Format = "dreambooth-dotnet-tiny-world-pretraining";

    private PretrainingCheckpoint(string path, string stage, int step, IReadOnlyDictionary<string, string> metadata, Dictionary<string, Tensor> tensors)
    {
        Path = path;
        Stage = stage;
        Step = step;
        Metadata = metadata;
        Tensors = tensors;
    }

    public string Path { get; }
    public string Stage { get; }

    /// <summary>Optimizer steps done in <see cref="Stage"/>.</summary>
    public int Step { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyDictionary<string, Tensor> Tensors { get; }

    /// <summary>The tensors of one group, with the group prefix removed.</summary>
    public Dictionary<string, Tensor> Group(string group)
    {
        var prefix = group + ".";
        return Tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal);
    }

    /// <summary>Writes a checkpoint atomically.</summary>
    public static void Save(string path, string stage, int step, string fingerprint,
        IEnumerable<(string Group, IReadOnlyDictionary<string, Tensor> Tensors)> groups, IReadOnlyDictionary<string, string>? extra = null)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [FormatKey] = Format,
            [StageKey] = stage,
            [StepKey] = step.ToString(CultureInfo.InvariantCulture),
            [FingerprintKey] = fingerprint,
        };
        if (extra is not null)
            foreach (var (k, v) in extra) metadata[k] = v;
        var all = groups.SelectMany(g => g.Tensors.Select(kv => new KeyValuePair<string, Tensor>(g.Group + "." + kv.Key, kv.Value)));
        Safetensors.Save(path, all, metadata);
    }

    /// <summary>
    /// Loads a checkpoint written by <see cref="Save"/>; null when <paramref name="path"/> does not exist. Throws a one-line
    /// <see cref="DreamBoothException"/> when it belongs to a run with other options.
    /// </summary>
    public static PretrainingCheckpoint? Load(string path, string expectedFingerprint)
    {
        if (!File.Exists(path)) return null;
        using var reader = Safetensors.Open(path);
        var meta = reader.Metadata;
        if (!meta.TryGetValue(FormatKey, out var format) || format != Format)
            throw new DreamBoothException($"{path}: not a tiny-world pretraining checkpoint");
        if (!meta.TryGetValue(FingerprintKey, out var fingerprint) || fingerprint != expectedFingerprint)
            throw new DreamBoothException($"{path}: belongs to a run with other options ({Difference(fingerprint ?? "", expectedFingerprint)}); " +
                                          "resume with the original options or start in a fresh --work-dir");
        var tensors = reader.LoadAll();
        return new PretrainingCheckpoint(path, meta[StageKey], int.Parse(meta[StepKey], CultureInfo.InvariantCulture), meta, tensors);
    }

    /// <summary>The options fingerprint stored in a checkpoint, or null when the file is missing or has none.</summary>
    public static string? FingerprintOf(string path)
    {
        if (!File.Exists(path)) return null;
        using var reader = Safetensors.Open(path);
        return reader.Metadata.TryGetValue(FingerprintKey, out var fingerprint) ? fingerprint : null;
    }

    /// <summary>The first option that differs between two fingerprints ("lr=0.001 vs lr=0.0005").</summary>
    public static string Difference(string saved, string expected)
    {
        var a = saved.Split(';');
        var b = expected.Split(';');
        for (int i = 0; i < Math.Max(a.Length, b.Length); i++)
        {
            var x = i < a.Length ? a[i] : "(none)";
            var y = i < b.Length ? b[i] : "(none)";
            if (x != y) return $"saved {x}, now {y}";
        }
        return "same options";
    }

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}
