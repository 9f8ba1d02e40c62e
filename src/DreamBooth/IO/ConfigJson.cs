using System.Text.Json;
using System.Text.Json.Serialization;

namespace DreamBooth.IO;

/// <summary>
/// Reads diffusers/transformers <c>config.json</c> files into C# records. Field names are the snake_case JSON names
/// (a record property <c>BlockOutChannels</c> reads <c>block_out_channels</c>); unknown keys are ignored; a wrong type
/// or a missing required key is one <see cref="DreamBoothException"/> naming the file and the key.
/// Records mark required keys with C#'s <c>required</c> modifier or constructor parameters without defaults.
/// </summary>
public static class ConfigJson
{
    /// <summary>Largest config file accepted (real configs are a few KB).</summary>
    public const long MaxConfigBytes = 4 << 20;

    /// <summary>Deepest JSON nesting accepted (real configs nest 2–3 levels).</summary>
    public const int MaxDepth = 16;

    /// <summary>Serializer options shared by every config record.</summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var o = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            PropertyNameCaseInsensitive = false,
            ReadCommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
            MaxDepth = MaxDepth,
            WriteIndented = true,
            RespectNullableAnnotations = true,
            RespectRequiredConstructorParameters = true,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        };
        o.Converters.Add(new IntOrListConverter());
        return o;
    }

    /// <summary>Reads and validates a config file into <typeparamref name="T"/>.</summary>
    public static T Read<T>(string path)
    {
        var bytes = ReadBounded(path);
        return Parse<T>(bytes, path);
    }

    /// <summary>Parses config JSON; <paramref name="source"/> names the file in errors.</summary>
    public static T Parse<T>(ReadOnlySpan<byte> json, string source)
    {
        try
        {
            var value = JsonSerializer.Deserialize<T>(json, Options);
            if (value is null) throw new DreamBoothException($"{source}: config is null, expected a JSON object");
            return value;
        }
        catch (JsonException e)
        {
            throw new DreamBoothException($"{source}: {Describe(e)}");
        }
        catch (InvalidOperationException e)
        {
            throw new DreamBoothException($"{source}: invalid config ({FirstLine(e.Message)})");
        }
    }

    /// <summary>Writes a record as indented snake_case JSON, atomically.</summary>
    public static void Write<T>(string path, T value) =>
        AtomicFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(value, Options));

    /// <summary>Reads a JSON file with a size bound, as a <see cref="JsonDocument"/> (for files with free-form layout).</summary>
    public static JsonDocument ReadDocument(string path)
    {
        var bytes = ReadBounded(path);
        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = MaxDepth, CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new DreamBoothException($"{path}: {Describe(e)}");
        }
    }

    private static byte[] ReadBounded(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new DreamBoothException($"{path}: file not found");
            if (info.Length > MaxConfigBytes) throw new DreamBoothException($"{path}: {info.Length} bytes is too large for a config file (limit {MaxConfigBytes})");
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DreamBoothException($"{path}: cannot read ({e.Message})");
        }
    }

    private static string Describe(JsonException e)
    {
        var path = e.Path is { Length: > 1 } p ? p.TrimStart('$', '.') : null;
        var msg = FirstLine(e.Message);
        // System.Text.Json messages mention CLR types; keep the key and the gist.
        if (msg.Contains("missing required properties", StringComparison.OrdinalIgnoreCase) ||
            msg.Contains("missing required", StringComparison.OrdinalIgnoreCase))
        {
            var names = System.Text.RegularExpressions.Regex.Match(msg, @"properties including: (.*)\.?$");
            return "missing required key(s) " + (names.Success ? names.Groups[1].Value.TrimEnd('.') : msg);
        }
        if (msg.Contains("maximum configured depth", StringComparison.OrdinalIgnoreCase))
            return $"nested deeper than {MaxDepth} levels";
        if (msg.StartsWith("The JSON value could not be converted to ", StringComparison.Ordinal))
        {
            var clr = msg["The JSON value could not be converted to ".Length..];
            int cut = clr.IndexOf(". Path", StringComparison.Ordinal);
            if (cut >= 0) clr = clr[..cut];
            return path is not null ? $"key '{path}' has the wrong type ({FriendlyType(clr)} expected)" : $"expected a JSON object at the top level";
        }
        if (path is not null && msg.Contains("null", StringComparison.OrdinalIgnoreCase) && msg.Contains("non-nullable", StringComparison.OrdinalIgnoreCase))
            return $"key '{path}' must not be null";
        return path is not null ? $"key '{path}': {msg}" : $"not valid JSON ({msg})";
    }

    private static string FriendlyType(string clr)
    {
        bool array = clr.EndsWith("[]", StringComparison.Ordinal) || clr.Contains("List`1", StringComparison.Ordinal);
        string element = clr.TrimEnd('[', ']');
        int generic = element.IndexOf('[');
        if (generic >= 0) element = element[(generic + 1)..].Split(',')[0].Trim('[', ']');
        string name = element switch
        {
            "System.Int32" or "System.Int64" or "System.Int16" => "integer",
            "System.Double" or "System.Single" or "System.Decimal" => "number",
            "System.String" => "string",
            "System.Boolean" => "true/false",
            _ when element.Contains("IntOrList", StringComparison.Ordinal) => "integer or list of integers",
            _ when element.Contains("BoolOrList", StringComparison.Ordinal) => "true/false or list of true/false",
            _ => "object",
        };
        return array ? $"list of {name}s" : name;
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();
}

/// <summary>A config value that diffusers allows as one int or a per-block list (e.g. <c>attention_head_dim</c>).</summary>
[JsonConverter(typeof(IntOrListConverter))]
public sealed record IntOrList(int? Single, IReadOnlyList<int>? List)
{
    public static implicit operator IntOrList(int v) => new(v, null);

    /// <summary>The value for block <paramref name="index"/> of <paramref name="count"/>: the single value, or the list entry.</summary>
    public int For(int index, int count, string key)
    {
        if (Single is int s) return s;
        if (List!.Count != count) throw new DreamBoothException($"config key '{key}' has {List.Count} entries but the model has {count} blocks");
        return List[index];
    }

    /// <summary>Expands to one value per block.</summary>
    public int[] Expand(int count, string key) => Enumerable.Range(0, count).Select(i => For(i, count, key)).ToArray();

    public override string ToString() => Single?.ToString() ?? "[" + string.Join(", ", List!) + "]";
}

/// <summary>Reads/writes <see cref="IntOrList"/> as a JSON number or an array of numbers.</summary>
public sealed class IntOrListConverter : JsonConverter<IntOrList>
{
    public override IntOrList Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number) return new IntOrList(reader.GetInt32(), null);
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("The JSON value could not be converted to DreamBooth.IO.IntOrList.");
        var list = new List<int>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number) throw new JsonException("The JSON value could not be converted to DreamBooth.IO.IntOrList.");
            list.Add(reader.GetInt32());
        }
        return new IntOrList(null, list);
    }

    public override void Write(Utf8JsonWriter writer, IntOrList value, JsonSerializerOptions options)
    {
        if (value.Single is int s) { writer.WriteNumberValue(s); return; }
        writer.WriteStartArray();
        foreach (var v in value.List!) writer.WriteNumberValue(v);
        writer.WriteEndArray();
    }
}
