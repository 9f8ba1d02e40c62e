using System.Text.Json;
using DreamBooth.IO;

namespace DreamBooth.Training;

/// <summary>
/// What a training run is: the base model and the options a checkpoint's state depends on (which parameters are
/// trained, data, prompts, seed, batch layout). A checkpoint or output folder of one run cannot be resumed by a run
/// whose identity differs; options outside it (learning rate, schedule, step counts, logging, precision) may change on resume.
/// Keys are the CLI flag names, so a mismatch reads as e.g. "--lora-rank: 8 in the checkpoint, 4 now".
/// </summary>
public sealed class RunIdentity
{
    /// <summary>The values by key (sorted).</summary>
    public IReadOnlyDictionary<string, string> Values { get; }

    public RunIdentity(IReadOnlyDictionary<string, string> values) =>
        Values = new SortedDictionary<string, string>(values.ToDictionary(), StringComparer.Ordinal);

    /// <summary>One "key: theirs vs ours" entry per differing key; empty when the runs match.</summary>
    public IReadOnlyList<string> Differences(RunIdentity saved, string savedName)
    {
        var keys = Values.Keys.Union(saved.Values.Keys).Order(StringComparer.Ordinal);
        var list = new List<string>();
        foreach (var k in keys)
        {
            Values.TryGetValue(k, out var now);
            saved.Values.TryGetValue(k, out var then);
            if (now != then) list.Add($"{k}: {Show(then)} in the {savedName}, {Show(now)} now");
        }
        return list;
    }

    /// <summary>Throws a one-line <see cref="DreamBoothException"/> when <paramref name="saved"/> differs.</summary>
    public void RequireSameAs(RunIdentity saved, string source, string savedName)
    {
        var diff = Differences(saved, savedName);
        if (diff.Count > 0)
            throw new DreamBoothException($"{source}: belongs to a different training run ({string.Join("; ", diff.Take(4))}{(diff.Count > 4 ? $"; and {diff.Count - 4} more" : "")})");
    }

    private static string Show(string? v) => v is null ? "(unset)" : v.Length == 0 ? "''" : v.Length > 60 ? $"'{v[..57]}...'" : $"'{v}'";

    /// <summary>Writes the values as a JSON object.</summary>
    public void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        foreach (var (k, v) in Values) w.WriteString(k, v);
        w.WriteEndObject();
    }

    /// <summary>Reads a JSON object of strings.</summary>
    public static RunIdentity Read(JsonElement e, string source)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new DreamBoothException($"{source}: 'identity' is not a JSON object");
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject())
            d[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw new DreamBoothException($"{source}: identity value '{p.Name}' is not a string");
        return new RunIdentity(d);
    }
}

/// <summary>
/// <c>dreambooth_run.json</c>, written into the output folder when a run starts: marks the folder as holding that run,
/// so that a later run with other data, model or trained parameters refuses to mix its files in, while the same run may
/// resume there.
/// </summary>
public static class RunManifest
{
    /// <summary>The file name.</summary>
    public const string FileName = "dreambooth_run.json";

    private const string Format = "dreambooth-dotnet-run";

    /// <summary>Writes the manifest atomically.</summary>
    public static void Write(string outputDir, RunIdentity identity, string modelPath)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("format", Format);
            w.WriteNumber("version", 1);
            w.WriteString("base_model", Path.GetFullPath(modelPath));
            w.WritePropertyName("identity");
            identity.WriteTo(w);
            w.WriteEndObject();
        }
        AtomicFile.WriteAllBytes(Path.Combine(outputDir, FileName), ms.ToArray());
    }

    /// <summary>The identity recorded in <paramref name="outputDir"/>, or null when the folder has no manifest.</summary>
    public static RunIdentity? Read(string outputDir)
    {
        var path = Path.Combine(outputDir, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out var f) || f.GetString() != Format)
                throw new DreamBoothException($"{path}: not a run manifest of this tool");
            return RunIdentity.Read(root.GetProperty("identity"), path);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new DreamBoothException($"{path}: unreadable run manifest ({e.Message.Split('\n')[0]})");
        }
    }
}
