using System.Text.Json;

namespace DreamBooth.IO;

/// <summary>
/// The index of a sharded checkpoint (<c>diffusion_pytorch_model.safetensors.index.json</c>, <c>model.safetensors.index.json</c>):
/// <c>{"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}</c>, as written by diffusers and transformers.
/// </summary>
/// <param name="WeightMap">Tensor name → shard file name (a plain name in the index's folder).</param>
/// <param name="ShardFiles">The distinct shard file names, sorted.</param>
internal sealed record SafetensorsIndex(IReadOnlyDictionary<string, string> WeightMap, IReadOnlyList<string> ShardFiles)
{
    /// <summary>Reads and validates an index file; the shards themselves are checked when opened.</summary>
    public static SafetensorsIndex Read(string path)
    {
        DreamBoothException Bad(string what) => new($"{path}: invalid sharded-checkpoint index: {what}");
        using var doc = ConfigJson.ReadDocument(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Bad("not a JSON object");
        if (!root.TryGetProperty("weight_map", out var map)) throw Bad("missing key 'weight_map'");
        if (map.ValueKind != JsonValueKind.Object) throw Bad("'weight_map' is not an object of tensor name → shard file");

        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in map.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String) throw Bad($"weight_map entry '{p.Name}' is not a file name string");
            var file = p.Value.GetString()!;
            // A shard is a plain file beside the index: no folders, so a hostile index cannot point outside the model.
            if (file.Length == 0 || file is "." or ".." || file.IndexOfAny(['/', '\\', ':', '\0']) >= 0)
                throw Bad($"weight_map entry '{p.Name}' names '{file}', which is not a plain file name in the index's folder");
            if (!file.EndsWith(".safetensors", StringComparison.Ordinal))
                throw Bad($"weight_map entry '{p.Name}' names '{file}', which is not a .safetensors file");
            if (!weightMap.TryAdd(p.Name, file)) throw Bad($"tensor '{p.Name}' is listed twice in weight_map");
        }
        if (weightMap.Count == 0) throw Bad("'weight_map' is empty");
        var shards = weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        return new SafetensorsIndex(weightMap, shards);
    }
}
