using System.Text.Json;
using System.Text.RegularExpressions;

namespace DreamBooth.IO;

/// <summary>A component entry of <c>model_index.json</c>: <c>["library", "ClassName"]</c>, or <c>[null, null]</c> for none.</summary>
/// <param name="Library">The Python library that defines the class (<c>diffusers</c>, <c>transformers</c>), or null.</param>
/// <param name="ClassName">The class name (<c>UNet2DConditionModel</c>), or null when the pipeline has no such component.</param>
public sealed record ComponentSpec(string? Library, string? ClassName)
{
    /// <summary>False for <c>[null, null]</c>: the pipeline was saved without this component.</summary>
    public bool IsPresent => ClassName is not null;

    /// <inheritdoc/>
    public override string ToString() => IsPresent ? $"{Library} {ClassName}" : "none";
}

/// <summary>
/// The <c>model_index.json</c> record of a diffusers pipeline folder: the pipeline class, the diffusers version that wrote
/// it, one <see cref="ComponentSpec"/> per component key, and the remaining plain settings
/// (e.g. <c>requires_safety_checker</c>, <c>force_zeros_for_empty_prompt</c>).
/// </summary>
/// <param name="ClassName">The pipeline class (<c>_class_name</c>), e.g. <c>StableDiffusionPipeline</c>.</param>
/// <param name="DiffusersVersion">The <c>_diffusers_version</c> that wrote the folder, when present.</param>
/// <param name="Components">Component name → spec, in file order.</param>
/// <param name="Settings">Other keys not starting with '_' (values detached from the file's document).</param>
public sealed partial record ModelIndex(
    string ClassName,
    string? DiffusersVersion,
    IReadOnlyDictionary<string, ComponentSpec> Components,
    IReadOnlyDictionary<string, JsonElement> Settings)
{
    /// <summary>The file name of the record in a pipeline folder.</summary>
    public const string FileName = "model_index.json";

    /// <summary>Reads and validates a <c>model_index.json</c> file.</summary>
    /// <exception cref="DreamBoothException">Missing, unreadable or malformed; one line naming the file and the key.</exception>
    public static ModelIndex Read(string path)
    {
        DreamBoothException Bad(string what) => new($"{path}: {what}");
        using var doc = ConfigJson.ReadDocument(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Bad("expected a JSON object at the top level");

        string? className = null, version = null;
        var components = new Dictionary<string, ComponentSpec>(StringComparer.Ordinal);
        var settings = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in root.EnumerateObject())
        {
            if (!seen.Add(p.Name)) throw Bad($"key '{p.Name}' appears twice");
            switch (p.Name)
            {
                case "_class_name":
                    if (p.Value.ValueKind != JsonValueKind.String || p.Value.GetString() is not { Length: > 0 } c)
                        throw Bad("key '_class_name' must be the pipeline class name (a non-empty string)");
                    className = c;
                    continue;
                case "_diffusers_version":
                    if (p.Value.ValueKind != JsonValueKind.String) throw Bad("key '_diffusers_version' must be a string");
                    version = p.Value.GetString();
                    continue;
            }
            if (p.Name.StartsWith('_')) continue; // other private keys (_name_or_path, ...) carry nothing we use
            if (p.Value.ValueKind != JsonValueKind.Array)
            {
                settings[p.Name] = p.Value.Clone();
                continue;
            }
            components[p.Name] = ParseSpec(p.Name, p.Value, Bad);
        }
        if (className is null) throw Bad("missing key '_class_name' (the pipeline class)");
        return new ModelIndex(className, version, components, settings);
    }

    private static ComponentSpec ParseSpec(string name, JsonElement v, Func<string, DreamBoothException> bad)
    {
        string Expected() => $"component '{name}' must be [\"library\", \"ClassName\"] or [null, null], found {Shorten(v.GetRawText())}";
        if (v.GetArrayLength() != 2) throw bad(Expected());
        var (lib, cls) = (v[0], v[1]);
        if (lib.ValueKind == JsonValueKind.Null && cls.ValueKind == JsonValueKind.Null) return new ComponentSpec(null, null);
        if (lib.ValueKind != JsonValueKind.String || cls.ValueKind != JsonValueKind.String) throw bad(Expected());
        // The name becomes a folder name: a plain one only, so a hostile index cannot point outside the model folder.
        if (!PlainName().IsMatch(name)) throw bad($"component name '{name}' is not a plain folder name");
        if (cls.GetString() is not { Length: > 0 } className) throw bad(Expected());
        return new ComponentSpec(lib.GetString(), className);
    }

    private static string Shorten(string raw)
    {
        raw = Regex.Replace(raw, @"\s+", " ");
        return raw.Length <= 60 ? raw : raw[..57] + "...";
    }

    [GeneratedRegex(@"^(?!\.{1,2}$)[A-Za-z0-9_.\-]+$")]
    private static partial Regex PlainName();
}
