using DreamBooth.IO;
using static TorchSharp.torch;

namespace DreamBooth.Training.Lora;

/// <summary>One low-rank update read from a LoRA file: W += (alpha/rank)·Up·Down for the module at <see cref="Path"/>.</summary>
/// <param name="Component"><c>unet</c> or <c>text_encoder</c>.</param>
/// <param name="Path">Module path (diffusers/transformers names), or a kohya underscore-flattened name when <see cref="FlattenedName"/>.</param>
/// <param name="Down">[rank, in] (or [rank, in, 1, 1]), float32.</param>
/// <param name="Up">[out, rank] (or [out, rank, 1, 1]), float32.</param>
/// <param name="Alpha">The file's alpha for this module; null means alpha = rank (scale 1).</param>
/// <param name="FlattenedName">The path is a kohya name with dots replaced by underscores.</param>
public sealed record LoraUpdate(string Component, string Path, Tensor Down, Tensor Up, double? Alpha, bool FlattenedName = false);

/// <summary>
/// A LoRA safetensors file parsed into per-module updates. Accepted key layouts:
/// diffusers (<c>unet.X.lora.down.weight</c>, <c>text_encoder.X.lora_linear_layer.up.weight</c>),
/// PEFT (<c>X.lora_A.weight</c> / <c>X.lora_B.weight</c>, optionally with an adapter name and a <c>unet.</c>/<c>text_encoder.</c> prefix),
/// diffusers' older attention-processor layout (<c>X.processor.to_q_lora.down.weight</c>), and kohya
/// (<c>lora_unet_X.lora_down.weight</c>, <c>lora_te_X.lora_up.weight</c>, <c>X.alpha</c>) with diffusers module names.
/// Keys ending in <c>.alpha</c> give a module's alpha in every layout.
/// </summary>
public sealed class LoraFile : IDisposable
{
    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>The detected key layout: <c>diffusers</c>, <c>peft</c>, <c>diffusers-attn-procs</c> or <c>kohya</c>.</summary>
    public string Format { get; }

    /// <summary>The updates, in key order.</summary>
    public IReadOnlyList<LoraUpdate> Updates { get; }

    /// <summary>Harmless oddities worth a warning (an alpha for a module without weights).</summary>
    public IReadOnlyList<string> Warnings { get; }

    private LoraFile(string path, string format, IReadOnlyList<LoraUpdate> updates, IReadOnlyList<string> warnings)
    {
        Path = path;
        Format = format;
        Updates = updates;
        Warnings = warnings;
    }

    // (suffix, role, layout), longest first so that e.g. ".lora.down.weight" is not read as ".down.weight".
    private static readonly (string Suffix, bool Up, string Format)[] Roles =
    [
        (".lora_linear_layer.down.weight", false, "diffusers"),
        (".lora_linear_layer.up.weight", true, "diffusers"),
        ("_lora.down.weight", false, "diffusers-attn-procs"),
        ("_lora.up.weight", true, "diffusers-attn-procs"),
        (".lora.down.weight", false, "diffusers"),
        (".lora.up.weight", true, "diffusers"),
        (".lora_down.weight", false, "kohya"),
        (".lora_up.weight", true, "kohya"),
        (".lora_A.weight", false, "peft"),
        (".lora_B.weight", true, "peft"),
    ];

