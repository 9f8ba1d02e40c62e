using System.Text.Json;
using System.Text.Json.Serialization;
using DreamBooth.IO;

namespace DreamBooth.Tokenization;

/// <summary>
/// A tokenizer folder's <c>tokenizer_config.json</c>, with <c>special_tokens_map.json</c> applied on top (as transformers'
/// <c>from_pretrained</c> does: the map's entries win). Every key is optional; <see cref="ClipTokenizer"/> fills in
/// CLIPTokenizer's defaults. Special tokens may be written as strings or as <c>{"content": ...}</c> objects.
/// </summary>
public sealed record TokenizerConfig
{
    /// <summary>Name of the main config file in a tokenizer folder.</summary>
    public const string FileName = "tokenizer_config.json";

    /// <summary>Name of the special-token override file in a tokenizer folder.</summary>
    public const string SpecialTokensMapFileName = "special_tokens_map.json";

    /// <summary>
    /// Sequence length that <see cref="ClipTokenizer.Encode"/> truncates and pads to (77 for CLIP). Null when absent or
    /// when the file holds transformers' "unset" sentinel <c>int(1e30)</c>.
    /// </summary>
    [JsonConverter(typeof(ModelMaxLengthConverter))]
    public long? ModelMaxLength { get; init; }

    /// <summary>Beginning-of-sequence token (CLIP: <c>&lt;|startoftext|&gt;</c>).</summary>
    public AddedToken? BosToken { get; init; }

    /// <summary>End-of-sequence token (CLIP: <c>&lt;|endoftext|&gt;</c>).</summary>
    public AddedToken? EosToken { get; init; }

    /// <summary>Token for pieces missing from the vocabulary (CLIP: <c>&lt;|endoftext|&gt;</c>).</summary>
    public AddedToken? UnkToken { get; init; }

    /// <summary>Padding token: <c>&lt;|endoftext|&gt;</c> in SD1.x, <c>"!"</c> (id 0) in SD2.x.</summary>
    public AddedToken? PadToken { get; init; }

    /// <summary>Further special tokens (e.g. textual-inversion placeholders).</summary>
    public IReadOnlyList<AddedToken>? AdditionalSpecialTokens { get; init; }

    /// <summary>Explicit id → token table of added tokens (newer transformers files).</summary>
    public IReadOnlyDictionary<string, AddedToken>? AddedTokensDecoder { get; init; }

    /// <summary>
    /// Recorded only: transformers' CLIPTokenizer lower-cases whatever this says (its BasicTokenizer is built with the
    /// default <c>do_lower_case=True</c>), and so does this port.
    /// </summary>
    public bool DoLowerCase { get; init; } = true;

    /// <summary>Whether <see cref="ClipTokenizer.Decode"/> removes spaces before punctuation (" ." → ".").</summary>
    public bool CleanUpTokenizationSpaces { get; init; } = true;

    /// <summary>The transformers class named by the file (informational, e.g. "CLIPTokenizer").</summary>
    public string? TokenizerClass { get; init; }

    /// <summary>
    /// Reads <c>tokenizer_config.json</c> and <c>special_tokens_map.json</c> from <paramref name="tokenizerDir"/>; a missing
    /// file counts as empty. Malformed files give a one-line <see cref="DreamBoothException"/> naming the file and key.
    /// </summary>
    public static TokenizerConfig Load(string tokenizerDir)
    {
        var configPath = Path.Combine(tokenizerDir, FileName);
        var config = File.Exists(configPath) ? ConfigJson.Read<TokenizerConfig>(configPath) : new TokenizerConfig();
        var mapPath = Path.Combine(tokenizerDir, SpecialTokensMapFileName);
        if (!File.Exists(mapPath)) return config;
        var map = ConfigJson.Read<SpecialTokensMap>(mapPath);
        return config with
        {
            BosToken = map.BosToken ?? config.BosToken,
            EosToken = map.EosToken ?? config.EosToken,
            UnkToken = map.UnkToken ?? config.UnkToken,
            PadToken = map.PadToken ?? config.PadToken,
            AdditionalSpecialTokens = map.AdditionalSpecialTokens ?? config.AdditionalSpecialTokens,
        };
    }

    /// <summary>The keys of <c>special_tokens_map.json</c>.</summary>
    private sealed record SpecialTokensMap
    {
        public AddedToken? BosToken { get; init; }
        public AddedToken? EosToken { get; init; }
        public AddedToken? UnkToken { get; init; }
        public AddedToken? PadToken { get; init; }
        public IReadOnlyList<AddedToken>? AdditionalSpecialTokens { get; init; }
    }

    /// <summary>
    /// Reads <c>model_max_length</c>: an integer, or transformers' VERY_LARGE_INTEGER <c>int(1e30)</c> (too big for a long),
    /// which means "not set" and reads as null.
    /// </summary>
    private sealed class ModelMaxLengthConverter : JsonConverter<long?>
    {
        public override bool HandleNull => true;

        public override long? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Null) return null;
            if (reader.TokenType != JsonTokenType.Number) throw new JsonException("The JSON value could not be converted to System.Int64.");
            if (reader.TryGetInt64(out long value)) return value;
            if (reader.TryGetDouble(out double d) && d >= 1e18) return null;
            throw new JsonException("The JSON value could not be converted to System.Int64.");
        }

        public override void Write(Utf8JsonWriter writer, long? value, JsonSerializerOptions options)
        {
            if (value is long v) writer.WriteNumberValue(v); else writer.WriteNullValue();
        }
    }
}
