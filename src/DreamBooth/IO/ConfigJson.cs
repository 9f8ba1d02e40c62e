using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Unicode;

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
        // Enums read the snake_case strings diffusers writes ("v_prediction" → VPrediction), never bare numbers.
        o.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        return o;
    }

    /// <summary>Reads and validates a config file into <typeparamref name="T"/>.</summary>
    /// <exception cref="DreamBoothException">The file is missing, too large, not JSON, or does not fit <typeparamref name="T"/>;
    /// one line naming the file and the key, e.g. <c>unet/config.json: key 'block_out_channels' has the wrong type
    /// (list of integers expected, found "32")</c>.</exception>
    public static T Read<T>(string path)
    {
        var bytes = ReadBounded(path);
        return Parse<T>(bytes, path);
    }

    /// <summary>Parses config JSON; <paramref name="source"/> names the file in errors.</summary>
    public static T Parse<T>(ReadOnlySpan<byte> json, string source)
    {
        json = SkipBom(json);
        if (!Utf8.IsValid(json)) throw new DreamBoothException($"{source}: not valid UTF-8 text");
        try
        {
            var value = JsonSerializer.Deserialize<T>(json, Options);
            if (value is null) throw new DreamBoothException($"{source}: config is null, expected a JSON object");
            return value;
        }
        catch (JsonException e)
        {
            throw new DreamBoothException($"{source}: {ConfigErrors.Explain(e, typeof(T), json, DocumentOptions)}");
        }
        catch (InvalidOperationException e)
        {
            throw new DreamBoothException($"{source}: invalid config ({ConfigErrors.FirstLine(e.Message)})");
        }
    }

    /// <summary>Writes a record as indented snake_case JSON, atomically.</summary>
    public static void Write<T>(string path, T value) =>
        AtomicFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(value, Options));

    /// <summary>Reads a JSON file with a size bound, as a <see cref="JsonDocument"/> (for files with free-form layout).</summary>
    public static JsonDocument ReadDocument(string path)
    {
        var bytes = ReadBounded(path);
        var json = SkipBom(bytes);
        if (!Utf8.IsValid(json)) throw new DreamBoothException($"{path}: not valid UTF-8 text");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), DocumentOptions);
        }
        catch (JsonException e)
        {
            throw new DreamBoothException($"{path}: {ConfigErrors.Syntax(e)}");
        }
        if (HasUnreadableString(doc.RootElement))
        {
            doc.Dispose();
            throw new DreamBoothException($"{path}: {UnreadableStringMessage}");
        }
        return doc;
    }

    internal const string UnreadableStringMessage = "not valid JSON text (a string holds a \\u escape of a lone UTF-16 surrogate)";

    /// <summary>
    /// True when a key or string value of <paramref name="root"/> cannot be read as text: JSON allows an escaped lone
    /// surrogate ("\ud800") that System.Text.Json only rejects, with an InvalidOperationException, when the string is
    /// read. Checked once after parsing so that code reading the document never meets it (found by fuzzing).
    /// </summary>
    internal static bool HasUnreadableString(JsonElement root)
    {
        var pending = new Stack<JsonElement>();
        pending.Push(root);
        try
        {
            while (pending.Count > 0)
            {
                var e = pending.Pop();
                switch (e.ValueKind)
                {
                    case JsonValueKind.Object:
                        foreach (var p in e.EnumerateObject())
                        {
                            _ = p.Name;
                            pending.Push(p.Value);
                        }
                        break;
                    case JsonValueKind.Array:
                        foreach (var v in e.EnumerateArray()) pending.Push(v);
                        break;
                    case JsonValueKind.String:
                        _ = e.GetString();
                        break;
                }
            }
        }
        catch (InvalidOperationException)
        {
            return true;
        }
        return false;
    }

    private static readonly JsonDocumentOptions DocumentOptions = new()
    {
        MaxDepth = MaxDepth,
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    private static ReadOnlySpan<byte> SkipBom(ReadOnlySpan<byte> json) => json.StartsWith("\uFEFF"u8) ? json[3..] : json;

    private static byte[] ReadBounded(string path)
    {
        try
        {
            if (Directory.Exists(path)) throw new DreamBoothException($"{path}: is a folder, expected a JSON file");
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