    /// <summary>Reads and validates <paramref name="path"/>.</summary>
    /// <exception cref="DreamBoothException">Unreadable file, no LoRA keys, unknown keys, missing halves, non-finite values.</exception>
    public static LoraFile Read(string path)
    {
        if (!File.Exists(path)) throw new DreamBoothException($"{path}: LoRA file not found");
        using var reader = Safetensors.Open(path);
        var downs = new Dictionary<(string, string, bool), Tensor>();
        var ups = new Dictionary<(string, string, bool), Tensor>();
        var alphas = new Dictionary<(string, string, bool), double>();
        var formats = new HashSet<string>(StringComparer.Ordinal);
        var unknown = new List<string>();
        var updates = new List<LoraUpdate>();
        try
        {
            foreach (var key in reader.Entries.Keys.Order(StringComparer.Ordinal))
            {
                var (component, rest, flattened) = SplitComponent(key, path);
                if (rest.EndsWith(".alpha", StringComparison.Ordinal))
                {
                    if (reader.Entries[key].DType == "BOOL")
                        throw new DreamBoothException($"{path}: alpha '{key}' has dtype BOOL, expected a number");
                    using var raw = reader.Load(key, ScalarType.Float64);
                    using var a = raw.to(ScalarType.Float64); // an integer alpha (torch.tensor(4)) is a number too
                    if (a.numel() != 1) throw new DreamBoothException($"{path}: alpha '{key}' is not a single number");
                    double alphaValue = a.item<double>();
                    if (!double.IsFinite(alphaValue)) throw new DreamBoothException($"{path}: alpha '{key}' is {alphaValue}, not a finite number");
                    alphas[(component, NormalizePath(component, rest[..^".alpha".Length], flattened), flattened)] = alphaValue;
                    continue;
                }
                var role = Roles.FirstOrDefault(r => rest.EndsWith(r.Suffix, StringComparison.Ordinal) || EndsWithAdapter(rest, r.Suffix));
                if (role.Suffix is null)
                {
                    unknown.Add(key);
                    continue;
                }
                string module = rest.EndsWith(role.Suffix, StringComparison.Ordinal)
                    ? rest[..^role.Suffix.Length]
                    : rest[..rest.LastIndexOf(role.Suffix[..^".weight".Length] + ".", StringComparison.Ordinal)];
                if (role.Format == "diffusers-attn-procs") module += "_lora"; // "to_q_lora" → NormalizePath maps it
                var id = (component, NormalizePath(component, module, flattened), flattened);
                formats.Add(flattened ? "kohya" : role.Format);
                // Weights must be floating point: Load converts only those, and an integer matrix crashes the native matmul.
                if (!IsFloatingDType(reader.Entries[key].DType))
                    throw new DreamBoothException($"{path}: tensor '{key}' has dtype {reader.Entries[key].DType}, expected a floating-point type (F32, F16, BF16)");
                var t = reader.Load(key, ScalarType.Float32);
                if (!isfinite(t).all().item<bool>())
                {
                    t.Dispose();
                    throw new DreamBoothException($"{path}: tensor '{key}' contains NaN or infinite values");
                }
                var target = role.Up ? ups : downs;
                if (target.ContainsKey(id))
                {
                    t.Dispose();
                    // e.g. diffusers and PEFT keys for one module: which pair is meant is not ours to guess.
                    throw new DreamBoothException($"{path}: '{key}' gives the {(role.Up ? "up" : "down")} matrix of {id.Item1}.{id.Item2} a second time (keys of two LoRA formats for one module?)");
                }
                target[id] = t;
            }
            if (unknown.Count > 0)
                throw new DreamBoothException($"{path}: {unknown.Count} key(s) are not LoRA weights this loader knows, e.g. '{unknown[0]}'");
            if (downs.Count == 0 && ups.Count == 0)
                throw new DreamBoothException($"{path}: no LoRA weights in the file");
            foreach (var id in downs.Keys.Union(ups.Keys).ToList())
            {
                if (!downs.TryGetValue(id, out var down) || !ups.TryGetValue(id, out var up))
                    throw new DreamBoothException($"{path}: LoRA for '{id.Item1}.{id.Item2}' has only its {(downs.ContainsKey(id) ? "down" : "up")} matrix");
                updates.Add(new LoraUpdate(id.Item1, id.Item2, down, up, alphas.TryGetValue(id, out var alpha) ? alpha : null, id.Item3));
            }
            var orphans = alphas.Keys.Where(id => !downs.ContainsKey(id)).Select(id => $"{id.Item1}.{id.Item2}").Order(StringComparer.Ordinal).ToList();
            var warnings = orphans.Count == 0 ? [] : new List<string>
            {
                $"{path}: {orphans.Count} alpha value(s) belong to no LoRA weights in the file (ignored), e.g. '{orphans[0]}'",
            };
            return new LoraFile(path, string.Join("+", formats.Order(StringComparer.Ordinal)), updates, warnings);
        }
        catch
        {
            foreach (var t in downs.Values.Concat(ups.Values)) t.Dispose();
            throw;
        }
    }

