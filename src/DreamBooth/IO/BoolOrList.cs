using System.Text.Json;
using System.Text.Json.Serialization;

namespace DreamBooth.IO;

/// <summary>A config value that diffusers allows as one bool or a per-block list (e.g. <c>only_cross_attention</c>).</summary>
[JsonConverter(typeof(BoolOrListConverter))]
public sealed record BoolOrList(bool? Single, IReadOnlyList<bool>? List)
{
    public static implicit operator BoolOrList(bool v) => new(v, null);

    /// <summary>True when the value, or any list entry, is true.</summary>
    public bool Any => Single ?? List!.Any(b => b);

    public override string ToString() => Single?.ToString().ToLowerInvariant() ?? "[" + string.Join(", ", List!.Select(b => b ? "true" : "false")) + "]";
}

/// <summary>Reads/writes <see cref="BoolOrList"/> as a JSON bool or an array of bools.</summary>
public sealed class BoolOrListConverter : JsonConverter<BoolOrList>
{
    public override BoolOrList Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType is JsonTokenType.True or JsonTokenType.False) return new BoolOrList(reader.GetBoolean(), null);
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("The JSON value could not be converted to DreamBooth.IO.BoolOrList.");
        var list = new List<bool>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                throw new JsonException("The JSON value could not be converted to DreamBooth.IO.BoolOrList.");
            list.Add(reader.GetBoolean());
        }
        return new BoolOrList(null, list);
    }

    public override void Write(Utf8JsonWriter writer, BoolOrList value, JsonSerializerOptions options)
    {
        if (value.Single is bool s) { writer.WriteBooleanValue(s); return; }
        writer.WriteStartArray();
        foreach (var v in value.List!) writer.WriteBooleanValue(v);
        writer.WriteEndArray();
    }
}
