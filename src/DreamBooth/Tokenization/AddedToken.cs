using System.Text.Json;
using System.Text.Json.Serialization;

namespace DreamBooth.Tokenization;

/// <summary>
/// A token that the tokenizer splits out of the text before any clean-up or BPE, like transformers' <c>AddedToken</c>
/// (bos/eos/unk/pad, <c>additional_special_tokens</c>, entries of <c>added_tokens_decoder</c>). Tokenizer files write it
/// either as a plain string or as an object <c>{"content": "...", "lstrip": false, ...}</c>; both are accepted.
/// </summary>
/// <param name="Content">The literal text of the token (matched case-sensitively).</param>
[JsonConverter(typeof(AddedTokenConverter))]
public sealed record AddedToken(string Content)
{
    /// <summary>Strip whitespace on the token's left (from the preceding text).</summary>
    public bool Lstrip { get; init; }

    /// <summary>Strip whitespace on the token's right (from the following text).</summary>
    public bool Rstrip { get; init; }

    /// <summary>Only split the token out when it stands as a whole word (transformers' slow-tokenizer rule).</summary>
    public bool SingleWord { get; init; }

    /// <summary>Recorded for completeness; the slow CLIP tokenizer does not use it.</summary>
    public bool Normalized { get; init; }

    /// <summary>
    /// Special tokens are dropped by <see cref="ClipTokenizer.Decode"/> with <c>skipSpecialTokens</c>. False by default,
    /// as in transformers; tokens named as bos/eos/unk/pad or additional special tokens are always special.
    /// </summary>
    public bool Special { get; init; }

    public override string ToString() => Content;
}

/// <summary>Reads an <see cref="AddedToken"/> from a JSON string or an object with <c>content</c> (HF's both layouts).</summary>
public sealed class AddedTokenConverter : JsonConverter<AddedToken>
{
    public override AddedToken Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String) return new AddedToken(reader.GetString()!);
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new JsonException("The JSON value could not be converted to System.String.");
        string? content = null;
        bool lstrip = false, rstrip = false, singleWord = false, normalized = false, special = false;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString();
            reader.Read();
            switch (name)
            {
                case "content":
                    if (reader.TokenType != JsonTokenType.String) throw new JsonException("token 'content' must be a string");
                    content = reader.GetString();
                    break;
                case "lstrip": lstrip = ReadBool(ref reader, name); break;
                case "rstrip": rstrip = ReadBool(ref reader, name); break;
                case "single_word": singleWord = ReadBool(ref reader, name); break;
                case "normalized": normalized = ReadBool(ref reader, name); break;
                case "special": special = ReadBool(ref reader, name); break;
                default: reader.Skip(); break; // "__type": "AddedToken" and future keys
            }
        }
        if (content is null) throw new JsonException("token object lacks 'content'");
        return new AddedToken(content) { Lstrip = lstrip, Rstrip = rstrip, SingleWord = singleWord, Normalized = normalized, Special = special };
    }

    private static bool ReadBool(ref Utf8JsonReader reader, string? name) => reader.TokenType switch
    {
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        _ => throw new JsonException($"token '{name}' must be true or false"),
    };

    public override void Write(Utf8JsonWriter writer, AddedToken value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteString("content", value.Content);
        writer.WriteBoolean("lstrip", value.Lstrip);
        writer.WriteBoolean("normalized", value.Normalized);
        writer.WriteBoolean("rstrip", value.Rstrip);
        writer.WriteBoolean("single_word", value.SingleWord);
        writer.WriteBoolean("special", value.Special);
        writer.WriteEndObject();
    }
}
