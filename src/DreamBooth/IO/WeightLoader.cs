using static TorchSharp.torch;

namespace DreamBooth.IO;

/// <summary>
/// Loads a state dict (.safetensors, or a pickle checkpoint read by <see cref="PickleCheckpoint"/>) into a module strictly, like PyTorch's <c>load_state_dict(strict=True)</c>: the
/// file's keys must equal the module's parameter and persistent-buffer names, with equal shapes. Any difference is one
/// <see cref="DreamBoothException"/> that lists every missing, unexpected and shape-mismatched key. Tensors are read one at
/// a time and copied (with dtype conversion) into the module's existing storage, so peak memory stays near one model.
/// A caller may name file keys to skip when the model has no such key (<c>ignoreUnexpected</c>, like transformers'
/// <c>_keys_to_ignore_on_load_unexpected</c>), e.g. the non-persistent <c>position_ids</c> buffer that older transformers
/// versions saved; every other key stays strict.
/// </summary>
public static class WeightLoader
{
    private const int MaxListed = 12;

    /// <summary>
    /// Loads <paramref name="path"/> into <paramref name="module"/>, converting to each parameter's dtype. File keys listed in
    /// <paramref name="ignoreUnexpected"/> are skipped, instead of reported as unexpected, when the model has no such key.
    /// </summary>
    public static void Load(nn.Module module, string path, bool checkFinite = true, IReadOnlyCollection<string>? ignoreUnexpected = null)
    {
        using var reader = Safetensors.Open(path);
        Load(module, reader, checkFinite, ignoreUnexpected);
    }

    /// <summary>Loads from an open reader (see <see cref="Load(nn.Module, string, bool, IReadOnlyCollection{string})"/>).</summary>
    public static void Load(nn.Module module, ITensorReader reader, bool checkFinite = true, IReadOnlyCollection<string>? ignoreUnexpected = null) =>
        Load(module, reader, static key => key, checkFinite, ignoreUnexpected);

    /// <summary>
    /// Loads from an open reader whose keys may use older names: <paramref name="modelKeyOf"/> maps each file key to the
    /// module's key (identity for keys that need no conversion), as diffusers converts legacy checkpoints on load.
    /// </summary>
    public static void Load(nn.Module module, ITensorReader reader, Func<string, string> modelKeyOf, bool checkFinite = true,
        IReadOnlyCollection<string>? ignoreUnexpected = null)
    {
        var target = module.state_dict();
        var fileKeyOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var fileKey in reader.Entries.Keys)
        {
            var modelKey = modelKeyOf(fileKey);
            if (ignoreUnexpected is not null && !target.ContainsKey(modelKey) && ignoreUnexpected.Contains(fileKey)) continue;
            if (!fileKeyOf.TryAdd(modelKey, fileKey))
                throw new DreamBoothException($"{reader.Path}: tensors '{fileKeyOf[modelKey]}' and '{fileKey}' both load into '{modelKey}'");
        }
        Check(target.ToDictionary(kv => kv.Key, kv => kv.Value.shape), fileKeyOf.ToDictionary(kv => kv.Key, kv => reader.Entries[kv.Value].Shape), reader.Path);
        CheckKinds(target, fileKeyOf, reader);
        using var _ = no_grad();
        foreach (var (name, dest) in target)
        {
            using var scope = NewDisposeScope();
            var src = reader.Load(fileKeyOf[name]);
            if (checkFinite && src.is_floating_point() && !isfinite(src).all().item<bool>())
                throw new DreamBoothException($"{reader.Path}: tensor '{fileKeyOf[name]}' contains NaN or infinite values");
            dest.copy_(src);
        }
    }

    /// <summary>
    /// Floating-point data converts to the parameter's float type (an fp16 file loads into an fp32 model), and integer
    /// data to another integer type, but never across: an integer or bool tensor where the model has a float parameter
    /// (or the reverse) is a broken or mismatched checkpoint, and converting it would load wrong values silently.
    /// Checked from the headers, before any tensor is read.
    /// </summary>
    private static void CheckKinds(IDictionary<string, Tensor> target, Dictionary<string, string> fileKeyOf, ITensorReader reader)
    {
        foreach (var (name, dest) in target)
        {
            var entry = reader.Entries[fileKeyOf[name]];
            bool fileFloat = entry.DType is "F64" or "F32" or "F16" or "BF16";
            if (fileFloat == dest.is_floating_point()) continue;
            throw new DreamBoothException(
                $"{reader.Path}: tensor '{entry.Name}' is {entry.DType} but the model's '{name}' is {dest.dtype.ToString().ToLowerInvariant()}; " +
                $"{(fileFloat ? "floating-point values are not converted to integers" : "integer values are not converted to floating point")} (wrong or corrupted checkpoint?)");
        }
    }

    /// <summary>Throws one error listing every key difference between a model and a file; returns when they match.</summary>
    public static void Check(IReadOnlyDictionary<string, long[]> model, IReadOnlyDictionary<string, long[]> file, string source)
    {
        var missing = model.Keys.Where(k => !file.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var unexpected = file.Keys.Where(k => !model.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var mismatched = model.Keys.Where(k => file.TryGetValue(k, out var s) && !s.SequenceEqual(model[k]))
            .OrderBy(k => k, StringComparer.Ordinal).ToList();
        if (missing.Count + unexpected.Count + mismatched.Count == 0) return;

        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"missing {missing.Count} key(s): {List(missing, k => $"{k} {Shape(model[k])}")}");
        if (unexpected.Count > 0) parts.Add($"unexpected {unexpected.Count} key(s): {List(unexpected, k => $"{k} {Shape(file[k])}")}");
        if (mismatched.Count > 0) parts.Add($"shape mismatch in {mismatched.Count} key(s): {List(mismatched, k => $"{k} file {Shape(file[k])} vs model {Shape(model[k])}")}");
        throw new DreamBoothException($"{source}: weights do not fit the model config; {string.Join("; ", parts)}");
    }

    private static string List(List<string> keys, Func<string, string> show)
    {
        var shown = string.Join(", ", keys.Take(MaxListed).Select(show));
        return keys.Count > MaxListed ? $"{shown}, and {keys.Count - MaxListed} more" : shown;
    }

    private static string Shape(long[] s) => "[" + string.Join(", ", s) + "]";
}