    private static bool IsFloatingDType(string dtype) => dtype is "F64" or "F32" or "F16" or "BF16";

    // PEFT keys may carry an adapter name: "X.lora_A.default.weight".
    private static bool EndsWithAdapter(string key, string suffix)
    {
        if (!suffix.StartsWith(".lora_A", StringComparison.Ordinal) && !suffix.StartsWith(".lora_B", StringComparison.Ordinal)) return false;
        if (!key.EndsWith(".weight", StringComparison.Ordinal)) return false;
        var stem = key[..^".weight".Length];
        int dot = stem.LastIndexOf('.');
        return dot > 0 && stem[..dot].EndsWith(suffix[..^".weight".Length], StringComparison.Ordinal);
    }

    private static (string Component, string Key, bool Flattened) SplitComponent(string key, string path)
    {
        if (key.StartsWith("unet.", StringComparison.Ordinal)) return (LoraAdapters.Unet, key["unet.".Length..], false);
        if (key.StartsWith("text_encoder.", StringComparison.Ordinal)) return (LoraAdapters.TextEncoder, key["text_encoder.".Length..], false);
        if (key.StartsWith("lora_unet_", StringComparison.Ordinal)) return (LoraAdapters.Unet, key["lora_unet_".Length..], true);
        if (key.StartsWith("lora_te_", StringComparison.Ordinal)) return (LoraAdapters.TextEncoder, key["lora_te_".Length..], true);
        if (key.StartsWith("lora_te1_", StringComparison.Ordinal)) return (LoraAdapters.TextEncoder, key["lora_te1_".Length..], true);
        if (key.StartsWith("text_encoder_2.", StringComparison.Ordinal) || key.StartsWith("lora_te2_", StringComparison.Ordinal))
            throw new DreamBoothException($"{path}: has weights for a second text encoder ('{key}'), an SDXL LoRA; only SD 1.x/2.x LoRA is supported");
        // Without a prefix: transformers module names belong to the text encoder, the rest to the UNet (save_attn_procs, bare PEFT).
        if (key.StartsWith("text_model.", StringComparison.Ordinal)) return (LoraAdapters.TextEncoder, key, false);
        if (key.StartsWith("base_model.model.", StringComparison.Ordinal)) return (LoraAdapters.Unet, key["base_model.model.".Length..], false);
        return (LoraAdapters.Unet, key, false);
    }

    // Older diffusers layouts name the projection "to_q_lora" under ".processor", and for CLIP still call it "to_q".
    private static string NormalizePath(string component, string module, bool flattened)
    {
        if (flattened) return module;
        module = module.Replace(".processor.", ".", StringComparison.Ordinal);
        if (!module.EndsWith("_lora", StringComparison.Ordinal)) return module;
        int dot = module.LastIndexOf('.');
        string parent = dot < 0 ? "" : module[..(dot + 1)], name = module[(dot + 1)..^"_lora".Length];
        string mapped = component == LoraAdapters.TextEncoder
            ? name switch { "to_q" => "q_proj", "to_k" => "k_proj", "to_v" => "v_proj", "to_out" => "out_proj", _ => name }
            : name == "to_out" ? "to_out.0" : name;
        return parent + mapped;
    }

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        foreach (var u in Updates)
        {
            u.Down.Dispose();
            u.Up.Dispose();
        }
    }
}
