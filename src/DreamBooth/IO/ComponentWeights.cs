using System.Text.RegularExpressions;

namespace DreamBooth.IO;

/// <summary>
/// The weights of one model component: a single .safetensors file or a sharded set behind an index (or, when pickle files
/// are allowed, a PyTorch <c>.bin</c> checkpoint), found by the diffusers/transformers naming rules, with every header
/// already read and validated.
/// </summary>
/// <param name="Path">The .safetensors file, the <c>*.safetensors.index*.json</c> of a sharded set, or the pickle checkpoint.</param>
/// <param name="IsSharded">True when <paramref name="Path"/> is an index.</param>
/// <param name="Variant">The variant these files are (<c>fp16</c>, ...), or null for the default files.</param>
/// <param name="Files">The data files (one, or every shard).</param>
/// <param name="Entries">Every tensor's header entry, by name.</param>
public sealed partial record ComponentWeights(
    string Path,
    bool IsSharded,
    string? Variant,
    IReadOnlyList<string> Files,
    IReadOnlyDictionary<string, SafetensorsEntry> Entries)
{
    /// <summary>True when <see cref="Path"/> is a PyTorch pickle checkpoint read by <see cref="PickleCheckpoint"/>.</summary>
    public bool IsPickle { get; init; }

    /// <summary>Total number of tensor elements (parameters and persistent buffers), from the headers.</summary>
    public long ParameterCount => Entries.Values.Sum(e => e.ElementCount);

    /// <summary>Element counts per safetensors dtype string, e.g. <c>{"F32": 859520964}</c>.</summary>
    public IReadOnlyDictionary<string, long> ElementsByDType =>
        Entries.Values.GroupBy(e => e.DType).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Sum(e => e.ElementCount));

    /// <summary>Opens the weights for reading (hand the reader to <see cref="WeightLoader"/>); dispose it after loading.</summary>
    public ITensorReader Open() => IsPickle ? PickleCheckpoint.Open(Path) : IsSharded ? Safetensors.OpenSharded(Path) : Safetensors.Open(Path);

    /// <summary>
    /// Finds the weights in <paramref name="dir"/> for the first of <paramref name="baseNames"/> that has them:
    /// <c>{base}.safetensors</c>, else <c>{base}.safetensors.index.json</c>; with a variant
    /// <c>{base}.{variant}.safetensors</c> / <c>{base}.safetensors.index.{variant}.json</c> (or the older
    /// <c>{base}.safetensors.{variant}.index.json</c>). With <paramref name="fallBackToDefault"/>, a component that has no
    /// files of the variant uses its default files, as diffusers does for pipeline folders. With
    /// <paramref name="allowPickle"/>, a component without safetensors weights may use <c>{base}.bin</c> (diffusers) or
    /// <c>pytorch_model.bin</c> (transformers), with the variant as <c>{base}.{variant}.bin</c>; safetensors always win.
    /// </summary>
    internal static ComponentWeights Resolve(string dir, IReadOnlyList<string> baseNames, string? variant, bool fallBackToDefault, bool allowPickle = false)
    {
        if (variant is not null && !VariantName().IsMatch(variant))
            throw new DreamBoothException($"variant '{variant}' is not a valid variant name (letters, digits, '_' or '-', e.g. fp16)");
        var files = Directory.EnumerateFiles(dir).Select(f => System.IO.Path.GetFileName(f))
            .Where(f => !f.EndsWith(AtomicFile.TempSuffix, StringComparison.Ordinal))
            .ToHashSet(StringComparer.Ordinal);

        if (Find(dir, files, baseNames, variant) is { } found) return found;
        if (allowPickle && FindPickle(dir, files, variant) is { } pickle) return pickle;
        if (variant is not null && fallBackToDefault && Find(dir, files, baseNames, null) is { } fallback) return fallback;
        if (variant is not null && fallBackToDefault && allowPickle && FindPickle(dir, files, null) is { } pickleFallback) return pickleFallback;
        throw NotFound(dir, files, baseNames, variant, allowPickle);
    }

    private static ComponentWeights? Find(string dir, HashSet<string> files, IReadOnlyList<string> baseNames, string? variant)
    {
        foreach (var b in baseNames)
        {
            var single = variant is null ? $"{b}.safetensors" : $"{b}.{variant}.safetensors";
            string[] indexes = variant is null
                ? [$"{b}.safetensors.index.json"]
                : [$"{b}.safetensors.index.{variant}.json", $"{b}.safetensors.{variant}.index.json"];
            // diffusers prefers the index and transformers the single file when both exist; we take the single file.
            if (files.Contains(single)) return Read(System.IO.Path.Combine(dir, single), sharded: false, variant);
            foreach (var index in indexes)
                if (files.Contains(index)) return Read(System.IO.Path.Combine(dir, index), sharded: true, variant);
        }
        return null;
    }

    // The pickle file names diffusers and transformers save: diffusion_pytorch_model.bin and pytorch_model.bin (not model.bin).
    private static readonly string[] PickleBaseNames = ["diffusion_pytorch_model", "pytorch_model"];

    private static ComponentWeights? FindPickle(string dir, HashSet<string> files, string? variant)
    {
        foreach (var b in PickleBaseNames)
        {
            var name = variant is null ? $"{b}.bin" : $"{b}.{variant}.bin";
            if (!files.Contains(name)) continue;
            var path = System.IO.Path.Combine(dir, name);
            using var reader = PickleCheckpoint.Open(path);
            return new ComponentWeights(path, false, variant, reader.Files, reader.Entries) { IsPickle = true };
        }
        return null;
    }

    private static ComponentWeights Read(string path, bool sharded, string? variant)
    {
        using var reader = sharded ? Safetensors.OpenSharded(path) : Safetensors.Open(path);
        return new ComponentWeights(path, sharded, variant, reader.Files, reader.Entries);
    }

    private static DreamBoothException NotFound(string dir, HashSet<string> files, IReadOnlyList<string> baseNames, string? variant, bool allowPickle)
    {
        string expected = variant is null ? $"{baseNames[0]}.safetensors" : $"{baseNames[0]}.{variant}.safetensors";
        var sorted = files.Order(StringComparer.Ordinal).ToList();
        if (variant is not null)
        {
            var plain = sorted.FirstOrDefault(f => baseNames.Any(b => f == $"{b}.safetensors" || f == $"{b}.safetensors.index.json"));
            if (plain is not null)
                return new DreamBoothException($"{dir}: no '{variant}' variant weights ({expected}); the folder has {plain}, loaded when no variant is asked for");
        }
        else
        {
            var variants = sorted.Select(f => baseNames.Select(b => VariantOf(f, b)).FirstOrDefault(v => v is not null))
                .OfType<string>().Distinct().ToList();
            if (variants.Count > 0)
                return new DreamBoothException($"{dir}: no {expected}, only variant weights ({string.Join(", ", variants)}); ask for variant '{variants[0]}'");
        }
        var pickle = sorted.FirstOrDefault(f => baseNames.Any(b => f.StartsWith(b + ".", StringComparison.Ordinal)) && PickleWeights.IsPickle(f))
                     ?? sorted.FirstOrDefault(PickleWeights.IsPickle);
        if (pickle is not null && allowPickle)
            return new DreamBoothException($"{System.IO.Path.Combine(dir, pickle)}: pickle weights are allowed but read only under the diffusers/transformers " +
                                           $"names {string.Join(" or ", PickleBaseNames.Select(b => variant is null ? $"{b}.bin" : $"{b}.{variant}.bin"))}");
        if (pickle is not null) return PickleWeights.Refuse(System.IO.Path.Combine(dir, pickle));
        var other = sorted.FirstOrDefault(f => OtherFormats.Any(e => f.EndsWith(e, StringComparison.OrdinalIgnoreCase)));
        if (other is not null) return new DreamBoothException($"{dir}: only .safetensors weights are supported, found {other}");
        var stray = sorted.FirstOrDefault(f => f.EndsWith(".safetensors", StringComparison.Ordinal));
        if (stray is not null)
            return new DreamBoothException($"{dir}: no {expected} (found {stray}, but weights must use the diffusers/transformers file names)");
        return new DreamBoothException($"{dir}: no weights file ({expected} expected)");
    }

    private static readonly string[] OtherFormats = [".msgpack", ".h5", ".onnx", ".gguf"];

    private static string? VariantOf(string file, string b)
    {
        var m = Regex.Match(file, $@"^{Regex.Escape(b)}\.(?:safetensors\.index\.)?([A-Za-z0-9_\-]+)\.(?:safetensors|json)$");
        if (!m.Success) m = Regex.Match(file, $@"^{Regex.Escape(b)}\.safetensors\.([A-Za-z0-9_\-]+)\.index\.json$");
        return m.Success ? Regex.Replace(m.Groups[1].Value, @"-\d+-of-\d+$", "") : null; // a shard names its variant first
    }

    [GeneratedRegex(@"^[A-Za-z0-9_\-]+$")]
    private static partial Regex VariantName();
}
