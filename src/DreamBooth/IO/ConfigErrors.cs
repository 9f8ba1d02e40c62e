using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace DreamBooth.IO;

/// <summary>
/// Turns System.Text.Json exceptions into the one-line config errors users see: the key (as written in the file), what
/// the record expects (from the record's property type, not from CLR names) and what the file holds, e.g.
/// <c>key 'block_out_channels' has the wrong type (list of integers expected, found "32")</c>.
/// </summary>
internal static partial class ConfigErrors
{
    private const int MaxShown = 40;

    public static string Explain(JsonException e, Type root, ReadOnlySpan<byte> json, JsonDocumentOptions documentOptions)
    {
        var msg = FirstLine(e.Message);
        if (msg.Contains("missing required properties", StringComparison.OrdinalIgnoreCase))
        {
            var names = MissingNames().Match(msg);
            return "missing required key(s) " + (names.Success ? names.Groups[1].Value.TrimEnd('.') : msg);
        }
        if (msg.Contains("maximum configured depth", StringComparison.OrdinalIgnoreCase))
            return $"nested deeper than {ConfigJson.MaxDepth} levels";

        // Syntax errors first: the serializer reports some of them at a key path as if they were type errors.
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), documentOptions);
        }
        catch (JsonException syntax)
        {
            return Syntax(syntax);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                return $"expected a JSON object at the top level, found {Show(doc.RootElement)}";
            var segments = ParsePath(e.Path);
            if (segments is null || segments.Count == 0) return $"invalid config ({msg})";

            // The key is the property path up to the first list index: "block_out_channels", "sub.key".
            var keyParts = new List<string>();
            Type? type = root;
            JsonElement element = doc.RootElement;
            int? index = null;
            JsonElement? entry = null;
            foreach (var seg in segments)
            {
                if (seg.Index is int i)
                {
                    index = i;
                    if (element.ValueKind == JsonValueKind.Array && i < element.GetArrayLength()) entry = element[i];
                    break;
                }
                keyParts.Add(seg.Name!);
                type = type is null ? null : PropertyType(type, seg.Name!);
                if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(seg.Name!, out element)) break;
            }
            var key = string.Join('.', keyParts);
            var expected = type is null ? null : Friendly(type);
            if (element.ValueKind == JsonValueKind.Null)
                return expected is null ? $"key '{key}' must not be null" : $"key '{key}' must not be null ({expected} expected)";
            if (expected is null) return $"key '{key}': {msg}";
            var found = index is int n && entry is { } en ? $"; entry {n} is {Show(en)}" : $", found {Show(element)}";
            return $"key '{key}' has the wrong type ({expected} expected{found})";
        }
    }

    public static string Syntax(JsonException e)
    {
        var msg = FirstLine(e.Message);
        int cut = msg.IndexOf(" Path: ", StringComparison.Ordinal);
        if (cut < 0) cut = msg.IndexOf(" LineNumber: ", StringComparison.Ordinal);
        if (cut >= 0) msg = msg[..cut];
        if (msg.Contains("maximum configured depth", StringComparison.OrdinalIgnoreCase)) return $"nested deeper than {ConfigJson.MaxDepth} levels";
        if (msg.StartsWith("Expected depth to be zero", StringComparison.Ordinal)) return "not valid JSON (it ends inside an object or list)";
        var where = e.LineNumber is long line ? $" at line {line + 1}, byte {e.BytePositionInLine + 1}" : "";
        return $"not valid JSON{where} ({msg.TrimEnd('.')})";
    }

    public static string FirstLine(string s) => s.Split('\n')[0].Trim();

    /// <summary>A short description of what a config value type accepts, in JSON terms.</summary>
    public static string Friendly(Type t)
    {
        if (Nullable.GetUnderlyingType(t) is { } inner) return Friendly(inner);
        if (t == typeof(int) || t == typeof(long) || t == typeof(short) || t == typeof(uint) || t == typeof(ulong)) return "integer";
        if (t == typeof(double) || t == typeof(float) || t == typeof(decimal)) return "number";
        if (t == typeof(bool)) return "true/false";
        if (t == typeof(string)) return "string";
        if (t.IsEnum)
            return "one of " + string.Join(", ", Enum.GetNames(t).Select(n => $"'{JsonNamingPolicy.SnakeCaseLower.ConvertName(n)}'"));
        // Per-block values (IntOrList, BoolOrList, ...): a record with Single and List, read by its own converter.
        if (t.Name.EndsWith("OrList", StringComparison.Ordinal) && t.GetProperty("Single")?.PropertyType is { } single)
        {
            var one = Friendly(single);
            return $"{one} or list of {Plural(one)}";
        }
        if (ElementType(t) is { } element) return $"list of {Plural(Friendly(element))}";
        return "object";
    }

    private static string Plural(string s) => s switch
    {
        "true/false" => "true/false",
        _ when s.StartsWith("one of", StringComparison.Ordinal) || s.StartsWith("list of", StringComparison.Ordinal) => $"({s})",
        _ => s + "s",
    };

    private static Type? ElementType(Type t)
    {
        if (t.IsArray) return t.GetElementType();
        if (t == typeof(string) || !t.IsGenericType) return null;
        var enumerable = t.GetInterfaces().Append(t)
            .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>));
        if (enumerable is null) return null;
        var arg = enumerable.GetGenericArguments()[0];
        return arg.IsGenericType && arg.GetGenericTypeDefinition() == typeof(KeyValuePair<,>) ? null : arg;
    }

    // The CLR type of the property read from JSON key `name` (snake_case of the property name, or [JsonPropertyName]).
    private static Type? PropertyType(Type t, string name)
    {
        foreach (var p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var json = p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name);
            if (json == name) return p.PropertyType;
        }
        var dictionary = t.GetInterfaces().Append(t)
            .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IReadOnlyDictionary<,>));
        return dictionary?.GetGenericArguments()[1];
    }

    private sealed record Segment(string? Name, int? Index);

    // System.Text.Json paths: $.a.b[2] or $['a.b'][2].
    private static List<Segment>? ParsePath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path[0] != '$') return null;
        var result = new List<Segment>();
        int i = 1;
        while (i < path.Length)
        {
            if (path[i] == '.')
            {
                int j = i + 1;
                while (j < path.Length && path[j] != '.' && path[j] != '[') j++;
                result.Add(new Segment(path[(i + 1)..j], null));
                i = j;
            }
            else if (path.AsSpan(i).StartsWith("['"))
            {
                int j = path.IndexOf("']", i + 2, StringComparison.Ordinal);
                if (j < 0) return null;
                result.Add(new Segment(path[(i + 2)..j], null));
                i = j + 2;
            }
            else if (path[i] == '[')
            {
                int j = path.IndexOf(']', i);
                if (j < 0 || !int.TryParse(path.AsSpan(i + 1, j - i - 1), out int index)) return null;
                result.Add(new Segment(null, index));
                i = j + 1;
            }
            else return null;
        }
        return result;
    }

    private static string Show(JsonElement e)
    {
        var raw = e.ValueKind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => e.GetArrayLength() == 0 ? "[]" : e.GetRawText(),
            _ => e.GetRawText(),
        };
        raw = Whitespace().Replace(raw, " ");
        return raw.Length <= MaxShown ? raw : raw[..(MaxShown - 3)] + "...";
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"properties including: (.*)\.?$")]
    private static partial Regex MissingNames();
}
