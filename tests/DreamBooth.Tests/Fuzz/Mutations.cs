using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DreamBooth.Tests.Fuzz;

/// <summary>How a valid seed file is broken.</summary>
public enum MutationKind
{
    /// <summary>1–8 random bits flipped.</summary>
    BitFlips,

    /// <summary>Cut at a random length.</summary>
    Truncate,

    /// <summary>1–16 random or JSON-significant bytes inserted somewhere.</summary>
    Insert,

    /// <summary>A run of bytes overwritten with an extreme number or token ("-1", "1e308", "99999999999999999999", "NaN", "\"\\ud800\"").</summary>
    Overwrite,

    /// <summary>
    /// A JSON-aware change of the file's JSON part (the safetensors header, a config, the JSON tokenizer files): one
    /// value replaced by another type or an extreme, a key removed, renamed or repeated. Lengths are fixed up so that
    /// the file is still well framed (the safetensors header length; the zip around a pickle).
    /// </summary>
    Json,

    /// <summary>For pickle checkpoints: bytes of <c>data.pkl</c> mutated inside an otherwise valid zip.</summary>
    Pickle,
}

/// <summary>One mutation of one seed: the kind and a random seed for its details, so that a failure prints and replays.</summary>
public sealed record Mutation(int Seed, MutationKind Kind, int Random)
{
    private static readonly string[] Extremes =
    [
        "-1", "0", "1e308", "-1e308", "99999999999999999999", "9223372036854775807", "2147483648", "NaN", "Infinity", "null",
        "\"\\ud800\"", "\"\"", "[]", "{}", "true", "1.5", "\"\\u0000\\n\"",
    ];

    private static readonly JsonNode?[] Replacements =
    [
        null, true, false, -1, 0, 1.5, 1e300, 2147483648L, long.MaxValue, "", "x", "\n", "F64", "UNetMidBlock2DSimpleCrossAttn",
        new JsonArray(), new JsonObject(), new JsonArray(-1, 0), new JsonArray(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17),
    ];

    /// <summary>Applies the mutation to <paramref name="input"/> (the seed's bytes).</summary>
    public byte[] Apply(byte[] input)
    {
        var rng = new Random(Random);
        return Kind switch
        {
            MutationKind.BitFlips => BitFlips(input, rng),
            MutationKind.Truncate => input[..rng.Next(input.Length + 1)],
            MutationKind.Insert => Insert(input, rng),
            MutationKind.Overwrite => Overwrite(input, rng),
            MutationKind.Json => JsonMutation(input, rng) ?? BitFlips(input, rng),
            _ => PickleMutation(input, rng) ?? BitFlips(input, rng),
        };
    }

    private static byte[] BitFlips(byte[] input, Random rng)
    {
        var b = (byte[])input.Clone();
        if (b.Length == 0) return b;
        for (int i = rng.Next(1, 9); i > 0; i--) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
        return b;
    }

    private static byte[] Insert(byte[] input, Random rng)
    {
        int at = rng.Next(input.Length + 1);
        var extra = new byte[rng.Next(1, 17)];
        if (rng.Next(2) == 0) rng.NextBytes(extra);
        else
        {
            var significant = "{}[]\",:0123456789-e.\\ntfn"u8;
            for (int i = 0; i < extra.Length; i++) extra[i] = significant[rng.Next(significant.Length)];
        }
        return [.. input[..at], .. extra, .. input[at..]];
    }

    private static byte[] Overwrite(byte[] input, Random rng)
    {
        var token = Encoding.UTF8.GetBytes(Extremes[rng.Next(Extremes.Length)]);
        var b = (byte[])input.Clone();
        int at = rng.Next(Math.Max(1, b.Length - token.Length));
        for (int i = 0; i < token.Length && at + i < b.Length; i++) b[at + i] = token[i];
        return b;
    }

    // The JSON part: a safetensors header (fixed-up length), a selector byte + JSON (configs, tokenizer files), or plain JSON.
    private static byte[]? JsonMutation(byte[] input, Random rng)
    {
        if (input.Length >= 8 && BinaryPrimitives.ReadUInt64LittleEndian(input) is var n && n >= 2 && n <= (ulong)(input.Length - 8) && input[8] == '{')
        {
            var header = MutateJson(input.AsSpan(8, (int)n), rng);
            if (header is null) return null;
            var len = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            return [.. len, .. header, .. input[(8 + (int)n)..]];
        }
        if (input.Length > 1 && input[0] < 8)
        {
            var json = MutateJson(input.AsSpan(1), rng);
            return json is null ? null : [input[0], .. json];
        }
        return MutateJson(input, rng);
    }

    private static byte[]? MutateJson(ReadOnlySpan<byte> json, Random rng)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json.ToArray(), documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException)
        {
            return null;
        }
        if (root is null) return null;
        var nodes = new List<JsonNode>();
        void Walk(JsonNode node)
        {
            nodes.Add(node);
            if (node is JsonObject o) foreach (var (_, v) in o) { if (v is not null) Walk(v); }
            else if (node is JsonArray a) foreach (var v in a) { if (v is not null) Walk(v); }
        }
        Walk(root);
        var target = nodes[rng.Next(nodes.Count)];
        var replacement = Replacements[rng.Next(Replacements.Length)]?.DeepClone();
        string text;
        switch (target.Parent, rng.Next(4))
        {
            case (JsonObject parent, 0):
            {
                var key = parent.First(kv => ReferenceEquals(kv.Value, target)).Key;
                parent.Remove(key);
                text = root.ToJsonString();
                break;
            }
            case (JsonObject parent, 1):
            {
                // A repeated key: JsonNode cannot hold one, so it is spliced into the text.
                var key = parent.First(kv => ReferenceEquals(kv.Value, target)).Key;
                var raw = root.ToJsonString();
                var entry = JsonSerializer.Serialize(key) + ":" + target.ToJsonString();
                int at = raw.IndexOf(entry, StringComparison.Ordinal);
                text = at < 0 ? raw : raw.Insert(at, entry + ",");
                break;
            }
            case (JsonObject parent, 2):
            {
                var key = parent.First(kv => ReferenceEquals(kv.Value, target)).Key;
                parent.Remove(key);
                parent[key + (rng.Next(2) == 0 ? "_" : "\u00e9")] = replacement;
                text = root.ToJsonString();
                break;
            }
            case (JsonObject or JsonArray, _):
                target.ReplaceWith(replacement);
                text = root.ToJsonString();
                break;
            default:
                text = replacement?.ToJsonString() ?? "null";
                break;
        }
        return Encoding.UTF8.GetBytes(text);
    }

    private static byte[]? PickleMutation(byte[] input, Random rng)
    {
        try
        {
            using var source = new ZipArchive(new MemoryStream(input), ZipArchiveMode.Read);
            using var ms = new MemoryStream();
            using (var target = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
            {
                foreach (var e in source.Entries)
                {
                    using var from = e.Open();
                    var bytes = new MemoryStream();
                    from.CopyTo(bytes);
                    var data = bytes.ToArray();
                    if (e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal))
                        data = rng.Next(3) switch { 0 => BitFlips(data, rng), 1 => Overwrite(data, rng), _ => data[..rng.Next(data.Length + 1)] };
                    var entry = target.CreateEntry(e.FullName, CompressionLevel.NoCompression);
                    using var to = entry.Open();
                    to.Write(data);
                }
            }
            return ms.ToArray();
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    public override string ToString() => $"seed {Seed}, {Kind}, random {Random}";
}
